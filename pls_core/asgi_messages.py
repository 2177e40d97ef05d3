"""The ASGI shapes the request guard (pls_core/http_guard.py) works with, and the two ways it
answers: an error of its own, or the app's answer with headers added."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, message: str | dict, headers: dict[str, str] | None = None) -> None:
    """A JSON error body in BentoML's own shape: {"error": "..."} (or the dict given)."""
    body = json.dumps(message if isinstance(message, dict) else {"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def with_headers(send: Send, extra: Iterable[tuple[bytes, bytes]]) -> Send:
    """`send` that adds `extra` to the answer's headers (unless the app set them itself)."""
    extra = tuple(extra)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            added = [(name, value) for name, value in extra if name not in present]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return sending
