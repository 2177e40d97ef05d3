"""BentoML's request timeout, without keeping each request's context alive for the whole timeout.

BentoML 1.4.40's `TimeoutMiddleware` (bentoml/_internal/server/http/traffic.py) arms
`loop.call_later(timeout, ...)` for every request, HTTP or WebSocket, probes and 404s included,
and never cancels it. asyncio's timer keeps a copy of the request's contextvars until it fires,
and that context holds the request's OpenTelemetry span, whose name and attributes quote the path
and the URL three times over. So every request kept about three times its URL in the API worker's
memory for PLS_REQUEST_TIMEOUT_S (120 s): 2,000 requests of one 8 KB path (no key needed, a 404
each) added 55 MB, steadily, freed two minutes later; at a few hundred requests a second, with the
longest URL uvicorn takes (16 KB), gigabytes.

The subclass here keeps BentoML's behaviour (a 504 after `timeout` seconds without a first byte of
answer) but arms its timer in an empty context and cancels it as soon as the request is over (and a
request that ends without any answer, an error or a client gone, ends there instead of waiting
out the timeout).
`install()` puts it where BentoML's app factory looks it up (`BaseAppFactory.middlewares` imports
`TimeoutMiddleware` from the traffic module each time it builds an app); service.py calls it at
import, in every worker process. tests/unit/test_request_timeout.py fails if BentoML stops looking
the class up that way.
"""

from __future__ import annotations

import asyncio
import contextvars

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

_BentoMLTimeout = traffic.TimeoutMiddleware


class ContextFreeTimeoutMiddleware(_BentoMLTimeout):
    """BentoML's TimeoutMiddleware, its timer armed in an empty context and cancelled at the end."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        # An empty context: the timer must not keep this request's contextvars (its span) alive.
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter, context=contextvars.Context())

        async def _send(message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, _send))
        # A request that ends without a byte of answer (an error, or a client that went away)
        # ends here too, instead of waiting out the timeout.
        task.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except TimeoutError:
            if task.cancel():
                response = JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                                        status_code=504)
                await response(scope, receive, send)
        else:
            await task  # the answer has started: wait for the rest of it
        finally:
            timer.cancel()


def install() -> None:
    """Make BentoML build its services' apps with ContextFreeTimeoutMiddleware."""
    traffic.TimeoutMiddleware = ContextFreeTimeoutMiddleware
