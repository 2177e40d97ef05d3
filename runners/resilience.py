"""Calls between the API service and its runner services that never surface as a bare 500.

Three parts, each small:

- `RUNNER_CONNECTION`: the `runner_connection` setting every runner service is declared with.
  BentoML 1.4.40's inter-service client (`_bentoml_impl/client/proxy2.py`, `SessionManager`)
  replaces its aiohttp session every `max_requests` (default 100) requests or `max_age`
  (default 300 s) and closes the old session while other requests are still in flight on it;
  those requests fail with `ServerDisconnectedError` although the runner answers them
  (bentoml/BentoML#5540). The runners live on the same host (a Unix socket or 127.0.0.1), so
  there is nothing to gain from recycling the session: we keep one for the life of the worker.
- `call_runner`: turns a failure of the call itself (connection lost, runner restarting, runner
  overloaded or timed out) into `ModelServiceUnavailable` (503). Only calls the caller marks
  safe to repeat are retried, once, after a short pause, and every retry is logged.
- `call_runner(..., probe=...)`: after a runner's connection was lost (its worker died), later
  calls first ask the runner's cheap `status` to answer within `PROBE_TIMEOUT_S`, and get 503 at
  once when it does not. BentoML's process manager (circus) keeps the runner's listening socket
  open while it replaces the dead worker: a new connection is accepted by the kernel and then
  waits, unanswered, for the whole restart (20-30 s: circus looks for dead workers every 10 s,
  then the model loads), or for the request timeout inside a container, where BentoML does not
  restart workers at all (`BENTOML_CONTAINERIZED`).
- `RetryAfterOn503`: an ASGI middleware for the API service that gives every 503 a
  `Retry-After` header and a body saying the model service is busy or restarting (BentoML's
  own 503 body says only "An unexpected error has occurred"). A 503 that already says when to
  retry (it has `Retry-After`: the request guard's or the service's "at capacity") is ours, with
  its own message, and passes unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import TypeVar

import aiohttp
from bentoml.exceptions import BentoMLException, ServiceUnavailable

from pls_core.config import Config, service_traffic
from runners.request_outcomes import note_unavailable
from runners.tracing import tracing_options

logger = logging.getLogger("bentoml.pls.resilience")

T = TypeVar("T")

# One session for the life of the API worker (see the module docstring for why).
RUNNER_CONNECTION = {"max_requests": 2**62, "max_age": 10.0**12}


def runner_service_options(name: str, workers: int, config: Config) -> dict:
    """`@bentoml.service` options of a runner service: its name and workers, the request timeout
    every service shares, and the connection session kept for the life of the API worker."""
    return {"name": name, "workers": workers, "traffic": service_traffic(config),
            "runner_connection": RUNNER_CONNECTION, **tracing_options(config)}

RETRY_AFTER_S = 5
RETRY_PAUSE_S = 0.2
UNAVAILABLE_MESSAGE = "The model service is busy or restarting; retry after {seconds} seconds."

# The connection to the runner could not even be opened: the request was never sent, so
# repeating it is safe for any call (nothing was computed).
NOT_SENT = (aiohttp.ClientConnectorError,)
# Any loss of the connection: the runner may have done the work already. Repeat only calls that
# are cheap and have no effect beyond their answer (classifier probabilities, status).
CONNECTION_LOST = (aiohttp.ClientConnectionError,)


class ModelServiceUnavailable(ServiceUnavailable):
    """A runner service could not answer: the client gets 503 with Retry-After."""


# Runners whose connection was lost and that have not answered a status probe since. One set per
# API worker process (each has its own event loop and its own connections to the runners).
_suspect_runners: set[str] = set()
PROBE_TIMEOUT_S = 1.0  # `status` answers in milliseconds on the runner's event loop, even mid-batch


async def answers_status(probe: Callable[[], Awaitable[object]]) -> bool:
    """Whether a runner answers its status probe within PROBE_TIMEOUT_S (readiness, and a suspect's check)."""
    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
    except Exception:  # no answer, a lost connection, an error: all mean not (yet) back
        return False
    return True


class Readiness:
    """Whether every runner answers its status probe, as of at most `max_age_s` ago.

    /readyz (the ALB's health check, 5 s timeout) is answered from the last probe round instead of
    probing on the request: under a flood of long texts the API worker's event loop is busy, and
    two probe round trips on top of its lag made /readyz take over a second while /livez took
    half that. Once asked, a task probes every `interval_s` for as long as /readyz keeps being
    asked (it stops after `idle_stop_s` without a question), and a question with no fresh result
    (the first, or after a pause) waits for a probe round of its own, bounded by
    PROBE_TIMEOUT_S. A ready service turns "not ready" after `failures_to_fail` failed rounds in a
    row: under a flood, one probe that misses the timeout behind the busy event loop is no reason
    to leave the load balancer (a dead runner fails every round: 2-3 s)."""

    def __init__(self, probes: Callable[[], Sequence[Callable[[], Awaitable[object]]]], interval_s: float = 1.0,
                 max_age_s: float = 3.0, idle_stop_s: float = 60.0, warm: asyncio.Event | None = None,
                 failures_to_fail: int = 2) -> None:
        self._probes = probes  # called on first use: BentoML's clients exist only in the worker
        self.warm = warm  # set once the warm-up is done (runners/warmup.py); None: no warm-up
        self.interval_s, self.max_age_s, self.idle_stop_s = interval_s, max_age_s, idle_stop_s
        self._result: tuple[float, bool] | None = None  # (monotonic time, ready)
        self.failures_to_fail = failures_to_fail
        self._failures = 0  # failed rounds in a row
        self._asked_at = 0.0
        self._task: asyncio.Task | None = None

    async def _probe_round(self) -> bool:
        answered = all(await asyncio.gather(*(answers_status(probe) for probe in self._probes())))
        self._failures = 0 if answered else self._failures + 1
        was_ready = self._result is not None and self._result[1]
        ready = answered or (was_ready and self._failures < self.failures_to_fail)
        self._result = (time.monotonic(), ready)
        return ready

    async def _keep_probing(self) -> None:
        while time.monotonic() - self._asked_at < self.idle_stop_s:
            await asyncio.sleep(self.interval_s)
            await self._probe_round()

    async def ready(self) -> bool:
        if self.warm is not None and not self.warm.is_set():
            return False
        self._asked_at = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._keep_probing())
        if self._result is not None and time.monotonic() - self._result[0] <= self.max_age_s:
            return self._result[1]
        return await self._probe_round()


async def _check_suspect(runner: str, probe: Callable[[], Awaitable[object]]) -> None:
    """503 at once unless a runner that lost a connection answers its status probe again."""
    if not await answers_status(probe):
        note_unavailable()
        raise ModelServiceUnavailable(
            f"{runner} is restarting (no answer to a status check within {PROBE_TIMEOUT_S:g} s)")
    _suspect_runners.discard(runner)
    logger.warning("%s answers again after a lost connection", runner)


def _is_unavailable(exc: BaseException) -> bool:
    """A failure of the call between services rather than an error in the model code."""
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return True
    # The runner answered 503 (its batch queue is over the latency budget) or 504 (timeout).
    return isinstance(exc, BentoMLException) and exc.error_code in (
        HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.GATEWAY_TIMEOUT,
    )


def was_not_sent(exc: BaseException) -> bool:
    """The request never reached the runner, so repeating it is safe for any call: the connection
    could not be opened, or writing to a kept-alive connection hit a broken pipe. The runner's
    server closes a connection idle for 5 s while the client's pool keeps it for 15 s; a request
    sent on it as it closes fails so (seen under light, bursty traffic: 2 normal requests of 73)."""
    if isinstance(exc, NOT_SENT):
        return True
    # aiohttp reports the write failing either as the broken pipe itself or as its own message.
    return isinstance(exc, aiohttp.ClientOSError) and (
        exc.errno == errno.EPIPE or "Can not write request body" in str(exc))


def _is_shed(exc: BaseException) -> bool:
    """The runner refused the work by design: its batch queue is over the latency budget."""
    return isinstance(exc, BentoMLException) and exc.error_code == HTTPStatus.SERVICE_UNAVAILABLE


async def call_runner(
    runner: str,
    call: Callable[[], Awaitable[T]],
    retry_on: tuple[type[BaseException], ...] = NOT_SENT,
    probe: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Await `call()`, repeating it once on a `retry_on` failure; map call failures to 503.

    `call` must build a fresh request each time it is invoked (pass a lambda, not a coroutine).
    `probe` (the runner's `status`) is awaited first when the runner lost a connection before.
    """
    for attempt in (1, 2):
        if probe is not None and runner in _suspect_runners:
            await _check_suspect(runner, probe)
        try:
            return await call()
        except Exception as exc:  # sorted below; model errors re-raised as they are
            if isinstance(exc, CONNECTION_LOST) and not was_not_sent(exc):
                _suspect_runners.add(runner)
            if attempt == 1 and (isinstance(exc, retry_on) or was_not_sent(exc)):
                logger.warning("call to %s failed (%s: %s); retrying once", runner, type(exc).__name__, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if _is_unavailable(exc):
                if not _is_shed(exc):
                    note_unavailable()  # for the metrics: a failure, not load shedding
                logger.error("call to %s failed after %d attempt(s): %s: %s",
                             runner, attempt, type(exc).__name__, exc)
                raise ModelServiceUnavailable(
                    f"{runner} is busy or restarting ({type(exc).__name__})"
                ) from exc
            raise
    raise AssertionError("unreachable")


class RetryAfterOn503:
    """ASGI middleware: every 503 answer gets `Retry-After` and a body that says why; one that
    carries `Retry-After` already keeps its own body."""

    def __init__(self, app, retry_after_s: int = RETRY_AFTER_S) -> None:
        self.app = app
        self.retry_after_s = retry_after_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_with_retry_after(message) -> None:
            nonlocal replacing
            if (message["type"] == "http.response.start" and message["status"] == 503
                    and not any(name.lower() == b"retry-after" for name, _ in message.get("headers", []))):
                replacing = True
                body = json.dumps({
                    "error": UNAVAILABLE_MESSAGE.format(seconds=self.retry_after_s),
                    "retry_after_s": self.retry_after_s,
                }).encode()
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-length", b"content-type", b"retry-after")]
                headers += [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(self.retry_after_s).encode())]
                await send({**message, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            if replacing:
                return  # the original 503 body is replaced by ours
            await send(message)

        await self.app(scope, receive, send_with_retry_after)
