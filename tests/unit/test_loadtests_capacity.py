"""The locust suite's step profile: the capacity of one task (the last step before the SLO
breaks), the autoscaling target and cost drawn from it, and the summary that reports them."""

from __future__ import annotations

import pytest

from loadtests import report, run
from loadtests.report import Gates, Request
from tests.support.processes import REPO


def step_run(hold: float, p95_by_step: list[float], per_step: int = 40, fail_step: int | None = None) -> list[Request]:
    """Synthetic answers: per step, `per_step` evenly spread answers whose p95 is the given figure."""
    recorded = []
    for index, slow in enumerate(p95_by_step):
        for k in range(per_step):
            end = index * hold + (k + 0.5) * hold / per_step
            ms = slow if k % 10 == 9 else slow / 4
            failed = fail_step == index and k == 15  # after the settling part
            recorded.append(Request("/generate", end - ms / 1000, ms, not failed, "HTTP 500" if failed else None))
    return recorded


def test_capacity_is_the_last_step_before_the_slo_breaks():
    gates = Gates(0.0, {"/generate": 2000})
    steps = report.step_results(step_run(40, [500, 800, 1500, 3000, 1000, 9000]), [1, 2, 4, 8, 16, 32], 40, gates)
    assert [s.meets_slo for s in steps] == [True, True, True, False, True, False]
    best = report.capacity(steps)
    assert best.users == 4
    # Answers in the settling part of a step (first 10 s of 40) are left out: 30 of 40 remain.
    assert best.total.requests == 30
    assert best.total.rps == pytest.approx(30 / 30)
    assert steps[3].broken == ["/generate: p95 3000 ms > 2000 ms"]


def test_a_failure_in_a_step_breaks_it():
    steps = report.step_results(step_run(40, [500, 500], fail_step=1), [1, 2], 40, Gates(0.0, {"/generate": 2000}))
    assert report.capacity(steps).users == 1
    assert steps[1].broken == ["/generate: failure ratio 0.033 (1 of 30) > 0"]


def test_no_capacity_when_the_first_step_breaks():
    steps = report.step_results(step_run(40, [5000]), [1], 40, Gates(0.0, {"/generate": 2000}))
    assert report.capacity(steps) is None


def test_autoscaling_target_and_cost_arithmetic():
    steps = report.step_results(step_run(40, [500], per_step=80), [4], 40, Gates(0.0, {"/generate": 2000}))
    best = report.capacity(steps)
    assert best.total.rps == pytest.approx(2.0)
    assert report.requests_per_target(best) == 84  # 2 req/s x 60 s x 0.7 headroom
    price = report.PRICES["us-east-1-x86"]
    hourly = report.task_cost_per_hour(price, 2, 4)
    assert hourly == pytest.approx(2 * 0.04048 + 4 * 0.004445)
    assert report.cost_per_1000(hourly, 2.0) == pytest.approx(hourly / 7200 * 1000)
    assert report.cost_per_1000(hourly, 0.0) is None


def test_step_summary_has_chart_capacity_and_cost(tmp_path):
    args = run.parse_args(["--host", "http://x", "--profile", "step", "--step-users", "1,2,4", "--step-hold", "40",
                           "--out", str(tmp_path), "--p95", "/generate=2000"])
    broken = run.write_summary(args, "http://x", "pls-simplifier:abc", step_run(40, [500, 800, 3000]))
    summary = (tmp_path / "summary.md").read_text()
    assert (tmp_path / "step_chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "![throughput and p95 against users](step_chart.png)" in summary
    assert "**Capacity of one task: 2 users" in summary
    assert "requests_per_target = 42" in summary  # 1 answer/s x 60 x 0.7
    assert "per 1,000 summaries" in summary and "us-east-1" in summary
    # A step profile breaks the SLO at high load by design: its gates judge the capacity.
    assert broken == [] and "all gates hold" in summary
    assert "broken: /generate: p95 3000 ms > 2000 ms" in summary


def test_step_gates_judge_the_capacity(tmp_path):
    args = run.parse_args(["--host", "http://x", "--profile", "step", "--step-users", "1,2", "--step-hold", "40",
                           "--out", str(tmp_path), "--p95", "/generate=2000", "--min-rps", "5"])
    assert run.write_summary(args, "http://x", "t", step_run(40, [500, 800])) == [
        "capacity: throughput 1.00 req/s at 2 users < 5 req/s"]
    assert run.write_summary(args, "http://x", "t", step_run(40, [3000, 800])) == [
        "capacity: none, the first step (1 users) breaks the SLO: /generate: p95 3000 ms > 2000 ms"]
    assert "**Capacity: none**" in (tmp_path / "summary.md").read_text()


def test_the_autoscaling_default_is_the_documented_capacity():
    """terraform's requests_per_target default, the step report of docs/load-testing.md and the
    scaling section of docs/deploy.md say the same, and both say it is the fallback: with the
    service's own metrics (emf_metrics, the default) the tasks scale on the work in flight instead
    (its target's derivation: tests/unit/test_observability_terraform.py)."""
    import hcl2

    with open(REPO / "terraform" / "variables.tf") as handle:
        variables = {name: body for block in hcl2.load(handle)["variable"] for name, body in block.items()}
    default = variables["requests_per_target"]["default"]
    assert variables["emf_metrics"]["default"] is True
    assert "Used only with emf_metrics = false" in variables["requests_per_target"]["description"]
    load_testing = (REPO / "docs" / "load-testing.md").read_text()
    assert f"so `requests_per_target = {default}`" in load_testing
    capacity = load_testing.split("\n## Capacity and the autoscaling target\n", 1)[1].split("\n## ", 1)[0]
    assert "(`emf_metrics = false`) the tasks scale on ALB requests" in capacity
    deploy = (REPO / "docs" / "deploy.md").read_text()
    scaling = deploy.split("\n## Scaling\n", 1)[1].split("\n## ", 1)[0]
    fallback = next(paragraph for paragraph in scaling.split("\n\n") if "`requests_per_target`" in paragraph)
    assert f"`requests_per_target`, {default} by default" in " ".join(fallback.split())
    assert fallback.startswith("Without `emf_metrics`")
