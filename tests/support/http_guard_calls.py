"""Driving the request guard (pls_core/http_guard.py) in unit tests as the server does, and the
keys those tests configure."""

from __future__ import annotations

import asyncio

KEY = "test-key-0123456789abcdef"
FILE_KEY = "file-key-fedcba9876543210"


def call(guard, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b'{"text": "x"}'):
    """Drive the guard as the server does; what it sent, whether it read the body, whether the app ran."""
    sent, read = [], []

    async def receive():
        read.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    asyncio.run(guard(scope, receive, send))
    return sent, bool(read)
