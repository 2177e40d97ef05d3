"""The PLS API: simplify, classify and evaluate medical text.

    bentoml serve            # from the repository root; Swagger UI on http://127.0.0.1:3000/,
                             # the web page on http://127.0.0.1:3000/ui

Model work runs in two adaptive-batching runner services (runners/); this service validates
requests, splits long text into chunks that fit the model, sends a request's chunks to the
simplifier a few at a time (PLS_CHUNKS_IN_FLIGHT) so they batch with other requests' chunks and a
long request takes turns with short ones, and computes text metrics.
CPU work (chunking, metrics) runs in a thread, so the event loop keeps answering while it runs;
the chunker uses the `tokenizers` library, so this process never loads torch.

Hostile input (docs/api.md, "Access control"): the request guard (pls_core/http_guard.py) checks keys,
bodies and admission before BentoML reads a request; once the text is cut into chunks, the
request's admission ticket is extended to all of them or the request is refused with the guard's
503 (pls_core/admission.py). Chunks carry their request's deadline and id, so the simplifier
skips the chunks of a request that timed out or whose client went away. BentoML's metrics are
labelled by route (runners/http_metrics.py), its request timeout keeps no request's context
alive (runners/request_timeout.py), and its validation errors are logged without the input
(pls_core/log_safety.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import bentoml
from bentoml.models import BentoModel
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pls_core import log_safety
from pls_core.admission import STANDARD_GENERATION, Admission, capacity_message, current_ticket, generation_cost
from pls_core.chunking import Chunker
from pls_core.confidence import assess
from pls_core.config import current, service_traffic
from pls_core.http_guard import RequestGuardMiddleware, guard_options
from pls_core.in_turns import in_turns
from pls_core.lexicon import LEXICON
from pls_core.metrics import evaluation_metrics
from pls_core.model_layout import METRICS_FILE
from pls_core.readability import classification_reasoning, load_syllable_dictionary, text_figures
from pls_core.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    EvaluateRequest,
    EvaluateResponse,
    GenerateRequest,
    GenerateResponse,
    GenerateWithMetricsRequest,
    GenerateWithMetricsResponse,
    HealthResponse,
    SimplifyJob,
    SimplifyResult,
)
from runners import emf, http_metrics, request_timeout
from runners.classifier import Classifier
from runners.model_check import require_stored
from runners.request_outcomes import RequestOutcomes
from runners.resilience import CONNECTION_LOST, PROBE_TIMEOUT_S, Readiness, RetryAfterOn503, call_runner
from runners.simplifier import SKIPPED, Simplifier
from runners.tracing import tracing_options
from runners.warmup import warm_up

CONFIG = current()
require_stored(CONFIG.simplifier_tag, CONFIG.classifier_tag)  # a clear error before BentoML's remote lookup
PLAIN_THRESHOLD = 0.5
UI_DIR = Path(__file__).resolve().parent / "ui"
logger = logging.getLogger("bentoml.pls.service")


def confidence_threshold(model_folder: Path) -> float | None:
    """PLS_CONFIDENCE_THRESHOLD, or the threshold calibrated into the model's metrics.json;
    None when neither gives one (a model built without calibration: nothing is flagged)."""
    if CONFIG.confidence_threshold is not None:
        return CONFIG.confidence_threshold
    try:
        metrics = json.loads((model_folder / METRICS_FILE).read_text())
        return float(metrics["confidence"]["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("the simplifier model records no calibrated confidence threshold and "
                       "PLS_CONFIDENCE_THRESHOLD is `model`: no summary will be marked low_confidence")
        return None


class ChunkFailed(Exception):
    """The simplifier could not generate one of a request's chunks (other requests are fine).
    Its text is what the client sees: which chunk, never the backend's message."""


class AtCapacity(Exception):
    """The request's chunks cost more than the room left beside the work in flight."""


class PastDeadline(Exception):
    """The simplifier skipped chunks past the request's deadline: BentoML's 504, a moment early."""


# Tasks that tell the simplifier to drop a cancelled request's chunks: kept until they end.
_dropping: set[asyncio.Task] = set()
# This worker's admission (the request guard's) and chunks sent to the simplifier and not yet
# answered: read every second for the metrics (runners/emf.py).
ADMISSION = Admission.in_standard_generations(CONFIG.max_inflight_generations)
_chunks_in_flight = 0


async def health_endpoint(request: Request) -> JSONResponse:
    # GET /health as the users' earlier FastAPI service had it (BentoML APIs are POST-only).
    health = await bentoml.get_current_service().health()
    return JSONResponse(health.model_dump())


async def ui_page(request: Request) -> FileResponse:
    # The page lives at /ui (no trailing slash): its relative links reach ui/* and the API.
    return FileResponse(UI_DIR / "index.html")


async def lexicon_endpoint(request: Request) -> JSONResponse:
    # The page highlights these terms and their plain words; the same lexicon /classify counts.
    return JSONResponse(LEXICON, headers={"Cache-Control": "max-age=3600"})


web_routes = [
    Route("/health", health_endpoint, methods=["GET"]),
    Route("/lexicon", lexicon_endpoint, methods=["GET"]),
    Route("/ui", ui_page, methods=["GET"]),
    Route("/ui/", lambda request: RedirectResponse("../ui"), methods=["GET"]),  # one address for the page
    Mount("/ui", StaticFiles(directory=UI_DIR), name="ui"),
]

# BentoML's HTTP metrics count these routes (and the APIs, the probes, /metrics) by name, files
# under the mounts by the mount's template, and nothing else: a random path makes no series.
# The main service's own pages: the Swagger UI, its document and its static files.
http_metrics.install(routes=[*(route.path for route in web_routes if isinstance(route, Route)), "/", "/docs.json"],
                     mounts=[*(mount.path for mount in web_routes if isinstance(mount, Mount)), "/static_content"])
log_safety.install()  # BentoML's exception log: a validation error without the input it quotes
request_timeout.install()  # BentoML's timeout, without holding each request's context for 120 s


@bentoml.asgi_app(Starlette(routes=web_routes), path="/")
@bentoml.service(
    name="pls-service",
    workers=CONFIG.api_workers,
    traffic=service_traffic(CONFIG),
    runner_probe={"enabled": False},  # /readyz asks the runners itself, in bounded time: __is_ready__
    **tracing_options(CONFIG),
)
class PLSService:
    simplifier = bentoml.depends(Simplifier)
    classifier = bentoml.depends(Classifier)
    # The API needs the simplifier's tokenizer (not its weights) to cut text into chunks.
    simplifier_model = BentoModel(CONFIG.simplifier_tag)

    def __init__(self) -> None:
        self.chunker = Chunker.from_model_folder(self.simplifier_model.path)
        self.confidence_threshold = confidence_threshold(Path(self.simplifier_model.path))
        load_syllable_dictionary()  # now, not in the first request
        # Ready means warm: /readyz says "not ready" until the warm-up (started below) is done.
        self.warmed = asyncio.Event() if CONFIG.warmup else None
        self.readiness = Readiness(lambda: (self.simplifier.to_async.status, self.classifier.to_async.status),
                                   warm=self.warmed)
        if (report := emf.reporter()) is not None:
            report.gauge("WorkInFlight", lambda: ADMISSION.in_use / STANDARD_GENERATION)
            report.gauge("ChunksInFlight", lambda: _chunks_in_flight)

    @bentoml.on_startup
    async def start_the_warm_up(self) -> None:
        # In the background: the worker answers /livez meanwhile, and the runners may still be loading.
        if self.warmed is not None:
            self._warming = asyncio.ensure_future(self._warm_up())

    async def _warm_up(self) -> None:
        await warm_up(self.simplifier, self.classifier)
        self.warmed.set()

    async def _simplify(self, text: str, max_length: int, num_beams: int) -> GenerateResponse:
        chunks = await asyncio.to_thread(self.chunker.chunks, text)
        ticket = current_ticket()
        # The guard reserved one chunk; now the request holds all of them, or is refused before
        # the model is touched.
        if ticket is not None and not ticket.update(generation=generation_cost(len(chunks), num_beams, max_length)):
            raise AtCapacity(capacity_message(ticket.admission, CONFIG.retry_after_s))
        # The simplifier skips the chunks of a request that is no longer awaited: past BentoML's
        # timeout (the deadline), or cancelled because its client went away (the id, below).
        request_id = uuid.uuid4().hex
        deadline = (ticket.started_at if ticket is not None else time.time()) + CONFIG.request_timeout_s
        # max_length is the most tokens generated per chunk: the backend's max_new_tokens.
        jobs = [SimplifyJob(text=chunk, max_new_tokens=max_length, num_beams=num_beams, request_id=request_id,
                            deadline=deadline) for chunk in chunks]
        started = time.perf_counter()
        try:
            results = await self._generate(jobs)
        except asyncio.CancelledError:
            self._drop_chunks(request_id)
            raise
        if any(result.error == SKIPPED for result in results):
            raise PastDeadline(f"Not able to process the request in {CONFIG.request_timeout_s} seconds")
        failed = [(number, result.error) for number, result in enumerate(results, 1) if result.error]
        if failed:
            number, error = failed[0]
            # The backend's exception (type and message, cut short) goes to the log, never to the
            # client, who learns which chunk failed.
            logger.error("chunk %d of %d could not be simplified: %s", number, len(chunks), (error or "")[:500])
            raise ChunkFailed(f"chunk {number} of {len(chunks)} could not be simplified")
        assessment = assess([r.mean_logprob for r in results], [r.tokens_output for r in results],
                            self.confidence_threshold)
        if (report := emf.reporter()) is not None:
            report.count("Summaries")
            report.count("LowConfidenceSummaries", int(assessment.low_confidence))
        return GenerateResponse(
            generated_pls=" ".join(result.text for result in results),
            generation_time=round(time.perf_counter() - started, 4),
            num_chunks=len(chunks),
            tokens_input=sum(result.tokens_input for result in results),
            tokens_output=sum(result.tokens_output for result in results),
            confidence=assessment.confidence,
            chunk_confidences=assessment.chunk_confidences,
            low_confidence=assessment.low_confidence,
            low_confidence_reason=assessment.reason,
        )

    async def _generate(self, jobs: list[SimplifyJob]) -> list[SimplifyResult]:
        """The chunks' results, in order. With PLS_CHUNKS_IN_FLIGHT, a few chunks at a time, each
        sent when one before it is done, so a long request takes turns with short ones in the
        simplifier's batches instead of queueing all its chunks ahead of them."""
        async def send(batch: list[SimplifyJob]) -> list[SimplifyResult]:
            global _chunks_in_flight
            for job in batch:
                job.sent_at = time.time()
            _chunks_in_flight += len(batch)
            try:
                return await call_runner("simplifier", lambda: self.simplifier.to_async.simplify(batch),
                                         probe=self.simplifier.to_async.status)
            finally:
                _chunks_in_flight -= len(batch)

        if CONFIG.chunks_in_flight == 0 or len(jobs) <= CONFIG.chunks_in_flight:
            return await send(jobs)
        answers = await in_turns(lambda job: send([job]), jobs, CONFIG.chunks_in_flight)
        return [answer[0] for answer in answers]

    def _drop_chunks(self, request_id: str) -> None:
        """Tell the simplifier, without waiting, that nobody awaits this request's chunks."""
        async def tell() -> None:
            try:
                await asyncio.wait_for(self.simplifier.to_async.drop_requests(request_ids=[request_id]),
                                       PROBE_TIMEOUT_S)
            except Exception as error:  # the deadline still stops its chunks
                logger.warning("could not tell the simplifier to drop a cancelled request (%s)",
                               type(error).__name__)

        task = asyncio.ensure_future(tell())
        _dropping.add(task)
        task.add_done_callback(_dropping.discard)

    @staticmethod
    def _failure(error: ChunkFailed | AtCapacity | PastDeadline) -> JSONResponse:
        if isinstance(error, AtCapacity):
            # The guard's 503, with its Retry-After (which RetryAfterOn503 leaves as it is).
            return JSONResponse({"error": str(error)}, status_code=503,
                                headers={"Retry-After": str(CONFIG.retry_after_s)})
        if isinstance(error, PastDeadline):
            return JSONResponse({"error": str(error)}, status_code=504)
        # A 500 that says what failed, instead of BentoML's generic "unexpected error".
        return JSONResponse({"error": str(error)}, status_code=500)

    async def _plain_probability(self, text: str) -> float:
        probabilities = await call_runner("classifier", lambda: self.classifier.to_async.predict_proba([text]),
                                          retry_on=CONNECTION_LOST, probe=self.classifier.to_async.status)
        return probabilities[0]

    # --- API ------------------------------------------------------------------------------
    @bentoml.api(route="/generate", input_spec=GenerateRequest, output_spec=GenerateResponse)
    async def generate(self, technical_text: str, max_length: int, num_beams: int,
                       skip_if_plain: bool) -> GenerateResponse:
        """Rewrite technical medical text as a plain-language summary."""
        if skip_if_plain and await self._plain_probability(technical_text) >= PLAIN_THRESHOLD:
            return GenerateResponse(generated_pls=technical_text, generation_time=0.0, num_chunks=0,
                                    tokens_input=0, tokens_output=0, skipped=True)
        try:
            return await self._simplify(technical_text, max_length, num_beams)
        except (ChunkFailed, AtCapacity, PastDeadline) as error:
            return self._failure(error)

    @bentoml.api(route="/classify", input_spec=ClassifyRequest, output_spec=ClassifyResponse)
    async def classify(self, text: str) -> ClassifyResponse:
        """Tell a plain-language summary from technical text, with readability figures."""
        confidence = await self._plain_probability(text)
        is_pls = confidence >= PLAIN_THRESHOLD
        figures = await asyncio.to_thread(text_figures, text)
        return ClassifyResponse(
            is_pls=is_pls,
            confidence=round(confidence, 4),
            reasoning=classification_reasoning(is_pls, confidence, figures),
            **figures,
        )

    @bentoml.api(route="/evaluate", input_spec=EvaluateRequest, output_spec=EvaluateResponse)
    def evaluate(self, original_text: str, generated_pls: str, reference_pls: str | None) -> EvaluateResponse:
        """Readability and, with a reference, ROUGE, BLEU and SARI of a generated summary."""
        return EvaluateResponse(**evaluation_metrics(original_text, generated_pls, reference_pls))

    @bentoml.api(route="/generate-with-metrics", input_spec=GenerateWithMetricsRequest,
                 output_spec=GenerateWithMetricsResponse)
    async def generate_with_metrics(self, technical_text: str, reference_pls: str | None,
                                    max_length: int, num_beams: int) -> GenerateWithMetricsResponse:
        """Generate a summary and evaluate it in one call."""
        try:
            generated = await self._simplify(technical_text, max_length, num_beams)
        except (ChunkFailed, AtCapacity, PastDeadline) as error:
            return self._failure(error)
        metrics = await asyncio.to_thread(evaluation_metrics, technical_text, generated.generated_pls, reference_pls)
        return GenerateWithMetricsResponse(
            metrics=EvaluateResponse(**metrics),
            **generated.model_dump(exclude={"skipped"}),
        )

    async def __is_ready__(self) -> bool:
        # /readyz, the ALB health check. BentoML's own runner probe (off above) waits up to 5 s,
        # the ALB's timeout, for a restarting runner and says ready if it came back meanwhile.
        # Each runner's `status` within PROBE_TIMEOUT_S says "not ready" at once instead; probed
        # every second in the background, so the answer does not wait for the probes' round trips.
        return await self.readiness.ready()

    async def health(self) -> HealthResponse:
        # Both runners answer `status` on their event loop, not behind a running batch, and
        # the probe costs no prediction.
        simplifier_status, classifier_status = await asyncio.gather(
            call_runner("simplifier", self.simplifier.to_async.status, retry_on=CONNECTION_LOST,
                        probe=self.simplifier.to_async.status),
            call_runner("classifier", self.classifier.to_async.status, retry_on=CONNECTION_LOST,
                        probe=self.classifier.to_async.status),
            return_exceptions=True)
        simplifier_ok = not isinstance(simplifier_status, BaseException)
        classifier_ok = not isinstance(classifier_status, BaseException)
        status = simplifier_status if simplifier_ok else {"device": "unknown"}
        return HealthResponse(
            status="healthy" if simplifier_ok and classifier_ok else "degraded",
            model_loaded=simplifier_ok,
            classifier_loaded=classifier_ok,
            device=status["device"],
            model_path=str(self.simplifier_model.tag),
        )


if CONFIG.emf_metrics:
    # Outermost: every answer is counted, the guard's refusals too.
    PLSService.add_asgi_middleware(RequestOutcomes, report=emf.reporter)

if CONFIG.cors_origins:
    # Pages served from these origins may call the API; without it browsers allow same origin only.
    PLSService.add_asgi_middleware(
        CORSMiddleware,
        allow_origins=list(CONFIG.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization", "X-API-Key"],  # keys: pls_core/http_guard.py
        expose_headers=["Retry-After"],
        max_age=600,
    )

# A failure between services reaches clients as 503 + Retry-After, never as a bare 500.
PLSService.add_asgi_middleware(RetryAfterOn503, retry_after_s=CONFIG.retry_after_s)

# Added after CORS, so CORS stays outside: browsers' preflight requests need no key, and a 401
# still carries the CORS headers the page needs to read it.
PLSService.add_asgi_middleware(RequestGuardMiddleware, **guard_options(CONFIG, PLSService, ADMISSION))
