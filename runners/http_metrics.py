"""BentoML's HTTP metrics, labelled by route template; a path no route serves is not labelled.

BentoML 1.4.40 puts `RunnerTrafficMetricsMiddleware` (bentoml/_internal/server/http/
instruments.py) outermost around every service's app, API service included, and labels each
request's counter, histogram and in-progress gauge with `endpoint=scope["path"]`: the raw path,
401s and 404s included, before any route or key is checked. Every distinct path made a new series
in each of them: with the multiprocess collector that is heap in the worker (the label values and
their histogram buckets), a key in the worker's metric files and about 20 lines of /metrics for
good. 200 random 8 KB paths, no key needed, took the API worker from 128 MB to 301 MB and /metrics
from 19 KB to 33 MB; thousands end in an out-of-memory kill.

BentoML has no setting for these labels (its configuration offers `metrics.enabled`, which also
removes /metrics, `namespace` and the duration buckets), so this module subclasses the middleware
and puts the subclass where BentoML's app factory looks it up: `ServiceAppFactory.middlewares`
imports `RunnerTrafficMetricsMiddleware` from the instruments module each time it builds an app,
after the service module is imported. `install()` is called by service.py at import, in every
worker process (each imports service.py). The subclass keeps BentoML's metric names, labels and
logic; it only changes what reaches the `endpoint` label:

- a route of the service (an API, /livez, /readyz, /metrics, a web route) is labelled as itself;
- a path under a mounted folder (/ui/<file>, /static_content/<file>) with the mount's template;
- any other path is passed to the app unmeasured: no series, no file, no line.

tests/unit/test_http_metrics.py fails if BentoML stops looking the class up that way.
"""

from __future__ import annotations

from collections.abc import Iterable

from bentoml._internal.server.http import instruments

_BentoMLMiddleware = instruments.RunnerTrafficMetricsMiddleware
_REAL_PATH = "pls.real_path"  # the request's path, while BentoML's code sees the template
# Routes of every BentoML service app (bentoml/_internal/server/base_app.py, _bentoml_impl/server/app.py).
SYSTEM_ROUTES = ("/livez", "/healthz", "/readyz", "/metrics", "/schema.json")


class RouteLabels:
    """Path -> the label it is counted under: a route itself, a mount's template, or None."""

    def __init__(self, routes: Iterable[str], mounts: Iterable[str] = ()) -> None:
        self.routes = frozenset(routes)
        # Longest prefix first: /ui/x belongs to /ui/, not to a shorter mount.
        self.mounts = tuple(sorted(((mount.rstrip("/") + "/", mount.rstrip("/") + "/{path}") for mount in mounts),
                                   key=lambda pair: -len(pair[0])))

    def label(self, path: str) -> str | None:
        if path in self.routes:
            return path
        for prefix, template in self.mounts:
            if path.startswith(prefix):
                return template
        return None


class _RealPath:
    """Gives the app the request's own path back after the metrics code saw the template."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if _REAL_PATH in scope:
            scope = dict(scope)
            scope["path"] = scope.pop(_REAL_PATH)
        await self.app(scope, receive, send)


class RouteLabelledTrafficMetrics(_BentoMLMiddleware):
    """BentoML's traffic metrics, with `endpoint` from the route template (see the module doc)."""

    extra_routes: tuple[str, ...] = ()
    extra_mounts: tuple[str, ...] = ()

    def __init__(self, app, **options) -> None:
        super().__init__(_RealPath(app), **options)
        from bentoml._internal.context import server_context

        # The worker sets its service's API routes before it builds the app (_bentoml_impl/worker/service.py).
        self.labels = RouteLabels([*server_context.service_routes, *SYSTEM_ROUTES, *self.extra_routes],
                                  self.extra_mounts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await super().__call__(scope, receive, send)
            return
        path = scope["path"]
        label = self.labels.label(path)
        if label is None:
            await self.app(scope, receive, send)  # not a route: not measured
            return
        if label != path:
            scope = {**scope, "path": label, _REAL_PATH: path}
        await super().__call__(scope, receive, send)


def install(routes: Iterable[str] = (), mounts: Iterable[str] = ()) -> None:
    """Make BentoML build its services' apps with RouteLabelledTrafficMetrics; `routes` and
    `mounts` are the paths the service serves besides its APIs and BentoML's own."""
    RouteLabelledTrafficMetrics.extra_routes = tuple(dict.fromkeys([*RouteLabelledTrafficMetrics.extra_routes,
                                                                     *routes]))
    RouteLabelledTrafficMetrics.extra_mounts = tuple(dict.fromkeys([*RouteLabelledTrafficMetrics.extra_mounts,
                                                                     *mounts]))
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledTrafficMetrics
