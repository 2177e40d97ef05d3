"""Hostile input (issue 25) at the request guard (pls_core/http_guard.py): methods and paths that
take no body, WebSocket, deep or duplicate-keyed JSON, validation errors that log no input, and the
web page's security headers."""

from __future__ import annotations

import json

import pytest

from pls_core.request_body import json_depth_exceeds
from tests.support.api_models import API_MODELS
from tests.support.http_guard_calls import KEY, call


def test_json_depth_scan_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(json.dumps({"text": "[[[[{{{{" * 50}).encode(), 4)
    assert not json_depth_exceeds(json.dumps({"text": 'a \\" [[[['}).encode(), 2)
    assert json_depth_exceeds(b'{"a":' * 5 + b"1" + b"}" * 5, 4)


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
