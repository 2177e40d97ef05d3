"""OpenTelemetry tracing when wanted: BentoML's own tracing, exported over OTLP/HTTP.

With PLS_OTLP_ENDPOINT set, every service (the API and both runners) sends its spans there, so a
request's span in the API and its calls into the runners share one trace id (BentoML propagates
the W3C `traceparent` header between its services, and continues one a client sends). On ECS the
endpoint is a collector beside the service, e.g. the AWS Distro for OpenTelemetry sidecar that
forwards to X-Ray (docs/deploy.md). The probes and /metrics are not traced.
"""

from __future__ import annotations

from pls_core.config import Config

NOT_TRACED = "livez,readyz,metrics,healthz"


def tracing_options(config: Config) -> dict:
    """`@bentoml.service` options: `tracing` when an endpoint is set, nothing otherwise."""
    if not config.otlp_endpoint:
        return {}
    return {"tracing": {"exporter_type": "otlp", "sample_rate": 1.0, "excluded_urls": NOT_TRACED,
                        "otlp": {"protocol": "http", "endpoint": config.otlp_endpoint}}}
