"""Build small demo models in the layout the service expects, from scratch, on CPU.

    python scripts/models/make_demo_models.py [--out DIR] [--quick] [--seed N] [--corpus DIR] [--force]

Writes DIR/t5_base (a T5ForConditionalGeneration with its own sentencepiece-unigram tokenizer,
trained on a generated technical -> plain corpus, or on a real parallel corpus with --corpus)
and DIR/baseline_classifier (TF-IDF + logistic regression, technical = non_pls, plain = pls).

The build is deterministic for a given seed: a fixed number of training steps, seeded
initialisation and a seeded data order. A stamp in DIR records the sources and arguments of
the last build; when it matches and every file is in place nothing is redone (--force
rebuilds). Outputs are written to a temporary folder next to DIR and renamed into place at the
end, so an interrupted build never leaves a half-written model folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from demo import corpus as demo_corpus  # noqa: E402
from pls_core import confidence, lexicon, model_layout  # noqa: E402  (stdlib-only modules)
from pls_core.chunking import split_sentences  # noqa: E402
from pls_core.model_layout import (  # noqa: E402
    CLASSIFIER_DIRNAME,
    CLASSIFIER_FILE,
    LABEL_PLAIN,
    LABEL_TECHNICAL,
    MAX_INPUT_TOKENS,
    METRICS_FILE,
    SENTENCEPIECE_FILE,
    SIMPLIFIER_DIRNAME,
    TASK_PREFIX,
    VECTORIZER_FILE,
    missing_classifier_files,
    missing_simplifier_files,
)

STAMP_NAME = ".demo_models_stamp.json"
STAMP_VERSION = 2
MAX_TARGET_TOKENS = 256

# Real abstracts and their plain-language summaries shipped with the project (CC BY 4.0, see
# data/cochrane/README.md). The classifier learns the real registers from them; a fixed part is
# never trained on and measures accuracy on real text.
REAL_CORPUS_DIR = ROOT / "data" / "cochrane"
HELDOUT_REAL_PAIRS = 100
REAL_SPLIT_SEED = 0  # independent of --seed: tests and builds agree on which pairs are held out
# The classifier's settings, chosen by 4-fold cross-validation over the real TRAINING pairs
# only (each fold judged by a model trained on the generated pairs and the other folds; the
# held-out pairs were not used to choose): `python demo/classifier_variants.py --round 1|2|3`
# prints every variant tried. Character n-grams (1-4, within words) beat word n-grams on real
# text (CV 0.93 vs 0.92 with the same data), and the generated corpus hurts real text in
# proportion to its share: all 13,000 generated pairs with real weight 10 gave CV 0.92, 1,000
# of them with weight 10 gave 0.94 (real pairs alone: 0.94, but 50% on the generated register).
# 1,000 generated pairs still keep the generated register at about 98%.
REAL_SAMPLE_WEIGHT = 10.0
CLASSIFIER_C = 30.0
GENERATED_CLASSIFIER_PAIRS = 1000  # how many generated pairs train the classifier (None: all)
CLASSIFIER_NGRAMS = (1, 4)  # characters, within word boundaries


class UsageError(Exception):
    """Bad arguments or inputs: reported as one message and a non-zero exit, no traceback."""


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


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the demo T5 simplifier and PLS classifier into DIR/t5_base and "
        "DIR/baseline_classifier.")
    parser.add_argument("--out", default="models", metavar="DIR",
                        help="folder that receives t5_base/ and baseline_classifier/ (default: models)")
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast build for tests (about a minute)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--corpus", metavar="DIR",
                        help="train on a real parallel corpus: *.source / *.target line files in DIR")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="override the number of training steps")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    return parser.parse_args(argv)


def read_corpus_dir(folder: Path) -> list[tuple[str, str]]:
    """Aligned (source, target) pairs from every X.source / X.target pair in `folder`."""
    if not folder.is_dir():
        raise UsageError(f"--corpus {folder}: no such folder")
    sources = sorted(folder.glob("*.source"))
    if not sources:
        raise UsageError(f"--corpus {folder}: no *.source files found")
    pairs: list[tuple[str, str]] = []
    for source in sources:
        target = source.with_suffix(".target")
        if not target.is_file():
            raise UsageError(f"--corpus: {source.name} has no matching {target.name}")
        try:
            src_lines = source.read_text(encoding="utf-8").splitlines()
            tgt_lines = target.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--corpus: cannot read {source.name}/{target.name}: {error}") from None
        if len(src_lines) != len(tgt_lines):
            raise UsageError(f"--corpus: {source.name} has {len(src_lines)} lines but "
                             f"{target.name} has {len(tgt_lines)}; they must be aligned")
        for number, (src, tgt) in enumerate(zip(src_lines, tgt_lines), 1):
            if not src.strip() or not tgt.strip():
                raise UsageError(f"--corpus: line {number} of {source.name}/{target.name} is empty")
            pairs.append((src.strip(), tgt.strip()))
    if len(pairs) < 4:
        raise UsageError(f"--corpus {folder}: only {len(pairs)} pairs; at least 4 are needed")
    return pairs


def validate(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    if args.seed < 0:
        raise UsageError("--seed must be 0 or more")
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    return read_corpus_dir(Path(args.corpus)) if args.corpus else None


# ----------------------------------------------------------------------------- stamp


def build_stamp(args: argparse.Namespace, corpus_pairs: list[tuple[str, str]] | None) -> dict:
    digest = hashlib.sha256()
    for module in (demo_corpus, lexicon, model_layout, confidence):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    # The confidence calibration scores with the serving backend's own code.
    digest.update((ROOT / "runners" / "transformers_backend.py").read_bytes())
    for name in ("val.source", "val.target"):
        path = REAL_CORPUS_DIR / name
        digest.update(path.read_bytes() if path.is_file() else b"absent")
    if corpus_pairs is not None:
        for src, tgt in corpus_pairs:
            digest.update(src.encode() + b"\0" + tgt.encode() + b"\n")
    versions = {}
    for package in ("torch", "transformers", "tokenizers", "sentencepiece", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "version": STAMP_VERSION,
        "sources_sha256": digest.hexdigest(),
        "arguments": {"quick": args.quick, "seed": args.seed, "steps": args.steps,
                      "corpus": str(Path(args.corpus).resolve()) if args.corpus else None},
        "packages": versions,
    }


def up_to_date(out: Path, stamp: dict) -> bool:
    try:
        previous = json.loads((out / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    simplifier, classifier = out / SIMPLIFIER_DIRNAME, out / CLASSIFIER_DIRNAME
    return (previous == stamp
            and not missing_simplifier_files(simplifier)
            and (simplifier / METRICS_FILE).is_file()
            and not missing_classifier_files(classifier))


# ----------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: list[str], vocab_size: int, folder: Path, seed: int):
    """Train a sentencepiece unigram model and save it as a T5 tokenizer in `folder`.

    Ids: pad 0, eos 1, unk 2, no sentinel tokens. The fast tokenizer (tokenizer.json) is built
    directly from the pieces and scores, so loading it needs neither sentencepiece nor protobuf.
    """
    import io

    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    lines = demo_corpus.tokenizer_training_text(texts)
    random.Random(seed).shuffle(lines)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model_bytes, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        character_coverage=1.0, normalization_rule_name="identity", hard_vocab_limit=False,
        max_sentence_length=1 << 16, num_threads=1, shuffle_input_sentence=False,
        minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SENTENCEPIECE_FILE).write_bytes(model_bytes.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model_bytes.getvalue())
    vocab = [(processor.id_to_piece(i), processor.get_score(i) if i > 2 else 0.0)
             for i in range(processor.get_piece_size())]

    backend = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    backend.normalizer = normalizers.Sequence([normalizers.Strip(),
                                               normalizers.Replace(Regex(r"\s+"), " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        extra_ids=0, additional_special_tokens=[], model_max_length=MAX_INPUT_TOKENS,
        clean_up_tokenization_spaces=False)
    tokenizer.save_pretrained(folder)
    # save_pretrained of a tokenizer built from an object does not know the sentencepiece file;
    # it stays in the folder for anyone who wants the slow tokenizer.
    return tokenizer


def check_tokenizer(tokenizer, folder: Path, texts: list[str]) -> None:
    """The saved tokenizer reloads with AutoTokenizer, gives the same ids and decodes exactly."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(folder)
    if reloaded.model_max_length != MAX_INPUT_TOKENS:
        raise RuntimeError(f"tokenizer model_max_length is {reloaded.model_max_length}")
    if (reloaded.pad_token_id, reloaded.eos_token_id, reloaded.unk_token_id) != (0, 1, 2):
        raise RuntimeError("tokenizer special ids are not pad 0, eos 1, unk 2")
    for text in texts:
        ids = tokenizer(text).input_ids
        if reloaded(text).input_ids != ids:
            raise RuntimeError(f"reloaded tokenizer gives other ids for {text!r}")
        decoded = reloaded.decode(ids, skip_special_tokens=True)
        if decoded != " ".join(text.split()):
            raise RuntimeError(f"tokenizer does not decode back exactly: {text!r} -> {decoded!r}")


# ----------------------------------------------------------------------------- simplifier


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


# ----------------------------------------------------------------------------- confidence

# Calibration texts: in-domain, the first held-out sentences of the training templates (new slot
# combinations, never trained on; the rest of them stay for tests); out-of-domain, real
# sentences from the classifier's training abstracts (the simplifier never sees real text; the
# held-out real pairs stay for tests). The 12 templates held out whole are scored too and
# recorded, not used for the threshold: the model is visibly less sure of them (BLEU ~70).
CALIBRATION_TEXTS = 150
# The API's defaults, under which most requests run.
CALIBRATION_SETTINGS = {"max_new_tokens": 256, "num_beams": 4}


def real_sentences(pairs, limit: int, seed: int = REAL_SPLIT_SEED) -> list[str]:
    """Up to `limit` sentences of 5-60 words from the abstracts of `pairs`, in a seeded order."""
    sentences = [s for source, _ in pairs for s in split_sentences(source) if 5 <= len(s.split()) <= 60]
    random.Random(seed).shuffle(sentences)
    return sentences[:limit]


def mean_logprobs(model_folder: Path, texts: list[str], batch_size: int = 32) -> list[float]:
    """The serving backend's own scores for `texts`, at the API's default settings."""
    from runners.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(model_folder), "cpu")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
    scores: dict[int, float] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        generations = backend.generate([texts[i] for i in batch], **CALIBRATION_SETTINGS)
        scores.update({i: g.mean_logprob for i, g in zip(batch, generations)})
    return [scores[i] for i in range(len(texts))]


def calibrate_confidence(model_folder: Path, in_domain: list[str], out_of_domain: list[str]) -> dict:
    """Confidence of the built model on both sets and the threshold that separates them."""
    to_confidence = lambda texts: [confidence.chunk_confidence(lp)  # noqa: E731
                                   for lp in mean_logprobs(model_folder, texts)]
    result = confidence.calibrate(to_confidence(in_domain), to_confidence(out_of_domain))
    result["in_domain"] = "held-out sentences of the training templates (generated corpus)"
    result["out_of_domain"] = "sentences of real abstracts (data/cochrane, classifier training part)"
    result["settings"] = dict(CALIBRATION_SETTINGS)
    return result


# ----------------------------------------------------------------------------- classifier


def real_pairs_split(folder: Path = REAL_CORPUS_DIR) -> tuple[list, list]:
    """(training, held-out) real pairs from `folder`; both empty when it is absent."""
    if not (folder / "val.source").is_file():
        return [], []
    pairs = read_corpus_dir(folder)
    random.Random(REAL_SPLIT_SEED).shuffle(pairs)
    return pairs[HELDOUT_REAL_PAIRS:], pairs[:HELDOUT_REAL_PAIRS]


def labelled_texts(pairs) -> tuple[list[str], list[str]]:
    """Each pair's source as technical and its target as plain."""
    texts = [src for src, _ in pairs] + [tgt for _, tgt in pairs]
    labels = [LABEL_TECHNICAL] * len(pairs) + [LABEL_PLAIN] * len(pairs)
    return texts, labels


def generated_share(pairs, limit: int | None) -> list:
    """At most `limit` of the generated pairs, the same ones every build (all when None)."""
    if limit is None or len(pairs) <= limit:
        return list(pairs)
    return random.Random(REAL_SPLIT_SEED).sample(list(pairs), limit)


def classifier_training_texts(generated, real) -> tuple[list[str], list[str], list[bool]]:
    """Texts, labels and which texts are real, generated first."""
    generated_texts, generated_labels = labelled_texts(generated)
    real_texts, real_labels = labelled_texts(real)
    is_real = [False] * len(generated_texts) + [True] * len(real_texts)
    return generated_texts + real_texts, generated_labels + real_labels, is_real


def make_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=CLASSIFIER_NGRAMS, sublinear_tf=True,
                           min_df=2)


def classifier_accuracy(classifier, vectorizer, pairs) -> float | None:
    if not pairs:
        return None
    texts, labels = labelled_texts(pairs)
    predicted = classifier.predict(vectorizer.transform(texts))
    return round(float(sum(p == t for p, t in zip(predicted, labels)) / len(labels)), 4)


def train_classifier(train_pairs, heldout_pairs, real_train, real_heldout, folder: Path,
                     seed: int) -> dict:
    import joblib
    from sklearn.linear_model import LogisticRegression

    texts, labels, is_real = classifier_training_texts(train_pairs, real_train)
    weights = [REAL_SAMPLE_WEIGHT if real else 1.0 for real in is_real]
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(C=CLASSIFIER_C, max_iter=3000, random_state=seed)
    classifier.fit(features, labels, sample_weight=weights)
    if list(classifier.classes_) != [LABEL_TECHNICAL, LABEL_PLAIN]:
        raise RuntimeError(f"unexpected classifier classes {classifier.classes_}")
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(classifier, folder / CLASSIFIER_FILE)
    joblib.dump(vectorizer, folder / VECTORIZER_FILE)
    metrics = {
        "heldout_accuracy": classifier_accuracy(classifier, vectorizer, heldout_pairs),
        "heldout_texts": 2 * len(heldout_pairs),
        "real_heldout_accuracy": classifier_accuracy(classifier, vectorizer, real_heldout),
        "real_heldout_texts": 2 * len(real_heldout),
        "real_data": "data/cochrane (Devaraj et al. 2021, CC BY 4.0)" if real_train else None,
        "train_texts": len(texts),
        "real_train_texts": sum(is_real),
        "real_sample_weight": REAL_SAMPLE_WEIGHT,
        "classes": list(classifier.classes_),
        "generated_train_texts": len(texts) - sum(is_real),
        "features": (f"TF-IDF of character {CLASSIFIER_NGRAMS[0]}-{CLASSIFIER_NGRAMS[1]}-grams within "
                     f"words (sublinear tf, min_df 2), logistic regression (C={CLASSIFIER_C:g})"),
    }
    (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# ----------------------------------------------------------------------------- build


def build(args: argparse.Namespace, corpus_pairs, work: Path) -> dict:
    import torch

    started = time.monotonic()
    # One thread: on a shared 2-core machine, two threads fighting other processes for the
    # cores ran 8x slower per step than one (measured); the result does not depend on it.
    torch.set_num_threads(1)
    random.seed(args.seed)
    recipe = QUICK if args.quick else FULL
    simplifier_dir, classifier_dir = work / SIMPLIFIER_DIRNAME, work / CLASSIFIER_DIRNAME

    if corpus_pairs is None:
        corpus = demo_corpus.build_corpus(
            args.seed, per_template=recipe.per_template, n_freeform=recipe.n_freeform,
            n_heldout_combinations=recipe.eval_combinations,
            n_heldout_templates=recipe.eval_templates, n_heldout_freeform=recipe.eval_freeform,
            max_terms_per_category=recipe.max_terms_per_category)
        train_pairs = corpus.train
        copy_pairs = corpus.train_freeform
        heldout = {"heldout_combinations": corpus.heldout_combinations,
                   "heldout_templates": corpus.heldout_templates,
                   "heldout_freeform": corpus.heldout_freeform}
        steps = args.steps or recipe.steps
        data_description = "generated demo corpus (demo.corpus)"
    else:
        shuffled = list(corpus_pairs)
        random.Random(args.seed).shuffle(shuffled)
        n_heldout = min(200, max(1, len(shuffled) // 10))
        heldout = {"heldout_split": shuffled[:n_heldout]}
        train_pairs = shuffled[n_heldout:]
        copy_pairs = []
        steps = args.steps or (CORPUS_QUICK_STEPS if args.quick else CORPUS_FULL_STEPS)
        data_description = f"parallel corpus {Path(args.corpus).resolve()}"
    print(f"data: {len(train_pairs)} training pairs; held out: "
          + ", ".join(f"{name} {len(pairs)}" for name, pairs in heldout.items()), flush=True)

    # The texts as the model sees them: every input carries the task prefix, so its words
    # become whole pieces instead of being spelled out letter by letter.
    tokenizer_texts = [text for src, tgt in train_pairs for text in (TASK_PREFIX + src, tgt)]
    tokenizer = train_tokenizer(tokenizer_texts, recipe.vocab_size, simplifier_dir, args.seed)
    # Exact round trips are checked on training texts: a held-out text may hold a character
    # the tokenizer never saw.
    check_sample = [text for src, tgt in train_pairs[:300] for text in (TASK_PREFIX + src, tgt)]
    check_tokenizer(tokenizer, simplifier_dir, check_sample)
    print(f"tokenizer: {len(tokenizer)} pieces, reload checked", flush=True)

    model = make_model(recipe, len(tokenizer), args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    encoded = encode_pairs(tokenizer, train_pairs)
    train_started = time.monotonic()
    copy_encoded = encode_pairs(tokenizer, copy_pairs) if copy_pairs else None
    final_loss = train_model(model, encoded, recipe, steps, args.seed, quiet=False,
                             copy_phase=copy_encoded)
    train_seconds = time.monotonic() - train_started
    model.save_pretrained(simplifier_dir, safe_serialization=True)

    print("evaluating held-out sets...", flush=True)
    evaluation = {name: evaluate(model, tokenizer, pairs) for name, pairs in heldout.items()}
    # With --corpus the user's own pairs already train the classifier.
    real_train, real_heldout = real_pairs_split() if corpus_pairs is None else ([], [])
    calibration = None
    if corpus_pairs is None and real_train:
        print("calibrating the confidence threshold...", flush=True)
        calibration = calibrate_confidence(
            simplifier_dir, [src for src, _ in heldout["heldout_combinations"][:CALIBRATION_TEXTS]],
            real_sentences(real_train, CALIBRATION_TEXTS))
        unseen = [confidence.chunk_confidence(lp) for lp in mean_logprobs(
            simplifier_dir, [src for src, _ in heldout["heldout_templates"][:CALIBRATION_TEXTS]])]
        calibration["unseen_templates_flagged"] = round(
            sum(c < calibration["threshold"] for c in unseen) / len(unseen), 4)
    # A share of the generated pairs: all of them drown the real registers (see
    # GENERATED_CLASSIFIER_PAIRS); a user's own --corpus pairs are all used.
    classifier_pairs = (generated_share(train_pairs, GENERATED_CLASSIFIER_PAIRS)
                        if corpus_pairs is None else train_pairs)
    classifier_metrics = train_classifier(
        classifier_pairs, [p for pairs in heldout.values() for p in pairs], real_train,
        real_heldout, classifier_dir, args.seed)

    metrics = {
        "model": "T5ForConditionalGeneration trained from scratch (demo)",
        "data": data_description,
        "quick": args.quick,
        "seed": args.seed,
        "parameters": parameters,
        "training_steps": steps,
        "copy_phase_steps": recipe.copy_phase_steps if copy_pairs else 0,
        "learning_rate": recipe.learning_rate,
        "batch_size": recipe.batch_size,
        "training_pairs": len(train_pairs),
        "final_train_loss": round(final_loss, 4),
        "train_seconds": round(train_seconds, 1),
        "decoding": "greedy with generation_config.json defaults (no_repeat_ngram_size=3)",
        **evaluation,
        "classifier_heldout_accuracy": classifier_metrics["heldout_accuracy"],
        "classifier_real_heldout_accuracy": classifier_metrics["real_heldout_accuracy"],
        "confidence": calibration,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (simplifier_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def install(work: Path, out: Path) -> None:
    """Move the freshly built folders from `work` into `out`, replacing older ones."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (SIMPLIFIER_DIRNAME, CLASSIFIER_DIRNAME):
        target = out / name
        if target.exists():
            target.rename(work / f"old-{name}")
        (work / name).rename(target)


def summary(metrics: dict) -> str:
    lines = [f"parameters {metrics['parameters']:,}, {metrics['training_steps']} steps, "
             f"final loss {metrics['final_train_loss']}, build {metrics['build_seconds']} s"]
    for name, value in metrics.items():
        if isinstance(value, dict) and "pairs" in value and value["pairs"]:
            lines.append(f"{name}: BLEU {value['bleu']}, exact {value['exact_match']}, "
                         f"term replacement {value['term_replacement']} ({value['terms']} terms)")
    if metrics.get("confidence"):
        c = metrics["confidence"]
        lines.append(f"confidence threshold {c['threshold']}: ROC AUC {c['roc_auc']}, flags "
                     f"{c['out_of_domain_flagged']:.0%} of real sentences, {c['in_domain_flagged']:.0%} of templates")
    lines.append(f"classifier held-out accuracy {metrics['classifier_heldout_accuracy']} "
                 f"(generated), {metrics['classifier_real_heldout_accuracy']} (real)")
    return "\n".join(lines)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        corpus_pairs = validate(args)
    except UsageError as error:
        print(f"make_demo_models: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    stamp = build_stamp(args, corpus_pairs)
    if not args.force and up_to_date(out, stamp):
        print(f"{out}: demo models are up to date (same sources and arguments); nothing to do. "
              "Use --force to rebuild.")
        return 0

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the temporary folder is removed.
    signal.signal(signal.SIGTERM, _terminate)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        metrics = build(args, corpus_pairs, work)
        (out / STAMP_NAME).unlink(missing_ok=True)
        install(work, out)
        (out / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
    except (KeyboardInterrupt, SystemExit):
        print("make_demo_models: interrupted; existing models left as they were", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(summary(metrics))
    print(f"wrote {out / SIMPLIFIER_DIRNAME} and {out / CLASSIFIER_DIRNAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
