"""BentoML's request timeout without holding each request's context (runners/request_timeout.py).
Against a real server (2,000 requests of 8 KB paths: the API worker's memory stays flat):
tests/integration/test_hostile_input.py."""

from __future__ import annotations

import asyncio
import contextvars
import inspect

import pytest
from bentoml._internal.server.http import traffic

from runners import request_timeout
from runners.request_timeout import ContextFreeTimeoutMiddleware

REQUEST_DATA: contextvars.ContextVar[str] = contextvars.ContextVar("request_data")


def test_bentoml_still_builds_its_timeout_middleware_from_the_module_attribute() -> None:
    from bentoml._internal.server.base_app import BaseAppFactory

    source = inspect.getsource(BaseAppFactory.middlewares.fget)
    assert "from .http.traffic import TimeoutMiddleware" in source
    assert issubclass(ContextFreeTimeoutMiddleware, traffic.TimeoutMiddleware)


def test_install_puts_the_subclass_where_bentoml_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traffic, "TimeoutMiddleware", traffic.TimeoutMiddleware)
    request_timeout.install()
    assert traffic.TimeoutMiddleware is ContextFreeTimeoutMiddleware


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _drive(middleware_class, app, seconds: float = 0.2):
    """One request through `middleware_class(app)` with request data in its context; what was
    sent, and the timers left armed in the loop afterwards with that data in their context."""
    sent: list[dict] = []

    async def scenario():
        REQUEST_DATA.set("x" * 8000)  # what OpenTelemetry's span holds: the path, three times

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            sent.append(message)

        await middleware_class(app, timeout=seconds)({"type": "http", "path": "/x"}, receive, send)
        loop = asyncio.get_running_loop()
        return [handle for handle in loop._scheduled  # asyncio's timer heap
                if not handle.cancelled() or REQUEST_DATA in handle._context]

    return sent, asyncio.run(scenario())


def test_the_timer_keeps_nothing_of_the_request_once_it_is_answered() -> None:
    """Before (BentoML's class): the armed timer held the request's context for the whole timeout."""
    _, left = _drive(request_timeout._BentoMLTimeout, _answer)
    assert left, "BentoML's own middleware should show the retention this module removes"
    sent, left = _drive(ContextFreeTimeoutMiddleware, _answer)
    assert sent[0]["status"] == 200 and left == []


def test_a_slow_request_still_gets_the_504() -> None:
    async def slow(scope, receive, send):
        await asyncio.Event().wait()  # no timer of its own in the loop

    sent, left = _drive(ContextFreeTimeoutMiddleware, slow, seconds=0.1)
    assert sent[0]["status"] == 504 and left == []


def test_a_request_that_fails_without_answering_ends_at_once() -> None:
    """BentoML's class waited out the whole timeout before the error surfaced."""
    async def broken(scope, receive, send):
        raise RuntimeError("no answer")

    async def scenario():
        started = asyncio.get_running_loop().time()
        with pytest.raises(RuntimeError, match="no answer"):
            await ContextFreeTimeoutMiddleware(broken, timeout=30)({"type": "http", "path": "/x"}, None, None)
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(scenario()) < 1
