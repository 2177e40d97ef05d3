"""The locust suite run for real against the shared `bentoml serve`: the smoke profile holds its
SLO gates, and the same requests fail a gate no server meets; and the step profile against a
server with API keys on (its own). The rest of the suite's logic is tests/unit/test_loadtests_*.py's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import report
from loadtests.server import bentoml_serve
from tests.support.processes import REPO

KEY = "loadtest-key-0123456789abcdef"
WRONG_KEY = "not-the-key-0123456789abcdef"


# --- a real smoke run against `bentoml serve` of the demo models ----------------------------------
def loadtest(server: str, out: Path, *extra: str, api_key_env: str | None = None) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "PLS_API_KEY"}
    if api_key_env is not None:
        env["PLS_API_KEY"] = api_key_env
    return subprocess.run([sys.executable, "-m", "loadtests.run", "--host", server, "--out", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(900)
def test_the_smoke_profile_meets_its_gates_and_an_impossible_gate_fails_naming_the_endpoint(server, tmp_path):
    # Failure ratio 0 is the strict gate. The p95 limits suit the demo model on a shared 2-core CI
    # machine (a long text at 4 beams is five chunks there), not a production SLO; naming them
    # also makes each endpoint's gate required, so all three endpoints must have been called.
    result = loadtest(server, tmp_path, "--profile", "smoke", "--p95", "/classify=10000",
                      "--p95", "/generate=100000", "--p95", "/generate-with-metrics=100000")
    summary = (tmp_path / "summary.md").read_text()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + summary
    assert "all gates hold" in summary
    recorded = report.load_records(tmp_path / "requests.jsonl")
    assert {r.name for r in recorded} == {"/classify", "/generate", "/generate-with-metrics"}
    assert all(r.ok for r in recorded)
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert (tmp_path / "locust_stats.csv").read_text().count("/generate") >= 2

    # The same requests judged again against a gate no server meets: the exit status and the
    # summary name the endpoint and the figure (the judging a live run ends with).
    rejudged = subprocess.run([sys.executable, "-m", "loadtests.run", "--from-records",
                               str(tmp_path / "requests.jsonl"), "--out", str(tmp_path / "impossible"),
                               "--p95", "/classify=0.001"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rejudged.returncode == 1, rejudged.stdout[-3000:] + rejudged.stderr[-3000:]
    assert "/classify: p95" in rejudged.stderr and "> 0.001 ms" in rejudged.stderr
    assert "- /classify: p95" in (tmp_path / "impossible" / "summary.md").read_text()


# --- the same suite against a server with API keys on ---------------------------------------------
@pytest.fixture(scope="module")
def keyed_server(bento_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("keyed-loadtest")
    with bentoml_serve(bento_home, folder / "bentoml.log", PLS_API_KEYS=KEY, PLS_MAX_LATENCY_MS="120000") as url:
        yield url


def written(folder: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())


@pytest.mark.timeout(900)
def test_the_step_profile_runs_against_a_keyed_server_with_the_key_and_stops_at_once_without_it(
        keyed_server, tmp_path):
    # No key, then a wrong one: the runner stops before any load, saying which (exit 2: could not run).
    missing = loadtest(keyed_server, tmp_path / "missing", "--profile", "smoke")
    assert missing.returncode == 2, missing.stdout[-2000:] + missing.stderr[-2000:]
    assert "needs an API key" in missing.stderr and "--api-key" in missing.stderr, missing.stderr
    assert not (tmp_path / "missing" / "requests.jsonl").exists()
    wrong = loadtest(keyed_server, tmp_path / "wrong", "--profile", "smoke", api_key_env=WRONG_KEY)
    assert wrong.returncode == 2, wrong.stdout[-2000:] + wrong.stderr[-2000:]
    assert "refused the API key" in wrong.stderr, wrong.stderr
    assert WRONG_KEY not in wrong.stdout + wrong.stderr + written(tmp_path / "wrong")

    # With the key: the step profile (what sizes autoscaling behind a keyed ALB), every answer right.
    out = tmp_path / "keyed"
    result = loadtest(keyed_server, out, "--api-key", KEY, "--profile", "step", "--step-users", "1,2,4",
                      "--step-hold", "10", "--p95", "/classify=10000", "--p95", "/generate=100000")
    summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else "(no summary)"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + summary
    recorded = report.load_records(out / "requests.jsonl")
    failures = [r for r in recorded if not r.ok]
    assert recorded and not failures, failures[:5]
    assert {"/classify", "/generate"} <= {r.name for r in recorded}
    assert "No failed requests." in summary and "--api-key ***" in summary
    assert KEY not in result.stdout + result.stderr + written(out)
