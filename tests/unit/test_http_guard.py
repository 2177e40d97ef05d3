"""Access control and hostile input: the key check and request limits, in unit tests of
pls_core/http_guard.py and against a real `bentoml serve` with API keys on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pls_core.config import ConfigError, load_config
from pls_core.http_guard import (
    json_depth_exceeds,
    key_matches,
    load_api_keys,
    presented_key,
)
from tests.support.api_models import API_MODELS

# The unit tests are fast; the module's server tests share one `bentoml serve` (~40 s to start).

KEY = "test-key-0123456789abcdef"
FILE_KEY = "file-key-fedcba9876543210"


GENERATE = {"technical_text": "The patient had a myocardial infarction.", "num_beams": 4, "max_length": 256}


# --- unit: configuration and key matching ----------------------------------------------------
def test_keys_from_the_variable_and_the_file_are_both_accepted(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-11\n{FILE_KEY}\n\n")
    config = load_config({"PLS_API_KEYS": f" {KEY} ,", "PLS_API_KEYS_FILE": str(key_file)})
    assert load_api_keys(config) == (KEY.encode(), FILE_KEY.encode())


def test_no_keys_means_access_control_off() -> None:
    assert load_api_keys(load_config({})) == ()


@pytest.mark.parametrize("env,message", [
    ({"PLS_API_KEYS": "short"}, "key 1 is shorter than 16"),
    ({"PLS_API_KEYS": f"{KEY},{KEY[:-1]}é"}, "key 2 must be printable ASCII"),
])
def test_weak_or_odd_keys_are_refused_without_echoing_them(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(env)
    assert "short" not in str(raised.value).replace("shorter", "")


def test_an_unreadable_or_empty_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_api_keys(load_config({"PLS_API_KEYS_FILE": str(tmp_path / "missing")}))
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="holds no key"):
        load_api_keys(load_config({"PLS_API_KEYS_FILE": str(tmp_path / "empty")}))


def test_keys_never_appear_in_the_config_repr() -> None:
    assert KEY not in repr(load_config({"PLS_API_KEYS": KEY}))


def test_key_is_read_from_bearer_or_x_api_key() -> None:
    assert presented_key({b"authorization": b"Bearer abc"}) == b"abc"
    assert presented_key({b"authorization": b"bearer  abc "}) == b"abc"
    assert presented_key({b"x-api-key": b"abc"}) == b"abc"
    assert presented_key({b"authorization": b"Basic abc"}) is None
    assert presented_key({}) is None


def test_key_matching_is_exact() -> None:
    keys = (KEY.encode(), FILE_KEY.encode())
    assert key_matches(FILE_KEY.encode(), keys)
    assert not key_matches(KEY.encode()[:-1], keys)
    assert not key_matches(KEY.encode() + b"x", keys)
    assert not key_matches(KEY.upper().encode(), keys)


def test_json_depth_scan_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(json.dumps({"text": "[[[[{{{{" * 50}).encode(), 4)
    assert not json_depth_exceeds(json.dumps({"text": 'a \\" [[[['}).encode(), 2)
    assert json_depth_exceeds(b'{"a":' * 5 + b"1" + b"}" * 5, 4)


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


# --- overload: admission by cost on every API route ----------------------------------------------
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


# --- content types: JSON only on the API's POST routes ------------------------------------------
API_ROUTES = ("/generate", "/classify", "/evaluate", "/generate-with-metrics")
NOT_JSON_HEADERS = {
    "multipart-with-boundary": [(b"content-type", b"multipart/form-data; boundary=xyz")],
    "multipart-without-boundary": [(b"content-type", b"multipart/form-data")],
    "text-plain": [(b"content-type", b"text/plain;charset=UTF-8")],
    "xml": [(b"content-type", b"application/xml")],
    "form-urlencoded": [(b"content-type", b"application/x-www-form-urlencoded")],
    "no-content-type": [],
    "json-suffix": [(b"content-type", b"application/merge-patch+json")],
    "json-and-text": [(b"content-type", b"application/json"), (b"content-type", b"text/plain")],
}


def guard_for_the_api(app, **options):
    from pls_core.http_guard import RequestGuardMiddleware

    return RequestGuardMiddleware(app, max_body_bytes=1000, api_models=dict.fromkeys(API_ROUTES, (dict, dict)),
                                  **{"api_keys": (), **options})


def call(guard, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b'{"text": "x"}'):
    """Drive the guard as the server does; what it sent, whether it read the body, whether the app ran."""
    import asyncio

    sent, read = [], []

    async def receive():
        read.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    asyncio.run(guard(scope, receive, send))
    return sent, bool(read)


async def ok_app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize("case", sorted(NOT_JSON_HEADERS))
def test_a_body_that_is_not_json_is_a_415_before_it_is_read(case: str, route: str) -> None:
    sent, read = call(guard_for_the_api(ok_app), "POST", route, NOT_JSON_HEADERS[case])
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 415
    assert headers[b"content-type"] == b"application/json" and headers[b"accept-post"] == b"application/json"
    assert json.loads(body["body"]) == {"error": "the request body must be JSON: send 'Content-Type: application/json'"}
    assert not read, "the body was read before the 415"


@pytest.mark.parametrize("content_type", [b"application/json", b"application/json; charset=utf-8",
                                          b"Application/JSON ;charset=UTF-8"])
def test_json_with_any_case_or_parameters_reaches_the_api(content_type: bytes) -> None:
    for route in API_ROUTES:
        sent, read = call(guard_for_the_api(ok_app), "POST", route, [(b"content-type", content_type)])
        assert sent[0]["status"] == 200 and read, route


def test_the_key_check_comes_before_the_content_type_check() -> None:
    """Without a valid key the answer is the 401 whatever the body: the 415 tells a stranger nothing."""
    guard = guard_for_the_api(ok_app, api_keys=(KEY.encode(),))
    assert call(guard, "POST", "/classify", [(b"content-type", b"text/plain")])[0][0]["status"] == 401
    wrong = [(b"content-type", b"text/plain"), (b"x-api-key", FILE_KEY.encode())]
    assert call(guard, "POST", "/classify", wrong)[0][0]["status"] == 401
    right = [(b"content-type", b"text/plain"), (b"x-api-key", KEY.encode())]
    assert call(guard, "POST", "/classify", right)[0][0]["status"] == 415


@pytest.mark.parametrize("method,path", [("GET", "/health"), ("GET", "/livez"), ("GET", "/generate"),
                                         ("OPTIONS", "/generate"), ("POST", "/not-an-api")])
def test_other_methods_and_routes_are_not_asked_for_a_content_type(method: str, path: str) -> None:
    sent, _ = call(guard_for_the_api(ok_app), method, path, [(b"content-type", b"text/plain")])
    assert sent[0]["status"] == 200


def test_the_415_carries_the_cors_headers_and_preflights_are_untouched() -> None:
    """As service.py stacks them: CORS outside the guard. A page on an allowed origin can read
    the 415; its preflight never reaches the guard's checks."""
    import asyncio

    from starlette.middleware.cors import CORSMiddleware

    origin = "https://allowed.example.org"
    app = CORSMiddleware(guard_for_the_api(ok_app, api_keys=(KEY.encode(),)), allow_origins=[origin],
                         allow_methods=["GET", "POST"], allow_headers=["Content-Type", "Authorization", "X-API-Key"])

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            preflight = await http.options("/generate", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key"})
            simple = await http.post("/generate", content=b'{"technical_text": "x"}',
                                     headers={"Origin": origin, "Content-Type": "text/plain", "X-API-Key": KEY})
            return preflight, simple

    preflight, simple = asyncio.run(scenario())
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    assert simple.status_code == 415 and simple.headers["access-control-allow-origin"] == origin
    assert "application/json" in simple.json()["error"]


def test_the_api_document_lists_the_415_on_every_api_route() -> None:
    from pydantic import BaseModel

    from pls_core.openapi_doc import amend_openapi

    class Model(BaseModel):
        text: str

    operation = {"requestBody": {"content": {"application/json": {}}},
                 "responses": {"200": {"content": {"application/json": {}}}}}
    spec = {"paths": {route: {"post": json.loads(json.dumps(operation))} for route in API_ROUTES}}
    for keys_required in (False, True):
        amended = amend_openapi(spec, dict.fromkeys(API_ROUTES, (Model, Model)), keys_required=keys_required)
        for route in API_ROUTES:
            answer = amended["paths"][route]["post"]["responses"]["415"]
            assert "application/json" in answer["description"]
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


# --- issue 25: hostile input ------------------------------------------------------------------
def api_guard(app, **options):
    """The guard as service.py builds it: the API's real request models."""
    from pls_core.http_guard import RequestGuardMiddleware

    return RequestGuardMiddleware(app, **{"api_keys": (), "max_body_bytes": 1_000_000, "api_models": API_MODELS,
                                          **options})


JSON_HEADERS = [(b"content-type", b"application/json")]


def app_that_must_not_run(scope, receive, send):
    raise AssertionError(f"the app was reached: {scope['type']} {scope.get('path')}")


@pytest.mark.parametrize("method,path", [("POST", "/ui"), ("POST", "/livez"), ("PUT", "/lexicon"), ("POST", "/"),
                                         ("DELETE", "/docs.json"), ("POST", "/static_content/swagger-ui.css"),
                                         ("PATCH", "/ui/app.js")])
def test_open_paths_refuse_other_methods_before_reading_the_body(method: str, path: str) -> None:
    """Before: a POST to /ui read and scanned up to PLS_MAX_BODY_BYTES, then got 405 from the app."""
    sent, read = call(api_guard(app_that_must_not_run), method, path, JSON_HEADERS, body=b"x" * 1_000_000)
    assert sent[0]["status"] == 405 and not read
    assert dict(sent[0]["headers"])[b"allow"] == b"GET, HEAD"


def test_other_routes_never_have_their_body_read_by_the_guard() -> None:
    """A POST to a path that takes no body (unknown, /health, /metrics) is passed on unread: the
    app answers 404 or 405 without reading it."""
    async def not_found(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for path in ("/no-such-path", "/health", "/metrics"):
        sent, read = call(api_guard(not_found), "POST", path, JSON_HEADERS, body=b"x" * 1_000_000)
        assert sent[0]["status"] == 404 and not read, path


@pytest.mark.parametrize("keys", [(), (KEY.encode(),)], ids=["keys-off", "keys-on"])
def test_websocket_connections_are_refused_before_the_app(keys: tuple) -> None:
    """Before: a WebSocket scope skipped the key check and went on to the app."""
    import asyncio

    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/generate", "headers": [], "query_string": b""}
    asyncio.run(api_guard(app_that_must_not_run, api_keys=keys)(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_keys_are_compared_as_digests_of_one_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare_digest's time depends on its arguments' lengths: it is only ever given 32-byte
    digests. Before: the raw key presented was compared with each configured key."""
    import hmac

    lengths = []
    real = hmac.compare_digest

    def recording(a, b):
        lengths.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    keys = (KEY.encode(), (FILE_KEY * 3).encode())
    for presented in (b"x", KEY.encode(), b"y" * 5000):
        key_matches(presented, keys)
    assert key_matches(KEY.encode(), keys) and not key_matches(KEY.encode()[:-1], keys)
    assert set(lengths) == {(32, 32)}, set(lengths)


@pytest.mark.parametrize("content_type", [b"APPLICATION/JSON", b"Application/Json; charset=UTF-8"])
def test_deep_json_is_refused_whatever_the_case_of_its_content_type(content_type: bytes) -> None:
    """Before: the depth scan ran only when the Content-Type held a lowercase `json`, and the 415
    rule lets any case of application/json through, so these bodies reached the parser."""
    body = b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    sent, _ = call(api_guard(app_that_must_not_run), "POST", "/classify", [(b"content-type", content_type)], body)
    assert sent[0]["status"] == 400
    assert b"nests deeper" in sent[1]["body"]


@pytest.mark.parametrize("body,key", [
    (b'{"text": "The patient had a heart attack.", "text": 5}', "text"),
    (b'{"technical_text": "The patient had a heart attack.", "num_beams": 1, "num_beams": 10}', "num_beams"),
])
def test_duplicate_keys_are_a_400_naming_the_key(body: bytes, key: str) -> None:
    """Before: the last value won silently."""
    path = "/classify" if b'"text"' in body else "/generate"
    sent, _ = call(api_guard(app_that_must_not_run), "POST", path, JSON_HEADERS, body)
    assert sent[0]["status"] == 400
    error = json.loads(sent[1]["body"])["error"]
    assert f"'{key}' more than once" in error


NAME = "Zebedee Quixworth-Abernathy"
LEAKY_BODIES = {
    # What BentoML's log quoted before, each beside the field it says is wrong.
    "max-length-out-of-range": ("/generate", {"technical_text": f"{NAME} had a myocardial infarction.",
                                              "max_length": 5000}, "max_length"),
    "max-length-a-string": ("/generate", {"technical_text": "The patient had a myocardial infarction.",
                                          "max_length": f"512 for {NAME}"}, "max_length"),
    "misspelt-field": ("/generate", {"technical_txt": f"{NAME} had a myocardial infarction."}, "technical_text"),
    "text-too-short": ("/classify", {"text": NAME[:8]}, "text"),
    "text-too-long": ("/classify", {"text": f"{NAME} " + "x" * 30_000 + f" {NAME}"}, "text"),
}


@pytest.mark.parametrize("case", sorted(LEAKY_BODIES))
def test_a_validation_error_names_the_field_and_logs_no_input(case: str, caplog: pytest.LogCaptureFixture) -> None:
    path, body, field = LEAKY_BODIES[case]
    caplog.set_level("INFO")
    sent, _ = call(api_guard(app_that_must_not_run), "POST", path, JSON_HEADERS, json.dumps(body).encode())
    assert sent[0]["status"] == 400
    answer = json.loads(sent[1]["body"])
    assert field in [part for error in answer["detail"] for part in error["loc"]], answer
    assert all({"loc", "msg", "type"} == set(error) for error in answer["detail"])  # no input, no url
    assert NAME not in sent[1]["body"].decode() and "Zebedee" not in caplog.text
    assert "validation failed" in caplog.text


def test_sixty_thousand_unknown_keys_get_a_small_answer_and_a_small_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Before: a 10.7 MB log record and a 9 MB answer (one error per key, each quoting the input)."""
    caplog.set_level("INFO")
    body = json.dumps({f"k{number}": 1 for number in range(60_000)}).encode()
    assert len(body) > 600_000
    sent, _ = call(api_guard(app_that_must_not_run), "POST", "/classify", JSON_HEADERS, body)
    assert sent[0]["status"] == 400
    answer = sent[1]["body"]
    assert len(answer) < 2_000, len(answer)
    assert "60000 unknown fields" in json.loads(answer)["error"]
    assert len(caplog.text) < 1_000, len(caplog.text)


def test_the_web_page_gets_strict_security_headers_and_every_answer_nosniff() -> None:
    async def page(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html></html>"})

    for path in ("/ui", "/ui/app.js", "/ui/no-such-file"):
        headers = dict(call(api_guard(page), "GET", path, [])[0][0]["headers"])
        csp = headers[b"content-security-policy"].decode()
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers[b"x-frame-options"] == b"DENY" and headers[b"x-content-type-options"] == b"nosniff"
        assert headers[b"referrer-policy"] == b"no-referrer"
    swagger = dict(call(api_guard(page), "GET", "/", [])[0][0]["headers"])
    assert b"content-security-policy" not in swagger and swagger[b"x-content-type-options"] == b"nosniff"
