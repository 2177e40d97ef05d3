"""Ready means warm: before /readyz first says ready, each runner has served a few small jobs.

A new task that joins the load balancer under load would otherwise hand its first users two
one-off costs: BentoML's adaptive-batching dispatcher fits its batching wait to the first calls
it sees, and the engine's first calls allocate and tune (CTranslate2's first translate, torch's
first forward). The warm-up pays them with built-in sentences, once, right after the API worker
starts: three generations at the API's default settings, one after another, and
classifications; /readyz stays "not ready" until it is done (docs/BENCHMARKS.md has the first
request on a fresh server with and without).
"""

from __future__ import annotations

import asyncio
import logging
import time

from pls_core.schemas import SimplifyJob
from runners.resilience import call_runner

logger = logging.getLogger("bentoml.pls.warmup")

SENTENCES = (
    "Patients with hypertension were administered an analgesic orally.",
    "An endoscopy showed nosocomial changes in the epidermis.",
    "The intervention reduced the incidence of myocardial infarction in adults.",
    "Adverse events were rare and resolved without treatment.",
)
# One job at a time: rounds of 2 and 4 at once taught BentoML's dispatcher to wait for company,
# and one of the next few lone requests took 2 s instead of 0.3 s (t5-small shape, docs/BENCHMARKS.md).
ROUNDS = (1, 1, 1)
RETRY_PAUSE_S = 1.0


async def warm_up(simplifier, classifier, max_length: int = 256, num_beams: int = 4) -> float:
    """Run the warm-up against the runner clients until it succeeds; returns its seconds."""
    started = time.perf_counter()
    while True:
        try:
            for concurrent in ROUNDS:
                jobs = [[SimplifyJob(text=SENTENCES[i % len(SENTENCES)], max_new_tokens=max_length,
                                     num_beams=num_beams)] for i in range(concurrent)]
                await asyncio.gather(
                    *(call_runner("simplifier", lambda batch=batch: simplifier.to_async.simplify(batch))
                      for batch in jobs),
                    *(call_runner("classifier", lambda i=i: classifier.to_async.predict_proba([SENTENCES[i]]))
                      for i in range(concurrent)))
        except Exception as error:  # a runner still starting: try again
            logger.info("warm-up waits for the runners (%s)", type(error).__name__)
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        seconds = time.perf_counter() - started
        logger.info("warm-up done in %.1f s: the runners served %d generations and classifications",
                    seconds, sum(ROUNDS))
        return seconds
