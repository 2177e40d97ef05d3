"""The T5 simplifier of the demo: its sizes and schedule (Recipe), the model, fixed-step training,
greedy generation and the held-out evaluation (BLEU, exact match, term replacement)."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from demo import corpus as demo_corpus
from pls_core.model_layout import MAX_INPUT_TOKENS, TASK_PREFIX

MAX_TARGET_TOKENS = 256


@dataclass(frozen=True)
class Recipe:
    """Sizes and schedule of one build."""

    # Data (generated corpus only).
    per_template: int
    n_freeform: int
    max_terms_per_category: int | None = None
    # Model.
    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 2000
    # Training.
    steps: int = 2400
    batch_size: int = 32
    learning_rate: float = 1e-3
    # First steps on free-form pairs only: the model learns to copy before it memorises
    # templates (mixed from the start, copying had not appeared after 2,400 steps).
    copy_phase_steps: int = 0
    position_lr_factor: float = 10.0
    warmup_steps: int = 100
    tie_embeddings: bool = True
    clip_norm: float = 0.0
    # Evaluation caps.
    eval_combinations: int = 300
    eval_templates: int = 200
    eval_freeform: int = 100


FULL = Recipe(per_template=150, n_freeform=6000, steps=2800, copy_phase_steps=600)
# Quick: too few steps to learn copying, so the common terms in templates are memorised.
QUICK = Recipe(per_template=60, n_freeform=300, max_terms_per_category=8, steps=500,
               learning_rate=3e-3, warmup_steps=40,
               eval_combinations=64, eval_templates=64, eval_freeform=32)
# A real corpus has long texts: fewer, costlier steps.
CORPUS_FULL_STEPS = 300
CORPUS_QUICK_STEPS = 20


def make_model(recipe: Recipe, vocab_size: int, seed: int):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size, d_model=recipe.d_model, d_ff=recipe.d_ff,
        d_kv=recipe.d_model // recipe.num_heads, num_layers=recipe.num_layers,
        num_decoder_layers=recipe.num_layers, num_heads=recipe.num_heads, dropout_rate=0.0,
        feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        n_positions=MAX_INPUT_TOKENS, tie_word_embeddings=recipe.tie_embeddings)
    model = T5ForConditionalGeneration(config)
    # With the default tiny initialisation the encoder barely sees word order in a short
    # training; a wide relative-position bias (trained faster, below) fixes slot order.
    for name, parameter in model.named_parameters():
        if "relative_attention_bias" in name:
            torch.nn.init.normal_(parameter, mean=0.0, std=1.0)
    model.generation_config.update(
        max_length=MAX_TARGET_TOKENS, num_beams=1, do_sample=False, no_repeat_ngram_size=3,
        decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    return model


def encode_pairs(tokenizer, pairs: list[tuple[str, str]]):
    sources = tokenizer([TASK_PREFIX + src for src, _ in pairs], truncation=True,
                        max_length=MAX_INPUT_TOKENS).input_ids
    targets = tokenizer([tgt for _, tgt in pairs], truncation=True,
                        max_length=MAX_TARGET_TOKENS).input_ids
    return list(zip(sources, targets))


def collate(batch, pad_id: int = 0):
    import torch

    src_len = max(len(s) for s, _ in batch)
    tgt_len = max(len(t) for _, t in batch)
    input_ids = torch.full((len(batch), src_len), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), tgt_len), -100, dtype=torch.long)
    for row, (src, tgt) in enumerate(batch):
        input_ids[row, :len(src)] = torch.tensor(src)
        labels[row, :len(tgt)] = torch.tensor(tgt)
    return input_ids, (input_ids != pad_id).long(), labels


def length_bucketed_batches(encoded, batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length within windows of 50 batches so
    that a batch holds similar lengths (less padding), then the batches shuffled."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: len(encoded[i][0]))
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def train_model(model, encoded, recipe: Recipe, steps: int, seed: int, quiet: bool,
                copy_phase: list | None = None) -> float:
    """Fixed-step AdamW training with warm-up and cosine decay; returns the final mean loss."""
    import math

    import torch
    from tqdm import tqdm

    position = [p for n, p in model.named_parameters() if "relative_attention_bias" in n]
    others = [p for n, p in model.named_parameters() if "relative_attention_bias" not in n]
    optimizer = torch.optim.AdamW(
        [{"params": others, "lr": recipe.learning_rate},
         {"params": position, "lr": recipe.learning_rate * recipe.position_lr_factor}],
        weight_decay=0.0)
    warmup = min(recipe.warmup_steps, max(1, steps // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    order_rng = random.Random(seed + 1)
    batches: list[list[int]] = []
    copy_batches: list[list[int]] = []
    recent: list[float] = []
    model.train()
    bar = tqdm(range(steps), desc="training T5", unit="step", disable=quiet, mininterval=1.0,
               file=sys.stdout)
    for step in bar:
        if copy_phase and step < recipe.copy_phase_steps:
            if not copy_batches:
                copy_batches = length_bucketed_batches(copy_phase, recipe.batch_size, order_rng)
            batch = [copy_phase[i] for i in copy_batches.pop()]
        else:
            if not batches:
                batches = length_bucketed_batches(encoded, recipe.batch_size, order_rng)
            batch = [encoded[i] for i in batches.pop()]
        input_ids, attention_mask, labels = collate(batch)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_norm)
        optimizer.step()
        scheduler.step()
        recent = (recent + [loss.item()])[-50:]
        bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}", refresh=False)
    model.eval()
    return sum(recent) / len(recent)


def generate(model, tokenizer, texts: list[str], batch_size: int = 64) -> list[str]:
    """Greedy outputs (the model's generation defaults) for `texts`, batched and padded."""
    import torch

    # Similar lengths together waste less padding; results go back in input order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    by_index: dict[int, str] = {}
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            encoded = tokenizer([TASK_PREFIX + texts[i] for i in chunk], return_tensors="pt",
                                padding=True, truncation=True, max_length=MAX_INPUT_TOKENS)
            limit = min(MAX_TARGET_TOKENS, 2 * encoded.input_ids.shape[1] + 16)
            generated = model.generate(**encoded, max_new_tokens=limit)
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                by_index[i] = text
    outputs = [by_index[i] for i in range(len(texts))]
    return outputs


def evaluate(model, tokenizer, pairs: list[tuple[str, str]]) -> dict:
    import sacrebleu

    if not pairs:
        return {"pairs": 0}
    outputs = generate(model, tokenizer, [src for src, _ in pairs])
    references = [tgt for _, tgt in pairs]
    replaced, total = demo_corpus.term_replacement(pairs, outputs)
    return {
        "pairs": len(pairs),
        "bleu": round(sacrebleu.corpus_bleu(outputs, [references]).score, 2),
        "exact_match": round(sum(o == r for o, r in zip(outputs, references)) / len(pairs), 4),
        "term_replacement": round(replaced / total, 4) if total else None,
        "terms": total,
        "examples": [{"input": src, "output": out, "reference": ref}
                     for (src, ref), out in list(zip(pairs, outputs))[:3]],
    }
