"""Liveness is not readiness. The container health check (ECS replaces a task whose check fails)
asks /livez; the ALB asks /readyz. Under an overload, more locust generation users than the
admission cap lets in, the shared server must say "alive" every time it is asked, within the
container check's 5 s timeout, whatever /readyz says meanwhile."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from loadtests import report
from tests.support.processes import REPO
from tests.support.service_contract import HEALTH_PATH, LIVENESS_PATH

pytestmark = pytest.mark.timeout(600)

CONTAINER_CHECK_TIMEOUT_S = 5  # terraform/ecs.tf: healthCheck timeout
# Enough generation users that some are refused: the default capacity (32 standard generations)
# holds about 48 of these users at once (mostly one-sentence texts, greedy or 4 beams).
USERS = 96


def poll(server: str, path: str, stop: threading.Event, answers: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=server, timeout=CONTAINER_CHECK_TIMEOUT_S) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = http.get(path).status_code
            except httpx.HTTPError:
                status = 0  # no answer within the check's timeout
            answers.append((status, time.monotonic() - started))
            time.sleep(0.25)


def test_liveness_never_fails_under_an_overload_whatever_readiness_says(server: str, tmp_path: Path) -> None:
    probes: dict[str, list[tuple[int, float]]] = {LIVENESS_PATH: [], HEALTH_PATH: []}
    stop = threading.Event()
    pollers = [threading.Thread(target=poll, args=(server, path, stop, answers)) for path, answers in probes.items()]
    for thread in pollers:
        thread.start()
    try:
        load = subprocess.run(
            [sys.executable, "-m", "loadtests.run", "--host", server, "--out", str(tmp_path), "--user-class",
             "GenerateUser", "--users", str(USERS), "--spawn-rate", str(USERS), "--duration", "20",
             "--max-failure-ratio", "1"],
            cwd=REPO, capture_output=True, text=True, timeout=500)
    finally:
        stop.set()
        for thread in pollers:
            thread.join()
    assert load.returncode in (0, 1), load.stdout[-3000:] + load.stderr[-3000:]
    records = report.load_records(tmp_path / "requests.jsonl")
    refused = [r for r in records if not r.ok]
    assert refused, f"{len(records)} requests, none refused: not an overload"

    live = probes[LIVENESS_PATH]
    assert len(live) >= 20, live
    assert Counter(status for status, _ in live) == Counter({200: len(live)}), Counter(s for s, _ in live)
    slowest = max(elapsed for _, elapsed in live)
    assert slowest < CONTAINER_CHECK_TIMEOUT_S, f"/livez took {slowest:.1f} s"
    ready = Counter(status for status, _ in probes[HEALTH_PATH])
    print(f"{len(records)} requests, {len(refused)} refused; {LIVENESS_PATH}: {len(live)} x 200, slowest "
          f"{slowest:.2f} s; {HEALTH_PATH}: {dict(ready)}")
