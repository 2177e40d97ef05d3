"""Work nobody awaits is not done, and what a failure leaves in the log carries no request text.

- The simplifier (runners/simplifier.py) skips, before each sub-batch, the chunks of a request
  that is past its deadline (BentoML's timeout answered already) or that the API dropped (its
  client went away). BentoML's batching dispatcher would otherwise generate them all.
- BentoML's exception log keeps a ValidationError's summary, never its input (pls_core/log_safety.py).
Against a real server: tests/integration/test_hostile_input.py."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pydantic import ValidationError

from pls_core import log_safety
from pls_core.schemas import GenerateRequest, SimplifyJob
from runners.simplifier import SKIPPED, DroppedRequests, awaited, simplify_jobs


@dataclass
class Generated:
    text: str
    tokens_input: int = 1
    tokens_output: int = 1
    mean_logprob: float = 0.0


class CountingBackend:
    """Generates each text as itself, one sub-batch at a time, and drops a request midway."""

    def __init__(self, on_call=None) -> None:
        self.calls: list[list[str]] = []
        self.on_call = on_call

    def input_lengths(self, texts: list[str]) -> list[int]:
        return [10 for _ in texts]

    def generate(self, texts: list[str], max_new_tokens: int, num_beams: int) -> list[Generated]:
        self.calls.append(list(texts))
        if self.on_call:
            self.on_call(len(self.calls))
        return [Generated(text) for text in texts]


def jobs(request_id: str, count: int, deadline: float | None = None) -> list[SimplifyJob]:
    return [SimplifyJob(text=f"{request_id}-{n}", max_new_tokens=50, num_beams=10, request_id=request_id,
                        deadline=deadline) for n in range(count)]


def test_chunks_of_a_request_past_its_deadline_are_skipped_and_others_run() -> None:
    backend = CountingBackend()
    batch = jobs("late", 3, deadline=time.time() - 1) + jobs("live", 2, deadline=time.time() + 60) + jobs("old", 1)
    # A budget of one job per generate call: 10 beams x (10 + 50) tokens.
    results = simplify_jobs(backend, batch, token_budget=600)
    assert [result.error for result in results] == [SKIPPED] * 3 + [None] * 3
    assert sorted(text for call in backend.calls for text in call) == ["live-0", "live-1", "old-0"]


def test_a_request_dropped_midway_stops_after_the_sub_batch_in_progress() -> None:
    """What BentoML did before: every chunk of an abandoned request was generated."""
    dropped = DroppedRequests(keep_s=60)
    backend = CountingBackend(on_call=lambda calls: dropped.add(["gone"]) if calls == 2 else None)
    results = simplify_jobs(backend, jobs("gone", 10), token_budget=600, wanted=lambda job: awaited(job, dropped))
    assert len(backend.calls) == 2  # the one running when the API said so, and the one before
    assert [result.error for result in results].count(SKIPPED) == 8


def test_dropped_requests_are_forgotten_after_a_while_and_bounded() -> None:
    dropped = DroppedRequests(keep_s=10, limit=3)
    dropped.add(["a"], now=0)
    dropped.add(["b", "c", "d"], now=5)
    assert "a" not in dropped and {"b", "c", "d"} <= {r for r in "bcd" if r in dropped}
    dropped.add(["e"], now=20)
    assert "b" not in dropped and "e" in dropped


NAME = "Zebedee Quixworth-Abernathy"


def test_a_logged_validation_error_loses_its_input() -> None:
    """BentoML logs `Exception on /generate [POST]` with the ValidationError's traceback, which
    quotes the input (here the whole object: the name is in it). After the filter: a summary."""
    try:
        GenerateRequest.model_validate_json(f'{{"technical_txt": "{NAME} had a myocardial infarction."}}')
    except ValidationError as error:
        record = logging.LogRecord(log_safety.BENTOML_EXCEPTION_LOGGER, logging.ERROR, __file__, 1,
                                   "Exception on %s [%s]", ("/generate", "POST"), (type(error), error, None))
    assert "Zebedee" in logging.Formatter().format(record)  # what BentoML wrote before
    assert log_safety.RedactValidationErrors().filter(record)
    text = logging.Formatter().format(record)
    assert "Zebedee" not in text and "Traceback" not in text
    assert "Exception on /generate [POST]: 2 validation error(s) (extra_forbidden, missing)" in text


def test_the_filter_is_installed_once_on_bentomls_logger() -> None:
    log_safety.install()
    log_safety.install()
    logger = logging.getLogger(log_safety.BENTOML_EXCEPTION_LOGGER)
    assert sum(isinstance(f, log_safety.RedactValidationErrors) for f in logger.filters) == 1
