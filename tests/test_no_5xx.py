"""No 5xx under sustained concurrent load, and a lost runner connection is a 503, not a 500.

BentoML 1.4.40's inter-service client replaced its connection session every 100 requests while
requests were in flight on it: under concurrent load the API answered 500
(`ServerDisconnectedError`) to a burst of requests each time either runner passed another 100
calls. The load test below sends well over 100 requests to each runner, 16 at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import pytest

from runners.resilience import (
    RETRY_AFTER_S, ModelServiceUnavailable, RetryAfterOn503, call_runner,
)

USERS = 16
REQUESTS_PER_RUNNER = 160  # > the 100 at which BentoML's default recycles the session


def _load(server: str) -> tuple[Counter, list]:
    """REQUESTS_PER_RUNNER calls through each runner, USERS at a time; status codes counted."""
    bodies = [("/generate", {"technical_text": f"The patient had a myocardial infarction {i}.",
                             "num_beams": 1, "max_length": 50}) for i in range(REQUESTS_PER_RUNNER)]
    bodies += [("/classify", {"text": f"The patient had a heart attack {i}."}) for i in range(REQUESTS_PER_RUNNER)]
    bodies = bodies[::2] + bodies[1::2]  # both runners busy at the same time

    def send(chunk):
        statuses = []
        with httpx.Client(base_url=server, timeout=300) as client:
            for path, body in chunk:
                response = client.post(path, json=body)
                statuses.append((path, response.status_code, response.text[:200] if response.status_code >= 500 else ""))
        return statuses

    chunks = [bodies[i::USERS] for i in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        results = [item for statuses in pool.map(send, chunks) for item in statuses]
    return Counter((path, status) for path, status, _ in results), [r for r in results if r[1] >= 500]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sustained_concurrent_load_gets_no_5xx(server):
    counts, failures = _load(server)
    assert not failures, f"{len(failures)} answers were 5xx: {counts}; first: {failures[:3]}"
    assert counts[("/generate", 200)] == REQUESTS_PER_RUNNER
    assert counts[("/classify", 200)] == REQUESTS_PER_RUNNER


# --- the mapping of failures between services -------------------------------------------------

def test_a_lost_runner_connection_becomes_a_model_service_unavailable():
    calls = []

    async def disconnected():
        calls.append(1)
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(ModelServiceUnavailable) as raised:
        asyncio.run(call_runner("simplifier", disconnected))
    assert raised.value.error_code == 503
    assert "simplifier is busy or restarting" in str(raised.value)
    assert len(calls) == 1  # a generation that may have run is not repeated


def test_only_safe_failures_are_retried_once_and_logged(caplog):
    attempts = []

    async def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise aiohttp.ServerDisconnectedError()
        return [0.25]

    assert asyncio.run(call_runner("classifier", flaky, retry_on=(aiohttp.ClientConnectionError,))) == [0.25]
    assert len(attempts) == 2
    assert "retrying once" in caplog.text

    async def always_down():
        attempts.append(1)
        raise aiohttp.ServerDisconnectedError()

    attempts.clear()
    with pytest.raises(ModelServiceUnavailable):
        asyncio.run(call_runner("classifier", always_down, retry_on=(aiohttp.ClientConnectionError,)))
    assert len(attempts) == 2  # bounded: one retry, then 503


def test_a_model_error_is_not_disguised_as_unavailable():
    async def broken():
        raise ValueError("bad tensor shape")

    with pytest.raises(ValueError):
        asyncio.run(call_runner("simplifier", broken))


def test_every_503_gets_retry_after_and_a_body_that_says_why():
    async def app(scope, receive, send):
        status = 503 if scope["path"] == "/busy" else 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def get(path):
        transport = httpx.ASGITransport(app=RetryAfterOn503(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    busy = asyncio.run(get("/busy"))
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "model service is busy or restarting" in json.loads(busy.content)["error"]
    fine = asyncio.run(get("/fine"))
    assert fine.status_code == 200 and "retry-after" not in fine.headers and fine.content == b"{}"
