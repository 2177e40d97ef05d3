"""BentoML's HTTP metrics labelled by route template (runners/http_metrics.py): a route is counted
as itself, a file under a mount as the mount's template, and any other path not at all. Against a
real server (random 8 KB paths: /metrics and the worker's memory stay flat):
tests/integration/test_hostile_input.py."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from bentoml._internal.context import server_context
from bentoml._internal.server.http import instruments

from runners import http_metrics
from runners.http_metrics import RouteLabelledTrafficMetrics, RouteLabels


def test_labels_are_routes_or_mount_templates_and_nothing_else() -> None:
    labels = RouteLabels(["/generate", "/ui", "/ui/", "/"], ["/ui", "/static_content"])
    assert labels.label("/generate") == "/generate"
    assert labels.label("/ui") == "/ui" and labels.label("/ui/") == "/ui/"
    assert labels.label("/ui/app.js") == "/ui/{path}"
    assert labels.label("/static_content/swagger-ui.css") == "/static_content/{path}"
    for unknown in ("/generate/", "/Generate", "/x" * 4000, "/ui-x", "//generate", "/static_content"):
        assert labels.label(unknown) is None, unknown


def test_bentoml_still_builds_its_metrics_middleware_from_the_module_attribute() -> None:
    """install() replaces instruments.RunnerTrafficMetricsMiddleware; that works only while
    BentoML's app factory imports the class from the module each time it builds an app."""
    from _bentoml_impl.server.app import ServiceAppFactory

    source = inspect.getsource(ServiceAppFactory.middlewares.fget)
    assert "from bentoml._internal.server.http.instruments import" in source
    assert "RunnerTrafficMetricsMiddleware" in source
    assert issubclass(RouteLabelledTrafficMetrics, instruments.RunnerTrafficMetricsMiddleware)


def test_install_puts_the_subclass_where_bentoml_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruments, "RunnerTrafficMetricsMiddleware", instruments.RunnerTrafficMetricsMiddleware)
    monkeypatch.setattr(RouteLabelledTrafficMetrics, "extra_routes", ())
    monkeypatch.setattr(RouteLabelledTrafficMetrics, "extra_mounts", ())
    http_metrics.install(routes=["/health"], mounts=["/ui"])
    http_metrics.install(routes=["/health"], mounts=["/ui"])  # twice: nothing doubles
    assert instruments.RunnerTrafficMetricsMiddleware is RouteLabelledTrafficMetrics
    assert RouteLabelledTrafficMetrics.extra_routes == ("/health",)
    assert RouteLabelledTrafficMetrics.extra_mounts == ("/ui",)


def test_unknown_paths_make_no_series_and_the_app_sees_the_real_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: each of these paths became a label value of three metrics (BentoML's own class)."""
    monkeypatch.setattr(server_context, "service_routes", ["/generate"])
    monkeypatch.setattr(RouteLabelledTrafficMetrics, "extra_routes", ("/health",))
    monkeypatch.setattr(RouteLabelledTrafficMetrics, "extra_mounts", ("/ui",))
    seen: list[str] = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = RouteLabelledTrafficMetrics(app)
    paths = ["/generate", "/ui/app.js", "/health", *(f"/random-{number}-" + "x" * 8000 for number in range(20))]

    async def drive() -> None:
        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            pass

        for path in paths:
            await middleware({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)

    asyncio.run(drive())
    assert seen == paths
    endpoints = {labels[0] for labels in middleware.metrics_request_total._metrics}
    assert endpoints <= {"/generate", "/ui/{path}", "/health"}, sorted(endpoint[:40] for endpoint in endpoints)
    assert {"/ui/{path}", "/health"} <= endpoints
    in_progress = {labels[0] for labels in middleware.metrics_request_in_progress._metrics}
    assert not any(endpoint.startswith("/random") for endpoint in in_progress)
