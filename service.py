"""The PLS API: simplify, classify and evaluate medical text.

    bentoml serve            # from the repository root; Swagger UI on http://127.0.0.1:3000/,
                             # the web page on http://127.0.0.1:3000/ui

Model work runs in two adaptive-batching runner services (runners/); this service validates
requests, splits long text into chunks that fit the model, sends all chunks of a request to the
simplifier together so they batch with other requests' chunks, and computes text metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

import bentoml
from bentoml.models import BentoModel
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pls_core.chunking import chunk_text
from pls_core.config import load_config
from pls_core.http_guard import RequestGuardMiddleware, guard_options
from pls_core.lexicon import LEXICON
from pls_core.metrics import evaluation_metrics
from pls_core.model_check import require_stored
from pls_core.model_layout import MAX_INPUT_TOKENS, TASK_PREFIX
from pls_core.readability import classification_reasoning, text_figures
from pls_core.schemas import (
    ClassifyRequest, ClassifyResponse, EvaluateRequest, EvaluateResponse, GenerateRequest,
    GenerateResponse, GenerateWithMetricsRequest, GenerateWithMetricsResponse, HealthResponse,
    SimplifyJob,
)
from runners.classifier import Classifier
from runners.simplifier import Simplifier

CONFIG = load_config()
require_stored(CONFIG.simplifier_tag, CONFIG.classifier_tag)  # a clear error before BentoML's remote lookup
PLAIN_THRESHOLD = 0.5
UI_DIR = Path(__file__).resolve().parent / "ui"


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


@bentoml.asgi_app(Starlette(routes=web_routes), path="/")
@bentoml.service(
    name="pls-service",
    workers=CONFIG.api_workers,
    traffic={"timeout": CONFIG.request_timeout_s},
)
class PLSService:
    simplifier = bentoml.depends(Simplifier)
    classifier = bentoml.depends(Classifier)
    # The API needs the simplifier's tokenizer (not its weights) to cut text into chunks.
    simplifier_model = BentoModel(CONFIG.simplifier_tag)

    def __init__(self) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.simplifier_model.path)
        self.max_input_tokens = min(MAX_INPUT_TOKENS, self.tokenizer.model_max_length)
        self.prefix_tokens = self._count_tokens("") - 1  # the prefix alone, without EOS

    # --- chunking -------------------------------------------------------------------------
    def _count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`: task prefix + text + EOS."""
        return len(self.tokenizer(TASK_PREFIX + text, verbose=False).input_ids)

    def _split_oversized(self, sentence: str, budget: int) -> list[str]:
        """Cut one over-long sentence into token windows that each fit `budget`."""
        ids = self.tokenizer(sentence, add_special_tokens=False, verbose=False).input_ids
        window = budget - self.prefix_tokens - 1
        while window > 0:
            pieces = [self.tokenizer.decode(ids[i:i + window]).strip() for i in range(0, len(ids), window)]
            if all(self._count_tokens(piece) <= budget for piece in pieces):
                return pieces
            window -= max(1, window // 10)  # decoding then re-encoding grew a piece: shrink
        raise ValueError("cannot split the sentence into pieces that fit the model")

    def chunks(self, text: str) -> list[str]:
        return chunk_text(
            text,
            count_tokens=self._count_tokens,
            budget=self.max_input_tokens,
            split_oversized=self._split_oversized,
        )

    async def _simplify(self, text: str, max_length: int, num_beams: int) -> GenerateResponse:
        chunks = self.chunks(text)
        jobs = [SimplifyJob(text=chunk, max_length=max_length, num_beams=num_beams) for chunk in chunks]
        started = time.perf_counter()
        results = await self.simplifier.to_async.simplify(jobs)
        return GenerateResponse(
            generated_pls=" ".join(result.text for result in results),
            generation_time=round(time.perf_counter() - started, 4),
            num_chunks=len(chunks),
            tokens_input=sum(result.tokens_input for result in results),
            tokens_output=sum(result.tokens_output for result in results),
        )

    async def _plain_probability(self, text: str) -> float:
        return (await self.classifier.to_async.predict_proba([text]))[0]

    # --- API ------------------------------------------------------------------------------
    @bentoml.api(route="/generate", input_spec=GenerateRequest, output_spec=GenerateResponse)
    async def generate(self, technical_text: str, max_length: int, num_beams: int,
                       skip_if_plain: bool) -> GenerateResponse:
        """Rewrite technical medical text as a plain-language summary."""
        if skip_if_plain and await self._plain_probability(technical_text) >= PLAIN_THRESHOLD:
            return GenerateResponse(generated_pls=technical_text, generation_time=0.0, num_chunks=0,
                                    tokens_input=0, tokens_output=0, skipped=True)
        return await self._simplify(technical_text, max_length, num_beams)

    @bentoml.api(route="/classify", input_spec=ClassifyRequest, output_spec=ClassifyResponse)
    async def classify(self, text: str) -> ClassifyResponse:
        """Tell a plain-language summary from technical text, with readability figures."""
        confidence = await self._plain_probability(text)
        is_pls = confidence >= PLAIN_THRESHOLD
        figures = text_figures(text)
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
        generated = await self._simplify(technical_text, max_length, num_beams)
        metrics = evaluation_metrics(technical_text, generated.generated_pls, reference_pls)
        return GenerateWithMetricsResponse(
            generated_pls=generated.generated_pls,
            metrics=EvaluateResponse(**metrics),
            generation_time=generated.generation_time,
            num_chunks=generated.num_chunks,
            tokens_input=generated.tokens_input,
            tokens_output=generated.tokens_output,
        )

    async def health(self) -> HealthResponse:
        try:
            status = await self.simplifier.to_async.status()
            simplifier_ok = True
        except Exception:  # noqa: BLE001 - health reports the failure instead of raising it
            status, simplifier_ok = {"device": "unknown"}, False
        try:
            await self._plain_probability("health check")
            classifier_ok = True
        except Exception:  # noqa: BLE001
            classifier_ok = False
        return HealthResponse(
            status="healthy" if simplifier_ok and classifier_ok else "degraded",
            model_loaded=simplifier_ok,
            classifier_loaded=classifier_ok,
            device=status["device"],
            model_path=str(self.simplifier_model.tag),
        )


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

# Added after CORS, so CORS stays outside: browsers' preflight requests need no key, and a 401
# still carries the CORS headers the page needs to read it.
PLSService.add_asgi_middleware(RequestGuardMiddleware, **guard_options(CONFIG, PLSService))
