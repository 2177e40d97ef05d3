"""Generation with transformers' T5: one padded `generate` call for one group of texts.

The Simplifier service (runners/simplifier.py) groups, sub-batches and isolates failures; a
backend only turns a list of texts that share settings into one `Generation` per text, in
order. runners/ct2_backend.py offers the same `generate` on CTranslate2.
"""

from __future__ import annotations

from dataclasses import dataclass

from pls_core.model_layout import TASK_PREFIX


@dataclass(frozen=True)
class Generation:
    """One text's output and what it cost.

    `tokens_input`: tokens the encoder saw (task prefix + text + EOS, no padding);
    `tokens_output`: tokens generated up to and including the first EOS (not the decoder start
    token, never padding), so a row's count does not depend on the other rows of its batch;
    `mean_logprob`: the mean log-probability the model gives to those tokens, scored with the
    chosen output as decoder input (no decoding penalties), for pls_core.confidence.
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


# Rows scored together when computing mean log-probabilities (see _mean_logprobs).
_SCORING_ROWS = 4


class TransformersBackend:
    """T5ForConditionalGeneration on `device`, reading the model folder of the BentoML store."""

    def __init__(self, model_path: str, device: str) -> None:
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = T5ForConditionalGeneration.from_pretrained(model_path).to(device).eval()
        self.eos_id = self.model.generation_config.eos_token_id
        if isinstance(self.eos_id, list):
            self.eos_id = self.eos_id[0]

    def input_lengths(self, texts: list[str]) -> list[int]:
        """Encoder tokens of each text (prefix + text + EOS), for memory planning."""
        encoded = self.tokenizer([TASK_PREFIX + text for text in texts], verbose=False)
        return [min(len(ids), self.tokenizer.model_max_length) for ids in encoded.input_ids]

    def generate(self, texts: list[str], max_new_tokens: int, num_beams: int) -> list[Generation]:
        import torch

        encoded = self.tokenizer(
            [TASK_PREFIX + text for text in texts],
            padding=True, truncation=True, max_length=self.tokenizer.model_max_length,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            output_ids = self.model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                do_sample=False,
                # Beam search ends as soon as num_beams hypotheses are finished, as the users'
                # earlier service did; greedy search has no such choice.
                early_stopping=num_beams > 1,
            )
            input_counts = encoded["attention_mask"].sum(dim=1).tolist()
            # Column 0 is the decoder start token, which the model did not generate.
            rows = output_ids[:, 1:].tolist()
            output_counts = [count_until_eos(row, self.eos_id) for row in rows]
            mean_logprobs = self._mean_logprobs(encoded, output_ids, output_counts)
        results = []
        for row, n_in, n_out, mean_logprob in zip(rows, input_counts, output_counts, mean_logprobs):
            text = self.tokenizer.decode(row[:n_out], skip_special_tokens=True).strip()
            results.append(Generation(text=text, tokens_input=int(n_in), tokens_output=n_out,
                                      mean_logprob=mean_logprob))
        return results

    def _mean_logprobs(self, encoded, output_ids, output_counts: list[int]) -> list[float]:
        """Each row's mean log-probability of its generated tokens (up to its first EOS), from
        one decoder pass over the chosen outputs. Rows go in small groups: the vocabulary-wide
        log-softmax of a whole batch of a large model would cost as much memory as generation."""
        import torch

        means: list[float] = []
        for start in range(0, output_ids.shape[0], _SCORING_ROWS):
            rows = slice(start, start + _SCORING_ROWS)
            logits = self.model(
                input_ids=encoded["input_ids"][rows], attention_mask=encoded["attention_mask"][rows],
                decoder_input_ids=output_ids[rows, :-1],
            ).logits
            chosen = output_ids[rows, 1:]
            logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
            for offset, row_logprobs in enumerate(logprobs.tolist()):
                n_out = max(1, output_counts[start + offset])
                means.append(sum(row_logprobs[:n_out]) / n_out)
        return means
