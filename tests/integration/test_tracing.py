"""Tracing when wanted (runners/tracing.py): with PLS_OTLP_ENDPOINT set, a real `bentoml serve`
sends its spans over OTLP/HTTP to a local receiver, and a request that carries a W3C
`traceparent` gets spans under that trace id, from the API and from the simplifier it called."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from loadtests.server import bentoml_serve

pytestmark = pytest.mark.timeout(300)


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps (trace id, span name, service name)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    service = next((a.value.string_value for a in resource_spans.resource.attributes
                                    if a.key == "service.name"), "")
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append((span.trace_id.hex(), span.name, service))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def test_a_requests_spans_reach_the_collector_under_its_trace_id(bento_home: Path, tmp_path: Path,
                                                                  receiver: Receiver) -> None:
    trace_id = secrets.token_hex(16)
    with bentoml_serve(bento_home, tmp_path / "bentoml.log", PLS_OTLP_ENDPOINT=receiver.url) as url:
        answer = httpx.post(f"{url}/generate", timeout=60,
                            json={"technical_text": "The patient had a myocardial infarction.", "num_beams": 1},
                            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        assert answer.status_code == 200
        deadline = time.monotonic() + 60  # the exporters send in batches, every few seconds
        while time.monotonic() < deadline:
            ours = [span for span in receiver.spans if span[0] == trace_id]
            if {service for _, _, service in ours} >= {"pls-service", "pls-simplifier-runner"}:
                break
            time.sleep(1)
    ours = [span for span in receiver.spans if span[0] == trace_id]
    services = {service for _, _, service in ours}
    assert {"pls-service", "pls-simplifier-runner"} <= services, (services, receiver.spans[:20])
    # The probes are not traced.
    assert not any("livez" in name or "readyz" in name for _, name, _ in receiver.spans)
