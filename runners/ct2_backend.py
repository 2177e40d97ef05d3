"""Generation with CTranslate2: one batched `translate_batch` for one group of texts.

The same contract as runners/transformers_backend.py: `generate(texts, max_new_tokens,
num_beams)` returns one `Generation` per text, in order, with token counts of the same meaning
(`tokens_input`: task prefix + text + EOS; `tokens_output`: generated tokens up to and including
the first EOS). The converted weights are made by scripts/models/import_models.py and stored inside the
BentoML model (`ctranslate2/`), so nothing is converted when the service starts.

On CPU, int8 weights with CTranslate2's fused kernels ran the t5-small-shaped model 3-4x faster
than transformers in float32 at the same batch (docs/serving.md, "Simplifier backends").
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from pls_core.model_layout import TASK_PREFIX, max_input_tokens
from runners.t5_tokens import T5Tokens
from runners.transformers_backend import Generation  # one result type for both backends

logger = logging.getLogger("bentoml.pls.ct2")

# The folder inside the simplifier's BentoML model that scripts/models/convert_ct2.py writes (the same
# name is there; tests/integration/test_ct2.py checks the two agree).
CT2_SUBDIR = "ctranslate2"


def compute_type_for(setting: str, device: str) -> str:
    """`auto`: int8 on CPU (the fast path there), float16 on CUDA; anything else as given."""
    if setting != "auto":
        return setting
    return "float16" if device == "cuda" else "int8"


def decoding_options(model_path: str) -> dict:
    """The model's generation_config.json as translate_batch options, so that both backends
    decode alike (transformers' generate applies these defaults by itself). Read as JSON: this
    backend serves without transformers."""
    try:
        config = json.loads((Path(model_path) / "generation_config.json").read_text())
    except (OSError, ValueError):
        config = {}
    # Encoder-decoder `min_length` counts the decoder start token; `min_new_tokens` does not.
    min_new = max(config.get("min_new_tokens") or 0, (config.get("min_length") or 0) - 1)
    length_penalty = config.get("length_penalty")
    return {
        "min_decoding_length": min_new,
        "no_repeat_ngram_size": config.get("no_repeat_ngram_size") or 0,
        "repetition_penalty": config.get("repetition_penalty") or 1.0,
        "length_penalty": length_penalty if length_penalty is not None else 1.0,
    }


class CTranslate2Backend:
    """A CTranslate2 `Translator` over the converted T5 in the model folder of the BentoML store.

    On CPU, `replicas` translators (CTranslate2's `inter_threads`, sharing one copy of the weights)
    of `threads` intra-op threads each: a batch is cut into `replicas` sub-batches of similar
    lengths that run in parallel, one per core. On these matrix sizes two independent sub-batches
    on two cores did 1.7x the work of one batch on two intra-op threads (docs/BENCHMARKS.md).
    """

    def __init__(self, model_path: str, device: str, compute_type: str = "auto", threads: int = 1,
                 replicas: int = 1, sub_batch: int = 0) -> None:
        import ctranslate2

        converted = Path(model_path) / CT2_SUBDIR
        if not (converted / "model.bin").is_file():
            raise FileNotFoundError(
                f"{converted} is missing: this model was imported before the CTranslate2 backend "
                "existed. Delete it from the store (`bentoml models delete TAG`) and run "
                "scripts/models/import_models.py again, or set PLS_SIMPLIFIER_BACKEND=transformers."
            )
        self.device = device
        self.compute_type = compute_type_for(compute_type, device)
        # The chunker's limit: a tokenizer config without model_max_length says 10**30.
        self.max_input_tokens = max_input_tokens(model_path)
        self.tokenizer = T5Tokens(model_path, self.max_input_tokens)  # tokenizers alone, no transformers
        self.replicas = max(1, replicas) if device == "cpu" else 1
        self.sub_batch = sub_batch  # 0: a batch split evenly over the replicas
        self.translator = ctranslate2.Translator(
            str(converted), device=device, compute_type=self.compute_type,
            inter_threads=self.replicas, intra_threads=threads if device == "cpu" else 0,
        )
        self.eos_id = self.tokenizer.eos_id
        self.decoding = decoding_options(model_path)
        logger.info("CTranslate2 %s on %s, compute %s, %d replica(s) x %d thread(s)",
                    ctranslate2.__version__, device, self.compute_type, self.replicas, threads)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer.encode([TASK_PREFIX + text for text in texts])

    def input_lengths(self, texts: list[str]) -> list[int]:
        """Encoder tokens of each text (prefix + text + EOS), for memory planning."""
        return [len(ids) for ids in self._encode(texts)]

    def sub_batch_size(self, rows: int) -> int:
        """Rows per sub-batch: `sub_batch`, or the rows split evenly over the replicas."""
        if self.sub_batch > 0:
            return self.sub_batch
        return max(1, math.ceil(rows / self.replicas))

    def generate(self, texts: list[str], max_new_tokens: int, num_beams: int) -> list[Generation]:
        input_ids = self._encode(texts)
        # translate_batch sorts the rows by length, cuts them into sub-batches of max_batch_size
        # and runs those on the replicas in parallel; results come back in the rows' order.
        results = self.translator.translate_batch(
            [self.tokenizer.tokens(ids) for ids in input_ids],
            max_batch_size=self.sub_batch_size(len(input_ids)),
            beam_size=num_beams,
            max_decoding_length=max_new_tokens,
            return_end_token=True,
            return_scores=True,
            max_input_length=0,  # already truncated by the tokenizer, like transformers'
            **{**self.decoding,
               # A model's min_new_tokens above the request's max_length: transformers stops at
               # max_length; CTranslate2 would refuse the call.
               "min_decoding_length": min(self.decoding["min_decoding_length"], max_new_tokens)},
        )
        generations = []
        for ids, result in zip(input_ids, results):
            hypothesis = result.hypotheses[0]
            output = self.tokenizer.ids(hypothesis)
            # return_end_token keeps the EOS that ended the hypothesis, so its length is the
            # tokens generated up to and including the first EOS.
            text = self.tokenizer.decode(output).strip()
            generations.append(Generation(
                text=text, tokens_input=len(ids), tokens_output=len(output),
                mean_logprob=mean_logprob(result.scores[0], len(output), self.decoding["length_penalty"])))
        return generations


def mean_logprob(score: float, tokens: int, length_penalty: float) -> float:
    """The mean token log-probability behind a hypothesis's search score: CTranslate2 divides
    the summed log-probabilities by tokens ** length_penalty (tokens: the end token included)."""
    tokens = max(1, tokens)
    return score * tokens ** length_penalty / tokens
