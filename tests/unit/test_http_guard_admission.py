"""Overload in the request guard (pls_core/http_guard.py): admission by cost on every API route,
the share released with the answer, and the default settings against the load-test profile."""

from __future__ import annotations

import httpx

from pls_core.config import load_config
from tests.support.api_models import API_MODELS

GENERATE = {"technical_text": "The patient had a myocardial infarction.", "num_beams": 4, "max_length": 256}


def test_a_generation_slot_is_free_once_the_answer_is_sent() -> None:
    """A client that sends its next request as soon as it has an answer is never refused: the
    share is released with the last byte, not after the app's background work."""
    import asyncio

    from pls_core.http_guard import RequestGuardMiddleware

    async def scenario() -> list[int]:
        background_done = asyncio.Event()

        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            if scope["query_string"] == b"first":
                await background_done.wait()  # BentoML's background tasks, after the answer

        # Room for one default generation (1 chunk x 4 beams x 256 tokens).
        guard = RequestGuardMiddleware(app, api_keys=(), max_body_bytes=10_000, max_inflight_generations=1,
                                       api_models=API_MODELS)
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            first = asyncio.create_task(http.post("/generate?first", json=GENERATE))
            await asyncio.sleep(0.05)  # the first answer is out; its background work is not done
            second = await http.post("/generate", json=GENERATE)
            background_done.set()
            return [(await first).status_code, second.status_code, guard.admission.in_use]

    assert asyncio.run(scenario()) == [200, 200, 0]


def test_the_default_overload_settings_shed_early_and_never_refuse_the_steady_profile() -> None:
    """A request beyond capacity is refused at once (a cap is on by default), a queued one is
    refused well before the request timeout, and the locust steady profile is never refused, even
    at its costliest moment: every generation user in a long text with 4 beams at once."""
    import ast

    from loadtests.checks import load_texts
    from loadtests.run import PROFILES
    from pls_core.admission import STANDARD_GENERATION, evaluation_cost, generation_cost, text_cost
    from tests.support.processes import REPO

    config = load_config({})
    assert config.max_inflight_generations > 0, "no admission cap: a burst queues until the timeout"
    # A queued request starts within a few seconds or is refused: a fraction of the timeout.
    assert config.max_latency_ms / 1000 <= config.request_timeout_s / 10
    # The locustfile's user weights and beam choices, read without importing it (locust patches
    # the standard library with gevent on import).
    tree = ast.parse((REPO / "loadtests" / "locustfile.py").read_text())
    constants = {target.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name) and target.id == "BEAMS"}
    weights = {node.name: ast.literal_eval(item.value) for node in tree.body if isinstance(node, ast.ClassDef)
               for item in node.body if isinstance(item, ast.Assign)
               and any(getattr(target, "id", None) == "weight" for target in item.targets)}
    BEAMS = constants["BEAMS"]
    ClassifyUser, GenerateUser, GenerateWithMetricsUser = "ClassifyUser", "GenerateUser", "GenerateWithMetricsUser"
    users = PROFILES["steady"]["users"]
    classes = (ClassifyUser, GenerateUser, GenerateWithMetricsUser)
    total_weight = sum(weights[user] for user in classes)
    # Users per class as locust spreads them by weight (largest remainder): 8, 5 and 3.
    count = {user: users * weights[user] // total_weight for user in classes}
    by_remainder = sorted(classes, key=lambda user: -(users * weights[user] % total_weight))
    for user in by_remainder[:users - sum(count.values())]:
        count[user] += 1
    assert count == {ClassifyUser: 8, GenerateUser: 5, GenerateWithMetricsUser: 3}, count
    texts = load_texts()
    longest = {size: max(texts[size], key=lambda text: len(text.text)) for size in texts}
    # The t5-base tokenizer cuts the long texts (three abstracts) into 4 or 5 chunks (measured).
    chunks = {"short": 1, "medium": 1, "long": 5}
    worst_generate = max(generation_cost(chunks[size], max(BEAMS), longest[size].max_length) for size in texts)
    worst_with_metrics = max(
        generation_cost(chunks[size], max(BEAMS), longest[size].max_length)
        + evaluation_cost(longest[size].text, longest[size].text, longest[size].reference)
        for size in ("short", "medium"))
    worst_classify = max(text_cost(text.reference if len(text.reference) > len(text.text) else text.text)
                         for size in ("short", "medium") for text in texts[size])
    worst = (count[GenerateUser] * worst_generate + count[GenerateWithMetricsUser] * worst_with_metrics
             + count[ClassifyUser] * worst_classify)
    assert worst <= config.max_inflight_generations * STANDARD_GENERATION, worst / STANDARD_GENERATION
