"""Admission by cost (pls_core/admission.py) and how the request guard applies it: a request is
let in when its cost fits beside the work in flight; generations cost chunks x beams x
max_length, /classify and /evaluate a share by their length; a share is freed when the answer is
out, when the client goes away (the request is cancelled) or when BentoML's timeout cancels it.
Against a real server: tests/integration/test_hostile_input.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pls_core.admission import (
    STANDARD_GENERATION,
    Admission,
    current_ticket,
    estimated_parts,
    evaluation_cost,
    generation_cost,
    text_cost,
)
from pls_core.http_guard import RequestGuardMiddleware
from tests.support.api_models import API_MODELS

TEXT = "The patient had a myocardial infarction."


def test_costs_follow_the_work() -> None:
    assert generation_cost(1, 4, 256) == STANDARD_GENERATION
    assert generation_cost(40, 10, 512) == 200 * STANDARD_GENERATION  # the hostile request
    assert text_cost("x" * 20_000) > text_cost("x" * 100) > 0
    assert text_cost("x" * 20_000) < STANDARD_GENERATION  # a classification is far cheaper than a generation
    with_reference = evaluation_cost("x" * 20_000, "y" * 20_000, "z" * 20_000)
    assert with_reference > evaluation_cost("x" * 20_000, "y" * 20_000, None)
    # At the door, one chunk at most one standard generation: the service asks for the rest.
    assert estimated_parts("/generate", {"technical_text": TEXT, "num_beams": 10, "max_length": 512}) == {
        "generation": STANDARD_GENERATION}
    assert estimated_parts("/generate", {"technical_text": TEXT, "num_beams": 2, "max_length": 100}) == {
        "generation": 200}
    assert estimated_parts("/livez", {}) is None


def test_a_ticket_grows_to_the_real_cost_or_refuses_and_frees_on_release() -> None:
    admission = Admission(10_000)
    first = admission.try_acquire({"generation": 1000})
    second = admission.try_acquire({"generation": 1000, "text": 500})
    assert first and second and admission.in_use == 2500
    assert not first.update(generation=9000)  # 9000 + 1500 > 10,000: nothing changes
    assert admission.in_use == 2500 and first.cost == 1000
    assert first.update(generation=8000) and admission.in_use == 9500
    assert admission.try_acquire({"text": 600}) is None
    first.release()
    first.release()  # once only
    assert admission.in_use == 1500
    second.release()
    assert admission.in_use == 0 and admission.tickets == 0


def test_a_request_bigger_than_the_capacity_runs_alone() -> None:
    admission = Admission(4096)
    huge = admission.try_acquire({"generation": generation_cost(40, 10, 512)})
    assert huge is not None and huge.cost == 4096
    assert admission.try_acquire({"text": 32}) is None
    huge.release()
    small = admission.try_acquire({"text": 32})
    assert small is not None
    assert admission.try_acquire({"generation": 10**9}) is None  # not while anything else runs


# --- the guard ---------------------------------------------------------------------------------

def guard(app, standard_generations: int = 1) -> RequestGuardMiddleware:
    return RequestGuardMiddleware(app, api_keys=(), max_body_bytes=100_000, api_models=API_MODELS,
                                  max_inflight_generations=standard_generations, retry_after_s=7)


def test_admission_counts_cost_not_requests_and_counts_classify_too() -> None:
    """With room for two default generations, one 10-beam 512-token generation fills it and a
    classification is refused beside it; before, a cap of 2 counted requests and never /classify."""
    release = asyncio.Event()
    seen: list[int] = []

    async def app(scope, receive, send):
        await receive()
        ticket = current_ticket()
        if scope["path"] == "/generate":
            assert ticket.update(generation=generation_cost(1, 10, 512))  # as the service does once chunked
        seen.append(ticket.cost if ticket else -1)
        if scope["path"] == "/generate":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    the_guard = guard(app, standard_generations=2)

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=the_guard), base_url="http://test") as http:
            big = asyncio.create_task(http.post("/generate", json={"technical_text": TEXT, "num_beams": 10,
                                                                   "max_length": 512}))
            await asyncio.sleep(0.1)
            refused = [await http.post("/classify", json={"text": TEXT}),
                       await http.post("/generate", json={"technical_text": TEXT, "num_beams": 1, "max_length": 50})]
            release.set()
            done = await big
            after = await http.post("/classify", json={"text": TEXT})
            return done, refused, after

    done, refused, after = asyncio.run(scenario())
    assert done.status_code == 200 and after.status_code == 200
    assert [answer.status_code for answer in refused] == [503, 503]
    assert all(answer.headers["retry-after"] == "7" and "at capacity" in answer.json()["error"] for answer in refused)
    assert seen == [2 * STANDARD_GENERATION, text_cost(TEXT)]  # the 5,120 asked for, clamped to the capacity
    assert the_guard.admission.in_use == 0


def test_costly_requests_being_parsed_leave_room_for_a_default_one() -> None:
    """Six 10-beam 512-token generations at the door, not yet chunked (the service will refuse
    them once it counts their chunks), beside a default one: before, each held 5,120 of a capacity
    of 32 standard generations at the door and the default request was refused."""
    admission = Admission.in_standard_generations(32)
    hostile = {"technical_text": "x, " * 100, "num_beams": 10, "max_length": 512}
    held = [admission.try_acquire(estimated_parts("/generate", hostile)) for _ in range(6)]
    held += [admission.try_acquire(estimated_parts("/classify", {"text": "x" * 20_000})) for _ in range(8)]
    assert all(held)
    assert admission.try_acquire(estimated_parts("/generate", {"technical_text": TEXT})) is not None
    assert not held[0].update(generation=generation_cost(40, 10, 512) - 1)  # the real figure does not fit


def test_the_service_extends_the_ticket_after_chunking_or_refuses() -> None:
    updates: list[bool] = []

    async def app(scope, receive, send):
        await receive()
        ticket = current_ticket()
        updates.append(ticket.update(generation=generation_cost(2, 4, 256)))  # fits: 2 of 3
        other = ticket.admission.try_acquire({"text": 32})  # another request comes in meanwhile
        updates.append(ticket.update(generation=generation_cost(3, 4, 256)))  # 3 + the other's: refused, unchanged
        other.release()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(ticket.cost).encode()})

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guard(app, 3)), base_url="http://test") as http:
            return await http.post("/generate", json={"technical_text": TEXT})

    answer = asyncio.run(scenario())
    assert updates == [True, False] and answer.text == str(2 * STANDARD_GENERATION)


def test_a_client_that_goes_away_frees_its_share_and_its_request_is_cancelled() -> None:
    """Before: the request ran on (and kept its place in the cap) until it finished or timed out."""
    cancelled = asyncio.Event()
    the_guard: RequestGuardMiddleware

    async def app(scope, receive, send):
        await receive()
        try:
            await asyncio.sleep(60)  # a long generation
        except asyncio.CancelledError:
            cancelled.set()
            raise

    sent: list[dict] = []

    async def scenario() -> None:
        nonlocal the_guard
        the_guard = guard(app)
        body_sent = asyncio.Event()
        leave = asyncio.Event()

        async def receive():
            if not body_sent.is_set():
                body_sent.set()
                return {"type": "http.request", "body": b'{"technical_text": "%s"}' % TEXT.encode(),
                        "more_body": False}
            await leave.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/generate", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")]}
        request = asyncio.create_task(the_guard(scope, receive, send))
        await asyncio.sleep(0.1)
        assert the_guard.admission.in_use == STANDARD_GENERATION
        leave.set()  # the client closes its connection
        await asyncio.wait_for(request, 5)

    asyncio.run(scenario())
    assert cancelled.is_set()
    assert the_guard.admission.in_use == 0
    assert sent[0]["status"] == 499  # for the access log; the server drops it


def test_a_request_cancelled_by_the_timeout_frees_its_share() -> None:
    """BentoML's TimeoutMiddleware cancels the task that runs the guard: the share is freed and
    the cancellation reaches the app (the service then tells the simplifier to drop its chunks)."""
    cancelled = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    the_guard = guard(app)

    async def scenario() -> None:
        async def receive():
            await asyncio.sleep(0)
            if not hasattr(receive, "done"):
                receive.done = True
                return {"type": "http.request", "body": b'{"technical_text": "%s"}' % TEXT.encode()}
            await asyncio.sleep(60)  # the client waits

        async def send(message):
            pass

        scope = {"type": "http", "method": "POST", "path": "/generate", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")]}
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(the_guard(scope, receive, send), 0.3)

    asyncio.run(scenario())
    assert cancelled.is_set() and the_guard.admission.in_use == 0


def test_the_probes_are_never_counted() -> None:
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    the_guard = guard(app)
    the_guard.admission.in_use = the_guard.admission.capacity  # full

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=the_guard), base_url="http://test") as http:
            return [(await http.get(path)).status_code for path in ("/livez", "/readyz", "/health", "/metrics")]

    assert asyncio.run(scenario()) == [200, 200, 200, 200]
