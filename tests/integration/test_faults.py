"""Faults: a model store changed after import is refused before a pickle is loaded; a model
missing from the store stops `bentoml serve` with a clear message; a simplifier worker killed
under load costs clients a fast 503, not a 500 or a wait for the restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from loadtests.fault_kill_worker import poll_readiness
from loadtests.server import bentoml_serve
from tests.support.processes import REPO, import_env

# Runs in a child process against a copy of the session's store: the check as the classifier
# runner calls it, on the model exactly as BentoML stores it.
CHECK = """
import bentoml
from pls_core.integrity import verify_files
model = bentoml.models.get("pls-classifier:latest")
verify_files(model.path, model.info.metadata, ["vectorizer.pkl", "classifier.pkl"], tag=model.tag)
print("verified", model.tag)
"""


def _check_store(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHECK], env=import_env(home), capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_an_imported_classifier_passes_and_a_tampered_one_is_refused_naming_the_file(
        bento_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(bento_home, home, symlinks=True)
    intact = _check_store(home)
    assert intact.returncode == 0 and "verified pls-classifier:" in intact.stdout, intact.stderr[-3000:]

    pickle = next((home / "models" / "pls-classifier").glob("*/vectorizer.pkl"))
    pickle.write_bytes(pickle.read_bytes() + b"\x00")  # one byte appended
    tampered = _check_store(home)
    assert tampered.returncode != 0
    assert "TamperedModelError" in tampered.stderr and "vectorizer.pkl does not match" in tampered.stderr


def test_serve_without_the_models_fails_at_once_naming_the_tag_and_the_import_command(tmp_path: Path) -> None:
    bentoml = Path(sys.executable).parent / "bentoml"
    result = subprocess.run([str(bentoml), "serve", "--host", "127.0.0.1", "--port", "1"],
                            env=import_env(tmp_path / "empty-store"), capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "model pls-simplifier:latest, pls-classifier:latest is not in the BentoML store" in output
    assert "python scripts/models/import_models.py" in output
    assert "No cloud context" not in output


# --- the simplifier worker killed under load, against a real `bentoml serve` --------------------
SHORT = {"technical_text": "Patients with hypertension were randomised to diuretics or placebo for a year.",
         "max_length": 50, "num_beams": 1}


def _child_running(parent: int, marker: str) -> int:
    for child in psutil.Process(parent).children():
        if marker in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError(f"no child of {parent} runs {marker!r}")


def _serve_pid(port: int) -> int:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and cmdline[-2:] == ["--port", str(port)]:
            return process.pid
    raise AssertionError(f"no bentoml serve on port {port}")


@pytest.mark.timeout(600)
def test_a_killed_simplifier_worker_costs_a_fast_503_and_the_server_recovers_by_itself(
        bento_home: Path, tmp_path: Path) -> None:
    with bentoml_serve(bento_home, tmp_path / "bentoml.log", PLS_MAX_LATENCY_MS="120000") as url:
        serve = _serve_pid(int(url.rsplit(":", 1)[1]))
        answers: list[tuple[float, float, int, dict, str]] = []  # start, end, status, headers, body
        readiness: list[tuple[float, float, int]] = []  # start, end, status
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=url, timeout=180) as http:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        response = http.post("/generate", json=SHORT)
                    except httpx.HTTPError as error:  # no answer at all: status 0
                        answers.append((started, time.monotonic(), 0, {}, repr(error)))
                        continue
                    answers.append((started, time.monotonic(), response.status_code, dict(response.headers),
                                    response.text[:300]))

        threads = [threading.Thread(target=client) for _ in range(4)]
        threads.append(threading.Thread(target=poll_readiness, args=(url, stop, readiness, 0.3)))
        for thread in threads:
            thread.start()
        try:
            time.sleep(3)
            worker = _child_running(serve, "--service-name pls-simplifier-runner")
            killed_at = time.monotonic()
            os.kill(worker, signal.SIGKILL)
            deadline = killed_at + 180
            while time.monotonic() < deadline and not any(
                    start > killed_at and status == 200 for start, _, status, _, _ in answers):
                time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        os.kill(serve, 0)  # the same server is still running: nobody restarted it
        statuses = Counter(status for _, _, status, _, _ in answers)
        assert set(statuses) <= {200, 503}, statuses
        in_flight = [a for a in answers if a[0] < killed_at <= a[1]]
        after = [a for a in answers if a[0] >= killed_at]
        assert in_flight, "no request was in flight at the kill"
        assert statuses[503], f"the kill cost no request anything: {statuses}"
        for _, _, status, headers, body in answers:
            if status == 503:
                assert headers.get("retry-after") and "restarting" in body, (headers, body)
        # Nobody waits for the restart (20-30 s here): a refusal comes within seconds, and a request
        # is sent to the worker only once it answers again.
        slowest = max(end - start for start, end, _, _, _ in in_flight + after)
        assert slowest < 10, f"an answer took {slowest:.1f} s: {statuses}"
        assert any(status == 200 for _, _, status, _, _ in after), f"no 200 within 180 s of the kill: {statuses}"
        # /readyz (the ALB's health check, 5 s timeout) says "not ready" while the worker restarts,
        # and says it at once: it never waits for the restart to answer "ready".
        assert any(status == 503 for start, _, status in readiness if start > killed_at), "/readyz stayed ready"
        slowest_probe = max(end - start for start, end, _ in readiness)
        assert slowest_probe < 3, f"/readyz took {slowest_probe:.1f} s to answer"
