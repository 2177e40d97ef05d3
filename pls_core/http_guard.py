"""An ASGI middleware in front of the whole HTTP app: API keys, content types and request-size limits.

Policy (README "Access control"): with keys configured, every path needs a key except the ones
a browser, a load balancer or a reader of the docs must reach without one (OPEN_PATHS). New
endpoints are therefore protected by default. Bodies larger than the limit are refused from
their Content-Length before a byte is read; bodies sent without one are counted as they
arrive. JSON nested deeper than any request of this API could be is refused before the JSON
parser sees it (Python's parser would recurse once per level). The API's POST routes take
JSON only: any other Content-Type, or none, is refused with 415 from the headers, before BentoML
reads the body (its form parser answered 500 to multipart, and it parsed text/plain as JSON, which
let a page on another site send a CORS "simple" request, one without a preflight).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it never buffers a response, and it
wraps BentoML's own routes (/generate, /metrics, ...) as well as the mounted web routes.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from pls_core.config import Config, ConfigError, parse_api_keys
from pls_core.openapi_doc import amend_openapi

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Reachable without a key: the ALB/ECS probes, the web page and its static files, the word list
# the page highlights, and the API documentation. Everything else (the inference APIs, /health,
# which runs the models, and /metrics) needs a key when keys are configured.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/ui", "/ui/", "/lexicon", "/", "/docs.json"})
OPEN_PREFIXES = ("/ui/", "/static_content/")
# The deepest JSON a request of this API has is 1 (an object of strings, numbers, booleans).
MAX_JSON_DEPTH = 32
REALM = 'Bearer realm="pls-api"'
# The model-heavy routes: admission control caps how many run at once (overload sheds early,
# with Retry-After, instead of queueing until the runner's latency budget or the timeout).
GENERATION_PATHS = frozenset({"/generate", "/generate-with-metrics"})
# The one media type the API's POST routes take (parameters such as `; charset=utf-8` aside).
JSON_MEDIA_TYPE = "application/json"


def load_api_keys(config: Config) -> tuple[bytes, ...]:
    """The keys from PLS_API_KEYS and PLS_API_KEYS_FILE, as bytes for hmac.compare_digest."""
    keys = list(config.api_keys)
    if config.api_keys_file:
        path = Path(config.api_keys_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"PLS_API_KEYS_FILE={path}: cannot read it ({error.__class__.__name__})") from None
        keys.extend(parse_api_keys(f"PLS_API_KEYS_FILE={path}", text))
        if not keys:
            raise ConfigError(f"PLS_API_KEYS_FILE={path} holds no key: access control would be off")
    return tuple(key.encode("ascii") for key in keys)


def key_matches(presented: bytes, keys: Iterable[bytes]) -> bool:
    """Constant-time comparison with every configured key (no early exit on a match either)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key)
    return matched


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from `Authorization: Bearer KEY` or `X-API-Key: KEY`, if either is there."""
    authorization = headers.get(b"authorization", b"")
    scheme, _, value = authorization.partition(b" ")
    if scheme.lower() == b"bearer" and value.strip():
        return value.strip()
    api_key = headers.get(b"x-api-key", b"").strip()
    return api_key or None


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def is_json_content_type(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the request has exactly one Content-Type and it is application/json (any case,
    any parameters). Two Content-Type headers are refused: the guard and BentoML could each read
    a different one."""
    values = [value for name, value in headers if name.lower() == b"content-type"]
    if len(values) != 1:
        return False
    media_type = values[0].split(b";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE.encode()


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than `limit` outside JSON strings (a linear scan, no parse)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """A JSON error body in BentoML's own shape: {"error": "..."}."""
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuardMiddleware:
    """401 without a valid key (when keys are set), 415 for a body that is not JSON on an API
    route, 413 for an oversized body, 400 for deep JSON; in that order."""

    def __init__(self, app: ASGIApp, api_keys: tuple[bytes, ...], max_body_bytes: int,
                 api_models: dict[str, tuple[type, type]] | None = None,
                 max_inflight_generations: int = 0, retry_after_s: int = 5) -> None:
        self.app = app
        self.max_inflight_generations = max_inflight_generations
        self.retry_after_s = retry_after_s
        self.inflight_generations = 0  # one event loop per worker: no lock needed
        self.api_keys = api_keys
        self.max_body_bytes = max_body_bytes
        self.api_models = api_models or {}
        # The API's own routes (BentoML's @bentoml.api): POST with a JSON body, nothing else.
        self.json_routes = frozenset(self.api_models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.api_keys and scope["method"] != "OPTIONS" and not is_open_path(scope["path"]):
            key = presented_key(headers)
            if key is None:
                await send_error(send, 401, "an API key is required: send 'Authorization: Bearer <key>' "
                                 "or 'X-API-Key: <key>'", {"WWW-Authenticate": REALM})
                return
            if not key_matches(key, self.api_keys):
                await send_error(send, 401, "the API key is not valid",
                                 {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
                return
        if (scope["method"] == "POST" and scope["path"] in self.json_routes
                and not is_json_content_type(scope.get("headers") or [])):
            # After the key check (an unauthenticated caller learns nothing), before the body is read.
            await send_error(send, 415, f"the request body must be JSON: send 'Content-Type: {JSON_MEDIA_TYPE}'",
                             {"Accept-Post": JSON_MEDIA_TYPE})
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_limited_body(headers, receive, send)
            if body is None:
                return
            if b"json" in headers.get(b"content-type", b"") and json_depth_exceeds(body, MAX_JSON_DEPTH):
                await send_error(send, 400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
                return
            receive = _replay(body, receive)
        if scope["path"] == "/docs.json" and scope["method"] == "GET":
            await self._send_amended_openapi(scope, receive, send)
            return
        if scope["path"] in GENERATION_PATHS and self.max_inflight_generations:
            await self._admit_generation(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit_generation(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inflight_generations >= self.max_inflight_generations:
            await send_error(send, 503, f"the service is at capacity ({self.max_inflight_generations} generations "
                             f"in progress); retry after {self.retry_after_s} s",
                             {"Retry-After": str(self.retry_after_s)})
            return
        self.inflight_generations += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.inflight_generations -= 1

        async def send_releasing(message: Message) -> None:
            # The slot is free once the answer is out: the app may still run background tasks
            # after it, and a client that sends its next request at once must find the slot free.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()

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

    async def _read_limited_body(self, headers: dict[bytes, bytes], receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (from Content-Length when there is one)."""
        too_large = (f"the request body is larger than {self.max_body_bytes} bytes "
                     f"(PLS_MAX_BODY_BYTES); send less text per request")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_error(send, 400, "the Content-Length header is not a number")
                return None
            if length > self.max_body_bytes:
                await send_error(send, 413, too_large, {"Connection": "close"})
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_error(send, 413, too_large, {"Connection": "close"})
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the already-read body to the app, then passes on disconnects."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def guard_options(config: Config, service: object) -> dict:
    """Keyword arguments for `add_asgi_middleware(RequestGuardMiddleware, **...)`."""
    from pls_core.openapi_doc import service_models

    return {"api_keys": load_api_keys(config), "max_body_bytes": config.max_body_bytes,
            "api_models": service_models(service), "max_inflight_generations": config.max_inflight_generations,
            "retry_after_s": config.retry_after_s}
