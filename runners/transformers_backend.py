"""Generation with transformers' T5: one padded `generate` call for one group of texts.

The Simplifier service (runners/simplifier.py) groups, sub-batches and isolates failures; a
backend only turns a list of texts that share settings into one `Generation` per text, in
order. runners/ct2_backend.py offers the same `generate` on CTranslate2.
"""

from __future__ import annotations

from dataclasses import dataclass

from pls_core.model_layout import TASK_PREFIX, max_input_tokens


@dataclass(frozen=True)
class Generation:
    """One text's output and what it cost.

    `tokens_input`: tokens the encoder saw (task prefix + text + EOS, no padding);
    `tokens_output`: tokens generated up to and including the first EOS (not the decoder start
    token, never padding), so a row's count does not depend on the other rows of its batch;
    `mean_logprob`: the mean log-probability of those tokens in the search that chose them, for
    pls_core.confidence: each step's distribution after the model's decoding rules (a token they
    forbid, such as one that repeats a 3-gram, takes no probability), as CTranslate2 scores.
    """

    text: str
    tokens_input: int
    tokens_output: int
    mean_logprob: float


def count_until_eos(row: list[int], eos_id: int) -> int:
    """Tokens in a generated row up to and including its first EOS (all of it without one).

    Finished rows are padded to the longest row of the batch, and beam search pads with EOS
    rather than with the pad id, so counting "not pad" would count other rows' length too.
    """
    try:
        return row.index(eos_id) + 1
    except ValueError:
        return len(row)


class ChosenTokenScores:
    """A logits processor, last in the chain, that turns each step's scores into log-probabilities
    over the tokens the decoding rules allow (what the search then ranks, as CTranslate2 does) and
    keeps the few best of every row: the token the search picks is among them. Keeping the
    `keep` best instead of the whole vocabulary (`output_scores`) holds rows x keep numbers a step
    instead of rows x 32,128."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.steps: list[tuple] = []  # (values, token ids), each rows x keep

    def __call__(self, input_ids, scores):
        import torch

        log_probs = torch.log_softmax(scores.float(), dim=-1)
        values, tokens = torch.topk(log_probs, k=min(self.keep, log_probs.shape[-1]), dim=-1)
        self.steps.append((values, tokens))
        return log_probs

    def mean_logprobs(self, rows: list[list[int]], counts: list[int], beam_rows=None) -> list[float]:
        """Each output row's mean log-probability over its first `count` tokens. `beam_rows[i][t]`
        is the search row that produced token t of output i (beam search); row i itself otherwise."""
        import torch

        if not self.steps:
            return [0.0] * len(rows)
        values = torch.stack([v for v, _ in self.steps]).tolist()  # steps x search rows x keep
        tokens = torch.stack([t for _, t in self.steps]).tolist()
        means = []
        for i, (row, count) in enumerate(zip(rows, counts)):
            total = 0.0
            for step in range(count):
                source = beam_rows[i][step] if beam_rows is not None else i
                try:
                    total += values[step][source][tokens[step][source].index(row[step])]
                except ValueError:
                    raise RuntimeError(f"token {row[step]} of step {step} is not among the search's best") from None
            means.append(total / max(1, count))
        return means


class TransformersBackend:
    """T5ForConditionalGeneration on `device`, reading the model folder of the BentoML store."""

    def __init__(self, model_path: str, device: str) -> None:
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        # The chunker's limit: a tokenizer config without model_max_length says 10**30.
        self.max_input_tokens = max_input_tokens(model_path)
        self.model = T5ForConditionalGeneration.from_pretrained(model_path).to(device).eval()
        self.eos_id = self.model.generation_config.eos_token_id
        if isinstance(self.eos_id, list):
            self.eos_id = self.eos_id[0]

    def input_lengths(self, texts: list[str]) -> list[int]:
        """Encoder tokens of each text (prefix + text + EOS), for memory planning."""
        encoded = self.tokenizer([TASK_PREFIX + text for text in texts], verbose=False)
        return [min(len(ids), self.max_input_tokens) for ids in encoded.input_ids]

    def generate(self, texts: list[str], max_new_tokens: int, num_beams: int) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        encoded = self.tokenizer(
            [TASK_PREFIX + text for text in texts],
            padding=True, truncation=True, max_length=self.max_input_tokens,
            return_tensors="pt",
        ).to(self.device)
        # The search keeps its best 2 x beams continuations a step; greedy picks the best one.
        scores = ChosenTokenScores(keep=2 * num_beams if num_beams > 1 else 1)
        with torch.inference_mode():
            generated = self.model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                do_sample=False,
                # Beam search ends as soon as num_beams hypotheses are finished, as the users'
                # earlier service did; greedy search has no such choice.
                early_stopping=num_beams > 1,
                logits_processor=LogitsProcessorList([scores]),
                return_dict_in_generate=True,
            )
        input_counts = encoded["attention_mask"].sum(dim=1).tolist()
        # Column 0 is the decoder start token, which the model did not generate.
        rows = generated.sequences[:, 1:].tolist()
        output_counts = [count_until_eos(row, self.eos_id) for row in rows]
        beam_rows = generated.beam_indices.tolist() if num_beams > 1 else None
        mean_logprobs = scores.mean_logprobs(rows, output_counts, beam_rows)
        results = []
        for row, n_in, n_out, mean_logprob in zip(rows, input_counts, output_counts, mean_logprobs):
            text = self.tokenizer.decode(row[:n_out], skip_special_tokens=True).strip()
            results.append(Generation(text=text, tokens_input=int(n_in), tokens_output=n_out,
                                      mean_logprob=mean_logprob))
        return results
