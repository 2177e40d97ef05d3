"""The service's own CloudWatch metrics (Embedded Metric Format records on stdout, issue 24): names,
units and dimensions in one place, read by the code that writes them (runners/emf.py) and by the
Terraform dashboard, alarms and scaling policy's tests (every metric they name is one of these).
"""

from __future__ import annotations

NAMESPACE = "PLS/Service"  # PLS_METRICS_NAMESPACE overrides
SERVICE_DIMENSION = "Service"  # its value: PLS_METRICS_SERVICE (Terraform sets the stack name)

# name: (unit, extra dimensions beside Service)
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    # Answers by endpoint and outcome; Outcome is one of OUTCOMES.
    "Requests": ("Count", ("Endpoint", "Outcome")),
    # A /generate or /generate-with-metrics answered 200: its time in the service.
    "GenerationLatency": ("Milliseconds", ()),
    # A chunk's time in the simplifier's queue before its batch started.
    "QueueWait": ("Milliseconds", ()),
    # Chunks in one batch of the simplifier.
    "BatchSize": ("Count", ()),
    # Chunks admitted in this task's API worker and not yet answered, sampled every second.
    "ChunksInFlight": ("Count", ()),
    # Work admitted in this task's API worker, in standard generations (1 chunk x 4 beams x 256
    # tokens, pls_core/admission.py), sampled every second: the autoscaling signal. The admission
    # cap (PLS_MAX_INFLIGHT_GENERATIONS) sheds load above its capacity.
    "WorkInFlight": ("Count", ()),
    # Summaries answered, and those of them marked low_confidence: the share is their ratio.
    "Summaries": ("Count", ()),
    "LowConfidenceSummaries": ("Count", ()),
}

# Outcome of an answer: a 503 that sheds load by design (admission cap, latency budget) is `shed`;
# a 503 because a runner could not answer (died, restarting) is `unavailable`.
OUTCOMES = ("2xx", "4xx", "shed", "unavailable", "5xx")
ENDPOINTS = ("/generate", "/generate-with-metrics", "/classify", "/evaluate")
