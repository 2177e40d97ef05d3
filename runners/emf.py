"""The service's own metrics out of a Fargate task without a sidecar: CloudWatch Embedded Metric
Format (EMF) records on stdout, which the awslogs driver already ships and CloudWatch turns into
metrics. Off unless PLS_EMF_METRICS=true (Terraform sets it on ECS).

Nothing is written on the request path: each process (the API worker, the simplifier) adds to an
in-memory aggregate under a lock, and a daemon thread samples the gauges every second and writes
the aggregate every PLS_EMF_FLUSH_S seconds through the `aws-embedded-metrics` library, one record
per dimension set: counts as one summed value, distributions (latencies, batch sizes) as at most
MAX_VALUES values a record, gauges as their per-second samples. So a task at 50 requests/s writes a
few records a minute, and a record holds numbers and names only, never request text.
Names, units and dimensions: pls_core/metric_names.py.
"""

from __future__ import annotations

import atexit
import logging
import random
import sys
import threading
import time
from collections.abc import Callable

from pls_core.metric_names import METRICS, SERVICE_DIMENSION

logger = logging.getLogger("bentoml.pls.emf")

MAX_VALUES = 100  # values of one metric in one record (the format's own limit)
SAMPLE_EVERY_S = 1.0

Dimensions = tuple[tuple[str, str], ...]


class EmfReporter:
    """Aggregates one process's metrics and writes them as EMF records every `interval_s`."""

    def __init__(self, namespace: str, service: str, interval_s: float,
                 write: Callable[[str, dict[str, str], dict[str, list[float]]], None] | None = None,
                 seed: int | None = None) -> None:
        self.namespace, self.service, self.interval_s = namespace, service, interval_s
        self._write = write or self._write_emf
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._values: dict[Dimensions, dict[str, list[float]]] = {}
        self._seen: dict[tuple[Dimensions, str], int] = {}  # values offered this interval (sampling)
        self._gauges: dict[str, Callable[[], float]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- recording (any thread) -------------------------------------------------------------
    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        """Add to a count: written as one value, the interval's sum."""
        key = _key(dimensions)
        with self._lock:
            values = self._values.setdefault(key, {}).setdefault(name, [0.0])
            values[0] += value

    def observe(self, name: str, value: float, **dimensions: str) -> None:
        """One value of a distribution: at most MAX_VALUES a record, a uniform sample beyond."""
        key = _key(dimensions)
        with self._lock:
            values = self._values.setdefault(key, {}).setdefault(name, [])
            seen = self._seen.get((key, name), 0) + 1
            self._seen[key, name] = seen
            if len(values) < MAX_VALUES:
                values.append(value)
            else:  # reservoir sampling keeps every value equally likely
                slot = self._random.randrange(seen)
                if slot < MAX_VALUES:
                    values[slot] = value

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A level read every SAMPLE_EVERY_S seconds (e.g. work in flight)."""
        self._gauges[name] = read

    # --- writing (the reporter's thread) --------------------------------------------------------
    def sample(self) -> None:
        for name, read in list(self._gauges.items()):
            try:
                value = float(read())
            except Exception:  # a gauge must never stop the reporter
                continue
            self.observe(name, value)

    def flush(self) -> int:
        """Write what was aggregated since the last flush; returns the records written."""
        with self._lock:
            snapshot, self._values, self._seen = self._values, {}, {}
        written = 0
        for key, metrics in snapshot.items():
            if not metrics:
                continue
            try:
                self._write(self.namespace, {SERVICE_DIMENSION: self.service, **dict(key)}, metrics)
                written += 1
            except Exception as error:  # metrics are best effort: the service goes on
                logger.warning("could not write a metrics record (%s)", type(error).__name__)
        return written

    def start(self) -> EmfReporter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emf-reporter", daemon=True)
            self._thread.start()
            atexit.register(self.stop)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        next_flush = time.monotonic() + self.interval_s
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample()
            if time.monotonic() >= next_flush:
                self.flush()
                next_flush += self.interval_s

    @staticmethod
    def _write_emf(namespace: str, dimensions: dict[str, str], metrics: dict[str, list[float]]) -> None:
        from aws_embedded_metrics.environment.local_environment import LocalEnvironment
        from aws_embedded_metrics.logger.metrics_logger import MetricsLogger

        environment = LocalEnvironment()  # stdout: the awslogs driver ships it

        async def resolve():
            return environment

        record = MetricsLogger(resolve)
        record.set_namespace(namespace)
        record.set_dimensions(dimensions, use_default=False)
        for name, values in metrics.items():
            unit = METRICS[name][0]
            for value in values:
                record.put_metric(name, value, unit)
        record.flush_sync()
        sys.stdout.flush()  # a pipe or a file is block-buffered: a record must not wait for the next


def _key(dimensions: dict[str, str]) -> Dimensions:
    return tuple(sorted(dimensions.items()))


_REPORTER: EmfReporter | None = None


def reporter() -> EmfReporter | None:
    """This process's reporter, started on first use when PLS_EMF_METRICS is on; else None."""
    global _REPORTER
    if _REPORTER is None:
        from pls_core.config import current

        config = current()
        if not config.emf_metrics:
            return None
        _REPORTER = EmfReporter(config.metrics_namespace, config.metrics_service, config.emf_flush_s).start()
    return _REPORTER
