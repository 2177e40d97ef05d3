"""What the shared `bentoml serve` answers besides the model endpoints: the web page and its
assets, CORS for the origins it lists (and none for others), and the idle keep-alive the task
definition's command sets (an ALB reuses idle connections; a server that closes them first
turns the next request on one into a 502)."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from pls_core.lexicon import LEXICON
from tests.support.service_contract import HEALTH_PATH
from tests.support.shared_server import ALLOWED_ORIGIN, SERVER_KEEP_ALIVE_S
from tests.support.terraform import missing_tool

pytestmark = pytest.mark.timeout(300)

TECHNICAL = "The patient had a myocardial infarction."
# uvicorn's (and so `bentoml serve`'s) idle keep-alive timeout when nothing sets it.
BENTOML_DEFAULT_KEEP_ALIVE_S = 5


def test_page_assets_and_lexicon_are_served(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        page = http.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<form id="form"' in page.text
        for asset, kind in [("/ui/app.js", "javascript"), ("/ui/style.css", "text/css"),
                            ("/ui/examples.json", "application/json")]:
            answer = http.get(asset)
            assert answer.status_code == 200 and kind in answer.headers["content-type"], asset
        assert http.get("/ui/").headers["location"] == "../ui"
        assert http.get("/ui/", follow_redirects=True).text == page.text
        assert http.get("/lexicon").json() == LEXICON
        assert "swagger" in http.get("/").text.lower()  # Swagger UI stays at /
        assert http.get("/ui/no-such-file.js").status_code == 404


def test_the_page_has_strict_security_headers_and_swagger_still_loads(server: str) -> None:
    """The page and its files: a CSP that allows only the service's own scripts, styles and API
    (the page has no inline script or style), no framing, no referrer, no sniffing. The Swagger
    UI at / keeps BentoML's headers (it runs inline code). Before: none of these headers."""
    with httpx.Client(base_url=server, timeout=30) as http:
        for path in ("/ui", "/ui/app.js", "/ui/style.css", "/ui/examples.json"):
            headers = http.get(path).headers
            csp = headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp, csp
            assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp, csp
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
        swagger = http.get("/")
        assert swagger.status_code == 200 and "swagger" in swagger.text.lower()
        assert "content-security-policy" not in swagger.headers
        assert http.get("/static_content/swagger-ui.css").status_code == 200


# --- CORS ------------------------------------------------------------------------------------

def preflight(http: httpx.Client, path: str, origin: str) -> httpx.Response:
    return http.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})


def test_a_listed_origin_gets_cors_headers(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
        answer = preflight(http, "/classify", ALLOWED_ORIGIN)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "content-type" in answer.headers["access-control-allow-headers"].lower()
        post = http.post("/classify", json={"text": TECHNICAL}, headers={"Origin": ALLOWED_ORIGIN})
        assert post.status_code == 200 and post.json()["is_pls"] is False
        assert post.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "retry-after" in post.headers["access-control-expose-headers"].lower()
        lexicon = http.get("/lexicon", headers={"Origin": ALLOWED_ORIGIN})
        assert lexicon.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_an_origin_not_listed_gets_no_cors_headers(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
        answer = preflight(http, "/classify", "https://other.example.org")
        assert answer.status_code >= 400 and "access-control-allow-origin" not in answer.headers
        post = http.post("/classify", json={"text": TECHNICAL}, headers={"Origin": "https://other.example.org"})
        assert post.status_code == 200 and "access-control-allow-origin" not in post.headers


# --- keep-alive: the server as the task definition starts it -----------------------------------

def idle_close_seconds(host: str, port: int, limit_s: float) -> float:
    """Send one keep-alive request, then time how long the server keeps the idle connection."""
    with socket.create_connection((host, port), timeout=limit_s) as sock:
        sock.sendall(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(4096)
        idle_from = time.monotonic()
        while True:
            try:
                if sock.recv(4096) == b"":
                    return time.monotonic() - idle_from
            except ConnectionResetError:
                return time.monotonic() - idle_from


def test_the_server_keeps_idle_connections_as_long_as_the_task_definition_says(
        server: str, task_command: list[str] | None) -> None:
    """The shared server runs the task definition's command (terraform/locals.tf) with a short
    keep-alive: it must close an idle connection after exactly that, not BentoML's 5 s."""
    if task_command is None:
        missing_tool("terraform is not installed: the server ran without the task definition's command")
    assert task_command[1:3] == ["--timeout-keep-alive", str(SERVER_KEEP_ALIVE_S)], task_command
    port = int(server.rsplit(":", 1)[1])
    closed_after = idle_close_seconds("127.0.0.1", port, limit_s=SERVER_KEEP_ALIVE_S + 30)
    print(f"idle connection closed by the server after {closed_after:.1f} s (--timeout-keep-alive "
          f"{SERVER_KEEP_ALIVE_S})")
    assert closed_after > BENTOML_DEFAULT_KEEP_ALIVE_S + 2, f"closed after {closed_after:.1f} s: the option was lost"
    assert abs(closed_after - SERVER_KEEP_ALIVE_S) < 2.5, \
        f"closed after {closed_after:.1f} s, not {SERVER_KEEP_ALIVE_S} s"
