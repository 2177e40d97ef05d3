"""An ASGI middleware in front of the whole HTTP app: API keys, content types, request limits,
validation without logging input, admission by cost, and the web page's security headers.

Policy (docs/api.md, "Access control"): with keys configured, every path needs a key except the ones
a browser, a load balancer or a reader of the docs must reach without one (OPEN_PATHS). New
endpoints are therefore protected by default; WebSocket connections (the API has none) are
refused. Keys are compared as HMAC-SHA-256 digests (pls_core/api_keys.py), so the comparison
takes the same time whatever the length of the key presented. Open paths take GET and HEAD only:
anything else is a 405 before a byte of the body is read.

The API's POST routes take JSON only: any other Content-Type, or none, is refused with 415 from
the headers, before BentoML reads the body (its form parser answered 500 to multipart, and it
parsed text/plain as JSON, which let a page on another site send a CORS "simple" request, one
without a preflight). Bodies larger than the limit are refused from their Content-Length before a
byte is read; bodies sent without one are counted as they arrive. JSON nested deeper than any
request of this API could be is refused before a parser sees it (Python's parser recurses once
per level). These checks of the body are pls_core/request_body.py's. Then the body is checked
against the route's model (pls_core/body_check.py): a bad one gets a bounded 400 and a log line
without input values; duplicate keys are refused.

Admission (pls_core/admission.py): a valid request to an API route is let in only when its cost
fits beside the work in flight; otherwise 503 with `Retry-After` at once, before the model is
touched. Its share is released when the answer is out, when the client goes away (the request is
then cancelled, and the service tells the simplifier to drop its chunks), or when BentoML's
timeout cancels it. The probes are never counted.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it never buffers a response, and it
wraps BentoML's own routes (/generate, /metrics, ...) as well as the mounted web routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from pls_core.admission import (
    COUNTED_ROUTES,
    CURRENT_TICKET,
    Admission,
    Ticket,
    capacity_message,
    estimated_parts,
    least_cost,
)
from pls_core.api_keys import REALM, key_matches, load_api_keys, presented_key
from pls_core.asgi_messages import ASGIApp, Message, Receive, Scope, Send, send_error, with_headers
from pls_core.body_check import check_body
from pls_core.config import Config
from pls_core.openapi_doc import amend_openapi
from pls_core.request_body import (
    JSON_MEDIA_TYPE,
    MAX_JSON_DEPTH,
    is_json_content_type,
    json_depth_exceeds,
    read_limited_body,
)

logger = logging.getLogger("bentoml.pls.guard")

# Reachable without a key: the ALB/ECS probes, the web page and its static files, the word list
# the page highlights, and the API documentation. Everything else (the inference APIs, /health,
# which runs the models, and /metrics) needs a key when keys are configured.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/ui", "/ui/", "/lexicon", "/", "/docs.json"})
OPEN_PREFIXES = ("/ui/", "/static_content/")
# What the open paths take (OPTIONS: a CORS preflight, answered by the CORS middleware outside).
OPEN_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# nginx's status for "the client closed the connection before the answer": logged, never received.
CLIENT_CLOSED_REQUEST = 499
# WebSocket close code 1008 (policy violation): before the handshake, uvicorn answers it with 403.
WEBSOCKET_POLICY_VIOLATION = 1008

# The web page (ui/index.html, ui/app.js, ui/style.css) loads nothing but its own files and calls
# only its own origin; it has no inline script or style and nothing may frame it. The Swagger UI
# at / keeps BentoML's headers (it needs inline code); every answer gets nosniff.
PAGE_PATH = "/ui"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = (
    (b"content-security-policy", PAGE_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
EVERY_ANSWER_HEADERS = ((b"x-content-type-options", b"nosniff"),)

def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def is_page_path(path: str) -> bool:
    return path == PAGE_PATH or path.startswith(PAGE_PATH + "/")


class RequestGuardMiddleware:
    """401 without a valid key (when keys are set), 405 for a method an open path does not take,
    415 for a body that is not JSON on an API route, 413 for an oversized body, 400 for deep,
    duplicate-keyed or invalid JSON, 503 when the request's cost does not fit; in that order."""

    def __init__(self, app: ASGIApp, api_keys: tuple[bytes, ...], max_body_bytes: int,
                 api_models: dict[str, tuple[type, type]] | None = None,
                 max_inflight_generations: int = 0, retry_after_s: int = 5,
                 admission: Admission | None = None) -> None:
        self.app = app
        self.retry_after_s = retry_after_s
        # Capacity in standard generations (pls_core/admission.py); one event loop per worker: no lock.
        # `admission` is the worker's own when given (its metrics read it).
        self.admission = admission or Admission.in_standard_generations(max_inflight_generations)
        self.api_keys = api_keys
        self.max_body_bytes = max_body_bytes
        self.api_models = api_models or {}
        # The API's own routes (BentoML's @bentoml.api): POST with a JSON body, nothing else.
        self.json_routes = frozenset(self.api_models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # No endpoint of this API speaks WebSocket: refuse every handshake, key or not.
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        send = with_headers(send, PAGE_HEADERS + EVERY_ANSWER_HEADERS if is_page_path(path) else EVERY_ANSWER_HEADERS)
        headers = dict(scope.get("headers") or [])
        if self.api_keys and method != "OPTIONS" and not is_open_path(path):
            key = presented_key(headers)
            if key is None:
                await send_error(send, 401, "an API key is required: send 'Authorization: Bearer <key>' "
                                 "or 'X-API-Key: <key>'", {"WWW-Authenticate": REALM})
                return
            if not key_matches(key, self.api_keys):
                await send_error(send, 401, "the API key is not valid",
                                 {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
                return
        if is_open_path(path) and method not in OPEN_METHODS:
            # Before the body is read: nothing behind an open path takes one.
            await send_error(send, 405, f"{method} is not allowed here", {"Allow": "GET, HEAD"})
            return
        if method == "POST" and path in self.json_routes:
            await self._api_call(scope, receive, send)
            return
        if path == "/docs.json" and method == "GET":
            await self._send_amended_openapi(scope, receive, send)
            return
        # Any other route reads no body (BentoML answers 404 or 405 without reading it).
        await self.app(scope, receive, send)

    async def _api_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        headers = scope.get("headers") or []
        if not is_json_content_type(headers):
            # After the key check (an unauthenticated caller learns nothing), before the body is read.
            await send_error(send, 415, f"the request body must be JSON: send 'Content-Type: {JSON_MEDIA_TYPE}'",
                             {"Accept-Post": JSON_MEDIA_TYPE})
            return
        counted = self.admission.enabled and path in COUNTED_ROUTES
        if counted and self.admission.room() < least_cost(path):
            await self._refuse_at_capacity(send)  # full: not even the body is read
            return
        started_at = time.time()
        body = await read_limited_body(dict(headers), receive, send, self.max_body_bytes)
        if body is None:
            return
        if json_depth_exceeds(body, MAX_JSON_DEPTH):
            await send_error(send, 400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
            return
        model = self.api_models[path][0]
        fields = None
        if hasattr(model, "model_validate_json"):
            refusal, fields = check_body(body, model)
            if refusal is not None:
                logger.info("%s refused with 400: %s", path, refusal.log)
                await send_error(send, 400, refusal.body)
                return
        ticket = None
        if counted:
            ticket = self.admission.try_acquire(estimated_parts(path, fields or {}) or {}, started_at)
            if ticket is None:
                await self._refuse_at_capacity(send)
                return
        await self._run(scope, _Replay(body), receive, send, ticket)

    async def _refuse_at_capacity(self, send: Send) -> None:
        await send_error(send, 503, capacity_message(self.admission, self.retry_after_s),
                         {"Retry-After": str(self.retry_after_s)})

    async def _run(self, scope: Scope, replay: _Replay, receive: Receive, send: Send, ticket: Ticket | None) -> None:
        """Run the app for an admitted request; release its ticket with the last byte of the
        answer, and cancel it when the client goes away first."""
        answered = started = False

        async def send_releasing(message: Message) -> None:
            # The share is free once the answer is out: the app may still run background tasks
            # after it, and a client that sends its next request at once must find it free.
            nonlocal answered, started
            started = True
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
                if ticket is not None:
                    ticket.release()
            await send(message)

        token = CURRENT_TICKET.set(ticket)  # the app's task starts with a copy of this context
        try:
            app_task = asyncio.ensure_future(self.app(scope, replay, send_releasing))
        finally:
            CURRENT_TICKET.reset(token)

        async def watch_for_disconnect() -> None:
            # The body is read: the server's next message is the end of the exchange, a disconnect
            # (the client left, or the answer is complete). Anything else: stop watching.
            message = await receive()
            if message["type"] == "http.disconnect":
                replay.disconnected.set()
                if not answered and not app_task.done():
                    logger.info("%s: the client went away before its answer; request cancelled", scope["path"])
                    app_task.cancel()

        watcher = asyncio.ensure_future(watch_for_disconnect())
        try:
            await app_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # BentoML's timeout (or shutdown) cancelled this request: let it know
            # Cancelled here because the client left. Nobody reads this answer (the server drops it);
            # it ends the exchange for the middlewares outside and puts the status in the access log.
            if not started:
                await send_error(send, CLIENT_CLOSED_REQUEST, "the client closed the connection before the answer")
        finally:
            watcher.cancel()
            if not app_task.done():
                app_task.cancel()
            if ticket is not None:
                ticket.release()

    async def _send_amended_openapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """BentoML's document, corrected (pls_core/openapi_doc.py); it is small, so buffered."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            spec = amend_openapi(json.loads(body), self.api_models, keys_required=bool(self.api_keys))
            body = json.dumps(spec).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 500), "headers": headers})
        await send({"type": "http.response.body", "body": body})

class _Replay:
    """A receive() that hands the already-read body to the app, then waits for the end of the
    exchange (the guard's watcher sets `disconnected`) and reports it as a disconnect."""

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.disconnected = asyncio.Event()

    async def __call__(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}


def guard_options(config: Config, service: object, admission: Admission | None = None) -> dict:
    """Keyword arguments for `add_asgi_middleware(RequestGuardMiddleware, **...)`."""
    from pls_core.openapi_doc import service_models

    return {"api_keys": load_api_keys(config), "max_body_bytes": config.max_body_bytes,
            "api_models": service_models(service), "max_inflight_generations": config.max_inflight_generations,
            "retry_after_s": config.retry_after_s, "admission": admission}
