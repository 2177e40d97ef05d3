"""Each API answer counted by endpoint and outcome for the service's metrics (runners/emf.py).

The outcome tells load shedding from failure, which the status code alone does not: a 503 is
`shed` when the service refused work by design (the admission cap, a runner's latency budget)
and `unavailable` when a runner could not answer (it died or is restarting; runners/resilience.py
notes that on the request's context). Outermost of the API's middlewares, so the guard's own
refusals (401, 413, 503 at capacity) are counted too.
"""

from __future__ import annotations

import contextvars
import time

from pls_core.metric_names import ENDPOINTS

GENERATION_ENDPOINTS = frozenset({"/generate", "/generate-with-metrics"})

# Set for each counted request; call_runner marks it when a runner could not answer.
OUTCOME_NOTE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("pls_outcome_note", default=None)


def note_unavailable() -> None:
    note = OUTCOME_NOTE.get()
    if note is not None:
        note["unavailable"] = True


def outcome(status: int | None, unavailable: bool) -> str:
    if status is None:
        return "5xx"  # the app raised before answering: BentoML answers 500
    if 200 <= status < 300:
        return "2xx"
    if 400 <= status < 500:
        return "4xx"
    if status == 503:
        return "unavailable" if unavailable else "shed"
    return "5xx"


class RequestOutcomes:
    """ASGI middleware: counts `Requests{Endpoint, Outcome}` and the generation latency in this
    process's reporter (`report()`, runners/emf.py; None: not counted)."""

    def __init__(self, app, report) -> None:
        self.app = app
        self.report = report

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in ENDPOINTS:
            await self.app(scope, receive, send)
            return
        note: dict = {}
        token = OUTCOME_NOTE.set(note)
        started = time.perf_counter()
        status: int | None = None

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            OUTCOME_NOTE.reset(token)
            report = self.report()
            if report is not None:
                result = outcome(status, note.get("unavailable", False))
                report.count("Requests", Endpoint=path, Outcome=result)
                if result == "2xx" and path in GENERATION_ENDPOINTS:
                    report.observe("GenerationLatency", (time.perf_counter() - started) * 1000)
