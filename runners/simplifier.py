"""The T5 simplifier as an adaptive-batching BentoML service.

Chunks from concurrent requests are gathered by BentoML's dispatcher into one list. This service
groups them by generation settings, splits each group into sub-batches that fit a memory budget,
and hands each sub-batch to a backend (runners/transformers_backend.py) for one padded
`generate`. BentoML sends an exception raised here to every caller of the batch, so a failing
sub-batch is retried one job at a time and only the job that still fails gets an error.

Chunks nobody awaits are skipped. When the API gives up on a request (BentoML's timeout, or the
client went away), the HTTP call to this runner is dropped, but BentoML's batching dispatcher keeps
the request's chunks: a queued job stays in its queue and is batched and generated as if awaited
(bentoml/_internal/marshal/dispatcher.py only stops setting the result of a cancelled future),
and a generate call already running cannot be interrupted. So each job carries its request's
deadline and id, the API names the requests it cancels (`drop_requests`), and before each
sub-batch the jobs past their deadline or dropped are answered with an error instead of run.
What still runs after a request is abandoned is the sub-batch in progress: at most
PLS_GENERATION_TOKEN_BUDGET tokens of beam search.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby

import bentoml
from bentoml.models import BentoModel

from pls_core.config import current, runner_batching, simplifier_batch_size
from pls_core.generation_memory import token_budget
from pls_core.resources import ct2_threads, torch_threads
from pls_core.schemas import SimplifyJob, SimplifyResult
from runners import emf
from runners.resilience import runner_service_options

CONFIG = current()
logger = logging.getLogger("bentoml.pls.simplifier")


def cuda_available() -> bool:
    """Whether a CUDA device is there, asked of the backend that will use it: the default image
    serves CTranslate2 and holds no torch."""
    if CONFIG.simplifier_backend == "ctranslate2":
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    import torch

    return torch.cuda.is_available()


def pick_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    if setting == "cuda" and not cuda_available():
        raise RuntimeError("PLS_DEVICE=cuda but no CUDA device is available")
    return setting


def settings_groups(jobs: Sequence[SimplifyJob]) -> list[list[int]]:
    """Indices of the jobs, grouped by (max_new_tokens, num_beams); each group in job order."""
    key = lambda i: (jobs[i].max_new_tokens, jobs[i].num_beams)  # noqa: E731
    order = sorted(range(len(jobs)), key=key)
    return [list(group) for _, group in groupby(order, key=key)]


def memory_sub_batches(input_lengths: Sequence[int], max_new_tokens: int, num_beams: int,
                       budget: int) -> list[list[int]]:
    """Split one settings group into sub-batches of positions whose padded footprint,
    jobs x beams x (longest input + max_new_tokens), stays within `budget`.

    Memory of beam search grows with exactly that product (the encoder output and the
    attention caches are kept per beam and per position). Similar lengths go together, so
    little is wasted on padding; a single job over the budget still runs, alone.
    """
    by_length = sorted(range(len(input_lengths)), key=lambda i: input_lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for position in by_length:
        longest = input_lengths[position]  # ascending order: the newcomer is the longest
        if current and (len(current) + 1) * num_beams * (longest + max_new_tokens) > budget:
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


def run_isolated(generate: Callable[[list[str]], list], texts: list[str]) -> list:
    """`generate(texts)`; when it raises, each text again on its own, so that one bad text
    fails alone. Returns one result per text: the backend's, or the exception it raised."""
    try:
        return list(generate(texts))
    except Exception as batch_error:  # any failure is retried per job
        if len(texts) == 1:
            return [batch_error]
        logger.warning("a batch of %d failed (%s: %s); retrying its jobs one at a time",
                       len(texts), type(batch_error).__name__, batch_error)
    results: list = []
    for text in texts:
        try:
            results.extend(generate([text]))
        except Exception as job_error:  # reported to that job's caller only
            results.append(job_error)
    return results


SKIPPED = "skipped: the request was cancelled or is past its deadline"


class DroppedRequests:
    """Ids of requests the API cancelled, each kept for `keep_s` (their chunks are gone by then),
    at most `limit` of them."""

    def __init__(self, keep_s: float, limit: int = 10_000) -> None:
        self.keep_s = keep_s
        self.limit = limit
        self._dropped: OrderedDict[str, float] = OrderedDict()

    def add(self, request_ids: Iterable[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for request_id in request_ids:
            self._dropped[request_id] = now
            self._dropped.move_to_end(request_id)
        while self._dropped and (len(self._dropped) > self.limit
                                 or next(iter(self._dropped.values())) < now - self.keep_s):
            self._dropped.popitem(last=False)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._dropped


def awaited(job: SimplifyJob, dropped: DroppedRequests | None = None, now: float | None = None) -> bool:
    """Whether someone still waits for this job: before its deadline and not dropped."""
    if job.deadline is not None and (time.time() if now is None else now) > job.deadline:
        return False
    return not (dropped is not None and job.request_id is not None and job.request_id in dropped)


def simplify_jobs(backend, jobs: Sequence[SimplifyJob], token_budget: int,
                  input_lengths: Callable[[list[str]], list[int]] | None = None,
                  wanted: Callable[[SimplifyJob], bool] = awaited) -> list[SimplifyResult]:
    """Run every job on `backend`, grouped by settings and sub-batched to the memory budget;
    results keep the jobs' order, and a job whose generation fails carries `error`.
    `input_lengths(texts)` gives each text's encoder tokens (default: the backend's own).
    Before each sub-batch, the jobs `wanted` refuses (nobody awaits them) get SKIPPED instead."""
    measure = input_lengths or backend.input_lengths
    results: list[SimplifyResult | None] = [None] * len(jobs)
    skipped = 0
    for group in settings_groups(jobs):
        max_new_tokens, num_beams = jobs[group[0]].max_new_tokens, jobs[group[0]].num_beams
        texts = [jobs[i].text for i in group]
        lengths = measure(texts)
        for planned in memory_sub_batches(lengths, max_new_tokens, num_beams, token_budget):
            batch = [position for position in planned if wanted(jobs[group[position]])]
            for position in set(planned) - set(batch):
                results[group[position]] = SimplifyResult(text="", tokens_input=0, tokens_output=0, error=SKIPPED)
            skipped += len(planned) - len(batch)
            if not batch:
                continue
            outcomes = run_isolated(
                # Called within this iteration: the loop variables are the current ones.
                lambda batch_texts: backend.generate(batch_texts, max_new_tokens, num_beams),  # noqa: B023
                [texts[p] for p in batch],
            )
            for position, outcome in zip(batch, outcomes):
                results[group[position]] = _result(outcome)
    if skipped:
        logger.info("skipped %d of %d chunks: their requests were cancelled or past their deadline",
                    skipped, len(jobs))
    return results  # type: ignore[return-value]


def _result(outcome) -> SimplifyResult:
    if isinstance(outcome, Exception):
        return SimplifyResult(text="", tokens_input=0, tokens_output=0,
                              error=f"{type(outcome).__name__}: {outcome}")
    return SimplifyResult(text=outcome.text, tokens_input=outcome.tokens_input,
                          tokens_output=outcome.tokens_output, mean_logprob=outcome.mean_logprob)


def make_backend(model_path: str, device: str, threads: int):
    """The generation backend PLS_SIMPLIFIER_BACKEND names; both share one interface."""
    if CONFIG.simplifier_backend == "ctranslate2":
        from runners.ct2_backend import CTranslate2Backend

        replicas, each = ct2_threads(CONFIG.torch_threads, CONFIG.ct2_inter_threads, CONFIG.simplifier_workers)
        return CTranslate2Backend(model_path, device, CONFIG.ct2_compute_type, each, replicas, CONFIG.ct2_sub_batch)
    from runners.transformers_backend import TransformersBackend

    return TransformersBackend(model_path, device)


@bentoml.service(**runner_service_options("pls-simplifier-runner", CONFIG.simplifier_workers, CONFIG))
class Simplifier:
    model_ref = BentoModel(CONFIG.simplifier_tag)

    def __init__(self) -> None:
        from pls_core.chunking import Chunker

        threads = torch_threads(CONFIG.torch_threads, CONFIG.simplifier_workers)
        if CONFIG.simplifier_backend == "transformers":
            import torch

            torch.set_num_threads(threads)
        self.device = pick_device(CONFIG.device)
        self.backend = make_backend(self.model_ref.path, self.device, threads)
        # Input lengths for memory planning, counted the same way whatever the backend.
        self.token_counter = Chunker.from_model_folder(self.model_ref.path)
        self.token_budget = token_budget(CONFIG.generation_token_budget, self.model_ref.path)
        # Requests the API cancelled; kept for two timeouts, by when none of their chunks is left.
        self.dropped = DroppedRequests(keep_s=2 * CONFIG.request_timeout_s)
        logger.info("simplifier %s on %s with the %s backend, %d threads, generation budget %d tokens",
                    self.model_ref.tag, self.device, CONFIG.simplifier_backend, threads, self.token_budget)

    # PLS_MAX_BATCH_SIZE=1 turns adaptive batching off: each request's chunks run alone.
    @bentoml.api(**runner_batching(CONFIG, simplifier_batch_size(CONFIG)))
    def simplify(self, jobs: list[SimplifyJob]) -> list[SimplifyResult]:
        """Simplify each job's text with its own settings; results keep the jobs' order.

        Never raises for a job's failure: that job's result carries `error` instead, so the
        other callers in the batch are unaffected."""
        if (report := emf.reporter()) is not None:
            now = time.time()
            report.observe("BatchSize", len(jobs))
            for job in jobs:
                if job.sent_at is not None:
                    report.observe("QueueWait", max(0.0, now - job.sent_at) * 1000)
        return simplify_jobs(self.backend, jobs, self.token_budget, self._input_lengths,
                             wanted=lambda job: awaited(job, self.dropped))

    def _input_lengths(self, texts: list[str]) -> list[int]:
        return [self.token_counter.count_input_tokens(text) for text in texts]

    # async: runs on the event loop at once, even while a batch runs in its thread.
    @bentoml.api
    async def drop_requests(self, request_ids: list[str]) -> int:
        """The API no longer awaits these requests: their chunks not yet generated are skipped."""
        self.dropped.add(request_ids[:1000])
        return len(request_ids)

    # async: runs on the event loop at once instead of waiting for the batch thread.
    @bentoml.api
    async def status(self) -> dict:
        """Device and model tag, for the API's /health (batch sizes are on /metrics)."""
        return {"device": self.device, "model_tag": str(self.model_ref.tag)}
