"""Between the API and its runners (runners/resilience.py): a lost connection is a 503 with
Retry-After, retried only where that is safe; a runner that lost its connection is probed before
it gets more work; readiness is a bounded status question; the fault probes refuse bad arguments;
a model file without a recorded checksum is refused (pls_core/integrity.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from pls_core.integrity import TamperedModelError, verify_files
from runners import resilience
from runners.resilience import (
    RETRY_AFTER_S,
    ModelServiceUnavailable,
    Readiness,
    RetryAfterOn503,
    answers_status,
    call_runner,
)
from tests.support.processes import REPO


def test_a_missing_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "classifier.pkl").write_bytes(b"x")
    with pytest.raises(TamperedModelError, match=r"no sha256 recorded for classifier\.pkl"):
        verify_files(tmp_path, {"files_sha256": {}}, ["classifier.pkl"], tag="pls-classifier:abc")


@pytest.mark.parametrize("script, arguments, message", [
    ("overload_probe.py", ["--url", "http://127.0.0.1:9", "--header", "no-colon"], "is not NAME:VALUE"),
    ("overload_probe.py", ["--url", "http://127.0.0.1:9", "--clients", "0"], "must be above zero"),
    ("fault_kill_worker.py", ["--url", "http://127.0.0.1:9", "--serve-pid", "x"], "is not a number"),
])
def test_probe_scripts_refuse_bad_arguments_clearly(script: str, arguments: list[str], message: str) -> None:
    probes = REPO / "loadtests"
    result = subprocess.run([sys.executable, str(probes / script), *arguments],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# --- a runner that lost its connection is probed before it gets more work -------------------------

def _lost_connection(runner: str) -> None:
    async def disconnected():
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(ModelServiceUnavailable):
        asyncio.run(call_runner(runner, disconnected))


def test_after_a_lost_connection_an_unanswered_probe_is_a_503_at_once_and_the_call_is_not_sent() -> None:
    runner = "hung-runner"
    _lost_connection(runner)
    calls = []

    async def hangs():
        await asyncio.sleep(60)  # a restarting worker: the socket accepts, nobody answers

    async def generate():
        calls.append(1)
        return "summary"

    started = time.monotonic()
    with pytest.raises(ModelServiceUnavailable, match="hung-runner is restarting"):
        asyncio.run(call_runner(runner, generate, probe=hangs))
    assert time.monotonic() - started < resilience.PROBE_TIMEOUT_S + 1
    assert calls == []


def test_a_runner_that_answers_its_probe_again_gets_the_call_and_is_trusted_again() -> None:
    runner = "restarted-runner"
    _lost_connection(runner)
    probes = []

    async def status():
        probes.append(1)
        return {"device": "cpu"}

    async def generate():
        return "summary"

    assert asyncio.run(call_runner(runner, generate, probe=status)) == "summary"
    assert asyncio.run(call_runner(runner, generate, probe=status)) == "summary"
    assert probes == [1]  # probed once, after the loss; not before every call


def test_a_healthy_runner_is_never_probed() -> None:
    async def status():
        raise AssertionError("probed without a lost connection")

    async def generate():
        return "summary"

    assert asyncio.run(call_runner("healthy-runner", generate, probe=status)) == "summary"


def test_readiness_is_a_status_answer_within_the_probe_timeout() -> None:
    async def hangs():
        await asyncio.sleep(60)

    async def disconnected():
        raise aiohttp.ServerDisconnectedError()

    async def status():
        return {"device": "cpu"}

    started = time.monotonic()
    assert asyncio.run(answers_status(hangs)) is False
    assert time.monotonic() - started < resilience.PROBE_TIMEOUT_S + 1
    assert asyncio.run(answers_status(disconnected)) is False
    assert asyncio.run(answers_status(status)) is True


def test_readyz_answers_from_the_background_probes_and_sees_a_runner_go_within_a_round() -> None:
    """/readyz does not wait for the probes' round trips while a fresh result is there (under a
    flood the API's event loop made them take over a second), and a runner that stops answering
    turns it to "not ready" within one probe interval and the probe timeout."""
    state = {"delay": 0.0, "up": True, "calls": 0}

    async def status():
        state["calls"] += 1
        await asyncio.sleep(state["delay"])
        if not state["up"]:
            raise aiohttp.ServerDisconnectedError()
        return {}

    async def scenario() -> dict:
        readiness = Readiness(lambda: (status, status), interval_s=0.1, max_age_s=1.0, idle_stop_s=0.5)
        seen = {"first": await readiness.ready()}
        state["delay"] = 0.4  # the probes are slow now: the answers must not wait for them
        started = time.monotonic()
        seen["cached"] = await readiness.ready()
        seen["cached_took"] = time.monotonic() - started
        state.update(delay=0.0, up=False)
        await asyncio.sleep(0.6)  # a round that was slow, then one that fails
        seen["after_runner_went"] = await readiness.ready()
        await asyncio.sleep(1.0)  # nobody asks: the probing stops after idle_stop_s
        calls = state["calls"]
        await asyncio.sleep(0.5)
        seen["probes_while_idle"] = state["calls"] - calls
        return seen

    seen = asyncio.run(scenario())
    assert seen["first"] is True and seen["cached"] is True
    assert seen["cached_took"] < 0.05, seen
    assert seen["after_runner_went"] is False
    assert seen["probes_while_idle"] == 0, seen


def test_one_slow_probe_round_does_not_turn_a_ready_service_not_ready() -> None:
    """Under a flood one probe may miss the timeout behind the busy event loop: ready stays ready
    until two rounds in a row fail."""
    outcomes = iter([True, False, True, False, False])

    async def status():
        if not next(outcomes):
            raise aiohttp.ServerDisconnectedError()
        return {}

    async def scenario() -> list[bool]:
        readiness = Readiness(lambda: (status,), interval_s=3600)
        return [await readiness._probe_round() for _ in range(5)]

    assert asyncio.run(scenario()) == [True, True, True, True, False]


def test_not_ready_until_warm() -> None:
    async def status():
        return {}

    async def scenario() -> list[bool]:
        warm = asyncio.Event()
        readiness = Readiness(lambda: (status,), warm=warm)
        before = await readiness.ready()
        warm.set()
        return [before, await readiness.ready()]

    assert asyncio.run(scenario()) == [False, True]



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


def test_a_request_that_hit_a_closed_keep_alive_connection_is_sent_again() -> None:
    """Writing to a pooled connection the runner closed as idle fails with a broken pipe: the
    request never reached the runner, so even a generation is sent again (before: a 503 for about
    one normal request in forty under bursty traffic), and the runner is not taken for dead."""
    import errno

    attempts = []

    async def stale_then_fine():
        attempts.append(1)
        if len(attempts) == 1:
            raise aiohttp.ClientOSError(errno.EPIPE, "Broken pipe")
        return ["ok"]

    resilience._suspect_runners.discard("simplifier")
    assert asyncio.run(call_runner("simplifier", stale_then_fine)) == ["ok"]
    assert len(attempts) == 2 and "simplifier" not in resilience._suspect_runners

    # The same write failure as aiohttp words it when the body cannot be written.
    attempts.clear()

    async def body_not_written():
        attempts.append(1)
        if len(attempts) == 1:
            raise aiohttp.ClientOSError(None, "Can not write request body for http://127.0.0.1:3000/simplify")
        return ["ok"]

    assert asyncio.run(call_runner("simplifier", body_not_written)) == ["ok"] and len(attempts) == 2


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

    with pytest.raises(ValueError, match="bad tensor shape"):
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


def test_a_503_that_says_when_to_retry_keeps_its_own_message():
    """The request guard's "at capacity" 503 (it carries Retry-After) reaches the client as the
    guard wrote it; BentoML's bare 503 is still rewritten. Before: both said "the model service
    is busy or restarting", and the guard's own Retry-After was replaced."""
    from pls_core.http_guard import RequestGuardMiddleware
    from pls_core.schemas import GenerateRequest, GenerateResponse

    release = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await release.wait()  # the first generation runs until the second has its answer
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    # As service.py stacks them: RetryAfterOn503 outside the guard; room for one default generation.
    guard = RequestGuardMiddleware(app, api_keys=(), max_body_bytes=10_000, max_inflight_generations=1,
                                   api_models={"/generate": (GenerateRequest, GenerateResponse)}, retry_after_s=7)
    body = {"technical_text": "The patient had a myocardial infarction."}

    async def scenario():
        transport = httpx.ASGITransport(app=RetryAfterOn503(guard, retry_after_s=5))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.create_task(client.post("/generate", json=body))
            await asyncio.sleep(0.1)
            second = await client.post("/generate", json=body)
            release.set()
            return await first, second

    first, refused = asyncio.run(scenario())
    assert first.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "7"
    assert "at capacity" in refused.json()["error"], refused.text
