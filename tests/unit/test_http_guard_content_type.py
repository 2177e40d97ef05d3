"""Content types in the request guard (pls_core/http_guard.py, pls_core/request_body.py): JSON
only on the API's POST routes, refused with 415 before the body is read, after the key check."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.http_guard_calls import FILE_KEY, KEY, call

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
