"""Watching the server during an attack: the workers' resident memory, /livez and /readyz, and the
normal request sent over and over."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx

from benchmarks.hostile.targets import Outcome, short_worker

SAMPLE_S = 0.2
PROBE_TIMEOUT_S = 30.0


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0]) if rest.split() else 0
    return values


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MB; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Monitor:
    """Threads that sample the workers' RSS, poll /livez and /readyz, and send the normal request."""

    def __init__(self, url: str, headers: dict, workers: dict[str, int], normal: dict, limit_s: float,
                 rss_abort_mb: float, min_available_mb: float) -> None:
        self.url, self.headers, self.workers, self.normal_body = url, headers, workers, normal
        self.limit_s, self.rss_abort_mb, self.min_available_mb = limit_s, rss_abort_mb, min_available_mb
        self.base = {name: rss_mb(pid) or 0.0 for name, pid in workers.items()}
        self.peak = dict(self.base)
        self.died: list[str] = []
        self.probes: dict[str, list[tuple[float, int]]] = {"/livez": [], "/readyz": []}
        self.normal: list[tuple[int, float]] = []
        self.stop_event = threading.Event()
        self.abort_reason: str | None = None
        self.threads = [threading.Thread(target=self._sample, daemon=True),
                        threading.Thread(target=self._poll, args=("/livez",), daemon=True),
                        threading.Thread(target=self._poll, args=("/readyz",), daemon=True),
                        threading.Thread(target=self._send_normal, daemon=True)]

    def __enter__(self) -> Monitor:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()

    def _sample(self) -> None:
        while not self.stop_event.is_set():
            for name, pid in self.workers.items():
                if name in self.died:
                    continue
                value = rss_mb(pid)
                if value is None:
                    self.died.append(name)
                    continue
                self.peak[name] = max(self.peak[name], value)
                if value - self.base[name] > self.rss_abort_mb and not self.abort_reason:
                    self.abort_reason = f"{short_worker(name)} RSS grew past +{self.rss_abort_mb:.0f} MB"
            available = read_meminfo().get("MemAvailable")
            if available is not None and available / 1024 < self.min_available_mb and not self.abort_reason:
                self.abort_reason = f"the machine had under {self.min_available_mb:.0f} MB available"
            self.stop_event.wait(SAMPLE_S)

    def _poll(self, path: str) -> None:
        with httpx.Client(base_url=self.url, timeout=PROBE_TIMEOUT_S, headers=self.headers) as http:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    status = http.get(path).status_code
                except httpx.HTTPError:
                    status = 0
                self.probes[path].append((time.monotonic() - started, status))
                self.stop_event.wait(SAMPLE_S)

    def _send_normal(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.limit_s + 30, headers=self.headers) as http:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    status = http.post("/generate", json=self.normal_body).status_code
                except httpx.HTTPError:
                    status = 0
                self.normal.append((status, time.monotonic() - started))
                self.stop_event.wait(0.5)

    def fill(self, outcome: Outcome) -> None:
        outcome.rss_increase_mb = {name: self.peak[name] - self.base[name] for name in self.workers}
        for path, probe in (("/livez", outcome.livez), ("/readyz", outcome.readyz)):
            polled = self.probes[path]
            probe.longest_s = max((seconds for seconds, _ in polled), default=None)
            probe.unanswered = sum(1 for _, status in polled if status == 0)
            probe.not_200 = sum(1 for _, status in polled if status not in (0, 200))
        outcome.normal = list(self.normal)
        outcome.failures += [f"{short_worker(name)} worker died" for name in self.died]
        if self.abort_reason:
            outcome.failures.append(f"stopped: {self.abort_reason}")
