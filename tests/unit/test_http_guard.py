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

# The unit tests are fast; the module's server tests share one `bentoml serve` (~40 s to start).

KEY = "test-key-0123456789abcdef"
FILE_KEY = "file-key-fedcba9876543210"


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
    slot is released with the last byte, not after the app's background work."""
    import asyncio

    from pls_core.http_guard import RequestGuardMiddleware

    async def scenario() -> list[int]:
        background_done = asyncio.Event()

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            if scope["query_string"] == b"first":
                await background_done.wait()  # BentoML's background tasks, after the answer

        guard = RequestGuardMiddleware(app, api_keys=(), max_body_bytes=1000, max_inflight_generations=1)
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            first = asyncio.create_task(http.get("/generate?first"))
            await asyncio.sleep(0.05)  # the first answer is out; its background work is not done
            second = await http.get("/generate")
            background_done.set()
            return [(await first).status_code, second.status_code, guard.inflight_generations]

    assert asyncio.run(scenario()) == [200, 200, 0]


# --- overload: admission control on the generation routes ---------------------------------------
def test_the_default_overload_settings_shed_early_and_never_refuse_the_steady_profile() -> None:
    """A generation beyond capacity is refused at once (a cap is on by default), a queued one is
    refused well before the request timeout, and the locust steady profile is never refused."""
    from loadtests.run import PROFILES

    config = load_config({})
    assert config.max_inflight_generations >= PROFILES["steady"]["users"]  # at most one request per user
    assert config.max_inflight_generations > 0, "no admission cap: a burst queues until the timeout"
    # A queued request starts within a few seconds or is refused: a fraction of the timeout.
    assert config.max_latency_ms / 1000 <= config.request_timeout_s / 10


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
                                         ("OPTIONS", "/generate"), ("POST", "/ui"), ("POST", "/not-an-api")])
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
