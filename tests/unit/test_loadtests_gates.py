"""The locust suite's SLO gates (loadtests/report.py): failure ratio, p95 and throughput per
endpoint, judged on a run's records, again on an earlier run's, or not at all when it cannot start."""

from __future__ import annotations

import json

from loadtests import report, run
from loadtests.report import Gates, Request


def requests(name: str, times_ms: list[float], failures: int = 0, start: float = 0.0) -> list[Request]:
    made = [Request(name, start + i * 0.01, ms, True) for i, ms in enumerate(times_ms)]
    for i in range(failures):
        made[i] = Request(name, made[i].start, made[i].ms, False, "HTTP 500: ServerDisconnectedError")
    return made


def judge(recorded: list[Request], gates: Gates) -> list[str]:
    seconds = report.measured_seconds(recorded)
    return report.broken_gates(report.by_endpoint(recorded, seconds), report.stats(recorded, seconds), gates)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert report.percentile(values, 0.95) == 95
    assert report.percentile(values, 0.5) == 50
    assert report.percentile([7.0], 0.95) == 7.0


def test_gates_hold_for_a_clean_fast_run():
    recorded = requests("/classify", [100] * 20) + requests("/generate", [900] * 20)
    assert judge(recorded, Gates(0.0, {"/classify": 200, "/generate": 1000}, min_rps=1)) == []


def test_one_failure_breaks_the_default_failure_gate_and_names_the_endpoint():
    recorded = requests("/classify", [100] * 20) + requests("/generate", [900] * 40, failures=1)
    assert judge(recorded, Gates()) == ["/generate: failure ratio 0.025 (1 of 40) > 0"]
    assert judge(recorded, Gates(max_failure_ratio=0.05)) == []


def test_p95_gate_names_endpoint_and_figure():
    recorded = requests("/generate", [100] * 18 + [5000, 6000])
    assert judge(recorded, Gates(0.0, {"/generate": 4000})) == ["/generate: p95 5000 ms > 4000 ms"]


def test_latency_is_that_of_successful_answers():
    # 19 slow answers and many quick 503s: the failures must not pull p95 down.
    recorded = requests("/generate", [9000] * 19) + [Request("/generate", 1.0, 5, False, "HTTP 503")] * 40
    figures = report.stats(recorded, 10)
    assert (figures.p95_ms, figures.failures, figures.rps) == (9000, 40, 1.9)
    assert judge(recorded, Gates(0.0, {"/generate": 4000})) == [
        "/generate: failure ratio 0.678 (40 of 59) > 0", "/generate: p95 9000 ms > 4000 ms"]
    only_failures = report.stats([Request("/classify", 0, 5, False)], 1)
    assert "| /classify | 1 | 1 | 0.00 | – | – |" in "\n".join(
        report.endpoint_table({"/classify": only_failures}, only_failures, Gates()))


def test_an_earlier_run_can_be_judged_again(tmp_path):
    records = tmp_path / "requests.jsonl"
    lines = [{"event": "test_start", "time": 1000.0}] + [
        {"name": "/classify", "start": 1000.0 + k, "ms": 50 + k, "ok": True, "error": None, "users": 2}
        for k in range(20)]
    records.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "report"
    assert run.main(["--from-records", str(records), "--out", str(out)]) == 0
    assert run.main(["--from-records", str(records), "--out", str(out), "--p95", "/classify=60"]) == 1
    assert "- /classify: p95 68 ms > 60 ms" in (out / "summary.md").read_text()


def test_a_run_that_cannot_start_exits_2(tmp_path, monkeypatch, capsys):
    # An empty store: `bentoml serve` exits at once, and its error (not a broken gate) is reported.
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "empty-store"))
    assert run.main(["--serve", "--out", str(tmp_path / "report")]) == 2
    assert "bentoml serve did not become ready" in capsys.readouterr().err


def test_throughput_gate_and_unchecked_endpoints():
    recorded = requests("/classify", [100] * 10)
    broken = judge(recorded, Gates(0.0, {"/classify": 1000, "/generate": 1000}, min_rps=10_000,
                                   required=frozenset({"/generate"})))
    assert broken == ["/generate: no requests, so its p95 gate (1000 ms) cannot be checked",
                      f"all endpoints: throughput {report.stats(recorded, report.measured_seconds(recorded)).rps:.2f}"
                      " req/s < 10000 req/s"]
    assert judge([], Gates()) == ["no requests were made"]
    # A default gate of an endpoint the run did not call is not a broken gate.
    assert judge(recorded, Gates(0.0, {"/classify": 1000, "/generate": 1000})) == []
