"""The T5 simplifier as an adaptive-batching BentoML service.

Chunks from concurrent requests are gathered by BentoML's dispatcher into one list; each
group of jobs that share generation settings runs as one padded `generate` call.
"""

from __future__ import annotations

import logging
from itertools import groupby

import bentoml
from bentoml.models import BentoModel

from pls_core.config import load_config
from pls_core.model_layout import TASK_PREFIX
from pls_core.resources import torch_threads
from pls_core.schemas import SimplifyJob, SimplifyResult
from runners.resilience import RUNNER_CONNECTION

CONFIG = load_config()
BATCHING = CONFIG.max_batch_size > 1
BATCH_OPTIONS = {"max_batch_size": CONFIG.max_batch_size, "max_latency_ms": CONFIG.max_latency_ms} if BATCHING else {}
logger = logging.getLogger("bentoml.pls.simplifier")


def pick_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("PLS_DEVICE=cuda but no CUDA device is available")
    return setting


def make_backend(model_path: str, device: str, threads: int):
    """The generation backend PLS_SIMPLIFIER_BACKEND names (None: transformers, inline here)."""
    if CONFIG.simplifier_backend == "ctranslate2":
        from runners.ct2_backend import CTranslate2Backend

        return CTranslate2Backend(model_path, device, CONFIG.ct2_compute_type, threads)
    return None


@bentoml.service(
    name="pls-simplifier-runner",
    workers=CONFIG.simplifier_workers,
    traffic={"timeout": CONFIG.request_timeout_s},
    # Keep the API's connection session: see runners/resilience.py (bentoml/BentoML#5540).
    runner_connection=RUNNER_CONNECTION,
)
class Simplifier:
    model_ref = BentoModel(CONFIG.simplifier_tag)

    def __init__(self) -> None:
        import torch
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        threads = torch_threads(CONFIG.torch_threads, CONFIG.simplifier_workers)
        torch.set_num_threads(threads)
        self.device = pick_device(CONFIG.device)
        self.backend = make_backend(self.model_ref.path, self.device, threads)
        if self.backend is None:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_ref.path)
            self.model = T5ForConditionalGeneration.from_pretrained(self.model_ref.path).to(self.device).eval()
        logger.info("simplifier %s on %s with the %s backend, %d threads",
                    self.model_ref.tag, self.device, CONFIG.simplifier_backend, threads)

    # PLS_MAX_BATCH_SIZE=1 turns adaptive batching off: each request's chunks run alone.
    @bentoml.api(batchable=BATCHING, **BATCH_OPTIONS)
    def simplify(self, jobs: list[SimplifyJob]) -> list[SimplifyResult]:
        """Simplify each job's text with its own settings; results keep the jobs' order."""
        results: list[SimplifyResult | None] = [None] * len(jobs)
        order = sorted(range(len(jobs)), key=lambda i: (jobs[i].max_length, jobs[i].num_beams))
        for _, group in groupby(order, key=lambda i: (jobs[i].max_length, jobs[i].num_beams)):
            indices = list(group)
            for index, result in zip(indices, self._generate([jobs[i] for i in indices])):
                results[index] = result
        return results  # type: ignore[return-value]

    def _generate(self, jobs: list[SimplifyJob]) -> list[SimplifyResult]:
        import torch

        if self.backend is not None:
            generations = self.backend.generate([job.text for job in jobs], jobs[0].max_length, jobs[0].num_beams)
            return [SimplifyResult(text=g.text, tokens_input=g.tokens_input, tokens_output=g.tokens_output)
                    for g in generations]

        encoded = self.tokenizer(
            [TASK_PREFIX + job.text for job in jobs],
            padding=True, truncation=True, max_length=self.tokenizer.model_max_length,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            output_ids = self.model.generate(
                **encoded, max_length=jobs[0].max_length, num_beams=jobs[0].num_beams,
            )
        texts = self.tokenizer.batch_decode(output_ids, skip_special_tokens=True)
        pad = self.tokenizer.pad_token_id
        input_counts = encoded["attention_mask"].sum(dim=1).tolist()
        # Output starts with the decoder start token (the pad id for T5) and is padded with it.
        output_counts = (output_ids[:, 1:] != pad).sum(dim=1).tolist()
        return [
            SimplifyResult(text=text.strip(), tokens_input=int(n_in), tokens_output=int(n_out))
            for text, n_in, n_out in zip(texts, input_counts, output_counts)
        ]

    @bentoml.api
    def status(self) -> dict:
        """Device and model tag, for the API's /health (batch sizes are on /metrics)."""
        return {"device": self.device, "model_tag": str(self.model_ref.tag)}
