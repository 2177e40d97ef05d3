"""The locust suite: answer checks, SLO gates, step capacity and cost, and a real smoke run."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loadtests import report, run
from loadtests.checks import (
    MAX_INPUT_TOKENS,
    PAYLOADS,
    Text,
    check_classification,
    check_generation,
    check_generation_with_metrics,
    load_texts,
)
from loadtests.report import Gates, Request
from tests.support.processes import REPO

SHORT = Text("short", "The patient had a myocardial infarction.", "The patient had a heart attack.", 64)
LONG = Text("long", "x" * 4000, "y", 256)


def answer(**changes) -> dict:
    body = {"generated_pls": "The patient had a heart attack.", "generation_time": 0.1, "num_chunks": 1,
            "tokens_input": 20, "tokens_output": 9, "skipped": False}
    return {**body, **changes}


# --- answer checks --------------------------------------------------------------------------------
def test_a_consistent_generation_passes():
    assert check_generation(answer(), SHORT) is None
    assert check_generation(answer(num_chunks=3, tokens_input=1400, tokens_output=300), LONG) is None


@pytest.mark.parametrize("changes, text, reason", [
    ({"num_chunks": 2, "tokens_input": 600}, SHORT, "num_chunks 2 for a short text, expected 1"),
    ({"num_chunks": 1, "tokens_input": 500}, LONG, "num_chunks 1 for a long text, expected at least 2"),
    ({"num_chunks": 2, "tokens_input": 1500}, LONG, "num_chunks 2 inconsistent with tokens_input 1500"),
    ({"tokens_output": 65}, SHORT, "tokens_output 65 outside"),
    ({"tokens_output": 0}, SHORT, "tokens_output 0 outside"),
    ({"generated_pls": "  "}, SHORT, "generated_pls is empty"),
    ({"skipped": True}, SHORT, "skipped although"),
    ({"num_chunks": "1"}, SHORT, "field 'num_chunks' has type str"),
])
def test_an_inconsistent_generation_is_named(changes, text, reason):
    assert reason in check_generation(answer(**changes), text)


def test_a_missing_field_is_named():
    body = answer()
    del body["tokens_input"]
    assert check_generation(body, SHORT) == "field 'tokens_input' missing"


def test_generation_with_metrics_needs_reference_metrics_in_range():
    metrics = {"flesch_reading_ease": 80.0, "compression_ratio": 0.9, "rouge1": 0.5, "rouge2": 0.2,
               "rougeL": 0.4, "bleu": 0.3, "sari": 0.4}
    assert check_generation_with_metrics(answer(metrics=metrics), SHORT) is None
    out_of_range = answer(metrics={**metrics, "bleu": 30.0})
    assert check_generation_with_metrics(out_of_range, SHORT) == "metrics outside 0..1: bleu"
    assert "'sari' missing" in check_generation_with_metrics(
        answer(metrics={k: v for k, v in metrics.items() if k != "sari"}), SHORT)
    assert check_generation_with_metrics(answer(), SHORT) == "field 'metrics' missing"


def test_classification_checks():
    good = {"is_pls": True, "confidence": 0.9, "flesch_reading_ease": 70.0, "flesch_kincaid_grade": 6.0,
            "reasoning": "plain"}
    assert check_classification(good) is None
    assert "contradicts" in check_classification({**good, "is_pls": False})
    assert "outside 0..1" in check_classification({**good, "confidence": 1.5})
    assert check_classification({**good, "is_pls": 1}) == "field 'is_pls' has type int"


def test_payloads_ship_small_with_their_attribution():
    texts = load_texts()
    assert {size: len(items) >= 8 for size, items in texts.items()} == {"short": True, "medium": True, "long": True}
    # Long texts must be cut into chunks by any T5 tokenizer (several characters per token at most).
    assert min(len(t.text) for t in texts["long"]) > 4 * MAX_INPUT_TOKENS
    assert max(len(t.text) for t in texts["medium"]) <= 1600
    assert sum(p.stat().st_size for p in PAYLOADS.glob("*.json")) < 64_000
    assert "Attribution 4.0 International" in (PAYLOADS / "LICENSE.md").read_text()
    attribution = (PAYLOADS / "ATTRIBUTION.md").read_text()
    assert "Devaraj" in attribution
    dois = [item["doi"] for item in json.loads((PAYLOADS / "cochrane.json").read_text())]
    assert all(doi.startswith("10.1002/14651858.") for doi in dois)


# --- gates ----------------------------------------------------------------------------------------
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


# --- steps, capacity, cost ----------------------------------------------------------------------
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


def test_runner_arguments():
    args = run.parse_args(["--serve", "--profile", "steady", "--users", "8", "--p95", "/generate=5000"])
    assert (args.users, args.duration, args.spawn_rate) == (8, 300, 2.0)
    assert run.gates_from(args).p95_ms["/generate"] == 5000
    assert run.gates_from(args).p95_ms["/classify"] == report.DEFAULT_P95_MS["/classify"]
    assert run.gates_from(args).required == {"/generate"}
    with pytest.raises(SystemExit):
        run.parse_args(["--host", "http://x", "--p95", "generate=5"])
    with pytest.raises(SystemExit):
        run.parse_args(["--profile", "smoke"])  # neither --host nor --serve
    command = run.locust_command(run.parse_args(["--host", "http://x", "--profile", "step"]), "http://x")
    assert command[-1].endswith("locustfile.py," + str(run.HERE / "step_shape.py"))
    assert "--users" not in command
    command = run.locust_command(run.parse_args(["--host", "http://x", "--user-class", "ClassifyUser"]), "http://x")
    assert command[-1] == "ClassifyUser" and command[command.index("--users") + 1] == "4"


def test_the_autoscaling_default_is_the_documented_capacity():
    """terraform's requests_per_target default, the step report of docs/load-testing.md and the
    scaling section of docs/deploy.md say the same."""
    import hcl2

    with open(REPO / "terraform" / "variables.tf") as handle:
        variables = {name: body for block in hcl2.load(handle)["variable"] for name, body in block.items()}
    default = variables["requests_per_target"]["default"]
    load_testing = (REPO / "docs" / "load-testing.md").read_text()
    assert f"so `requests_per_target = {default}`" in load_testing
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert f"`requests_per_target`, {default} by default" in deploy


def test_side_by_side_ratios():
    from benchmarks.harness import Row
    from benchmarks.side_by_side import ratio_rows

    rows = [Row("demo", 4, "(b) service, adaptive batching", "1", 8, 0, 1.0, 1, 0.8, 50),
            Row("demo", 4, "(b) service, adaptive batching", "4", 8, 0, 2.0, 1, 1.2, 50),
            Row("demo", 4, "(c) service, batching off", "4", 8, 0, 0.5, 1, 1, 50),
            Row("demo", 4, "(d) one blocking generate per request", "4", 8, 1, 1.0, 1, 1, 50),
            Row("demo", 4, "(a) in-process transformers", "batch 8 (best)", 8, 0, 4.0, 1, 1, 50)]
    assert ratio_rows(rows)[-1] == ("| demo | 4 | 4 | 2.00 | nan | 1.00 | 4.00 | nan | nan | 2.00 | 0.50 | nan | "
                                    "4.00 | 1.50 |")
    # With the CTranslate2 backend, (a') is the service's own engine in-process; (b0) the service before.
    rows.append(Row("demo", 4, "(a') in-process ctranslate2 int8", "batch 16 (best)", 16, 0, 2.5, 1, 1, 50))
    rows.append(Row("demo", 4, "(b0) service before: base", "4", 8, 0, 0.8, 1, 1, 50))
    assert ratio_rows(rows)[-1] == ("| demo | 4 | 4 | 2.00 | 0.80 | 1.00 | 4.00 | 2.50 | 2.50 | 2.00 | 0.50 | 0.80 | "
                                    "4.00 | 1.50 |")


def test_generated_tokens_count_up_to_the_first_eos_like_the_service():
    from benchmarks.harness import generated_tokens

    assert generated_tokens([5, 6, 1, 0, 0], eos_id=1) == 3  # EOS included, padding after it not
    # A model with random weights may emit the pad id (0) as a real token: it still counts.
    assert generated_tokens([0, 7, 0], eos_id=1) == 3


@pytest.mark.parametrize("module, arguments, message", [
    ("settings", ["--variant", "x"], "is not NAME=VAR=VALUE"),
    ("settings", ["--variant", "a=X=1", "--variant", "a=Y=2"], "variant names must differ"),
    ("settings", ["--variant", "a=X=1", "--rounds", "0"], "must be above zero"),
    ("settings", ["--variant", "a=X=1", "--output-tokens", "10"], "at least 50"),
    ("batch_sizes", ["--users", "1,,4"], "has an empty element"),
    ("batch_sizes", ["--users", "1,four"], "is not a number"),
    ("busy_core", ["--threads", "-1"], "must not be negative"),
    ("busy_core", ["--max-length", "10"], "at least 50"),
])
def test_benchmarks_refuse_bad_arguments_before_starting_anything(module, arguments, message, tmp_path):
    """A bad argument is an argparse error (exit 2) that names it, before any model or server."""
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *arguments], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written before the arguments are checked"


def test_bench_settings_variants_parse_into_names_and_settings():
    from benchmarks.settings import parse_variant

    assert parse_variant("auto=PLS_GENERATION_TOKEN_BUDGET=0,PLS_MAX_BATCH_SIZE=8") == (
        "auto", {"PLS_GENERATION_TOKEN_BUDGET": "0", "PLS_MAX_BATCH_SIZE": "8"})


# --- API keys: the runner's option, the locust process's environment, nothing printed ---------------
UNIT_KEY = "unit-test-key-0123456789abcdef"


class _KeyedHealth(http.server.BaseHTTPRequestHandler):
    """/health as a keyed service answers it: 401 without the key or with another one."""

    def do_GET(self) -> None:
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        key = bearer or self.headers.get("X-API-Key", "")
        if self.path != "/health":
            status, body = 404, {"error": "not found"}
        elif not key:
            status, body = 401, {"error": "an API key is required: send 'Authorization: Bearer <key>'"}
        elif key != UNIT_KEY:
            status, body = 401, {"error": "the API key is not valid"}
        else:
            status, body = 200, {"status": "healthy", "model_path": "pls-simplifier:keyed"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def keyed_health():
    """A stand-in for a keyed service's /health on a free port (no model: the fast tier)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeyedHealth)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def fake_locust(monkeypatch):
    """Stands in for the locust process: records its argv and environment, writes two answers."""
    calls = []

    def fake_run(argv, **kwargs):
        calls.append((list(argv), dict(kwargs["env"])))
        lines = [{"event": "test_start", "time": 1000.0}] + [
            {"name": "/classify", "start": 1000.0 + k, "ms": 50.0, "ok": True, "error": None, "users": 1}
            for k in range(2)]
        Path(kwargs["env"]["PLS_LOADTEST_RECORD"]).write_text("".join(json.dumps(line) + "\n" for line in lines))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    return calls


def run_main(monkeypatch, argv: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["loadtests/run.py", *argv])  # what the summary's command shows
    return run.main(argv)


def everything_written(folder: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())


def test_the_api_key_comes_from_the_option_or_pls_api_key(monkeypatch, capsys):
    monkeypatch.delenv("PLS_API_KEY", raising=False)
    assert run.parse_args(["--host", "http://x"]).api_key is None
    monkeypatch.setenv("PLS_API_KEY", "  ")
    assert run.parse_args(["--host", "http://x"]).api_key is None
    monkeypatch.setenv("PLS_API_KEY", "key-from-the-environment")
    assert run.parse_args(["--host", "http://x"]).api_key == "key-from-the-environment"
    assert run.parse_args(["--host", "http://x", "--api-key", "key-from-the-option"]).api_key == "key-from-the-option"
    assert run.parse_args(["--host", "http://x", "--api-key", ""]).api_key is None  # "" turns the key off
    with pytest.raises(SystemExit):
        run.parse_args(["--help"])
    assert "--api-key KEY" in capsys.readouterr().out.replace("\n", " ")
    monkeypatch.setenv("PLS_API_KEY", UNIT_KEY)
    with pytest.raises(SystemExit):
        run.parse_args(["--help"])
    assert UNIT_KEY not in capsys.readouterr().out  # --help shows no default


@pytest.mark.parametrize("how", ["option", "option=", "environment"])
def test_the_key_reaches_locust_through_its_environment_never_argv_output_or_report(
        how, keyed_health, fake_locust, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PLS_API_KEY", raising=False)
    out = tmp_path / "report"
    argv = ["--host", keyed_health, "--out", str(out), "--profile", "smoke"]
    if how == "option":
        argv += ["--api-key", UNIT_KEY]
    elif how == "option=":
        argv += [f"--api-key={UNIT_KEY}"]
    else:
        monkeypatch.setenv("PLS_API_KEY", UNIT_KEY)
    assert run_main(monkeypatch, argv) == 0
    [(command, env)] = fake_locust
    assert not any(UNIT_KEY in part for part in command), command  # `ps` shows argv
    assert env["PLS_API_KEY"] == UNIT_KEY
    summary = (out / "summary.md").read_text()
    assert "pls-simplifier:keyed" in summary  # /health was asked with the key
    if how != "environment":
        assert "--api-key ***" in summary or "--api-key=***" in summary
    printed = capsys.readouterr()
    assert UNIT_KEY not in printed.out + printed.err + everything_written(out)


def test_no_key_no_pls_api_key_for_locust(keyed_health, fake_locust, tmp_path, monkeypatch):
    monkeypatch.setenv("PLS_API_KEY", UNIT_KEY)
    assert run_main(monkeypatch, ["--host", keyed_health, "--out", str(tmp_path), "--api-key", ""]) == 2
    monkeypatch.delenv("PLS_API_KEY")
    open_service = "http://127.0.0.1:9"  # nothing listens: /health does not answer, the run goes on
    assert run_main(monkeypatch, ["--host", open_service, "--out", str(tmp_path)]) == 0
    [(_, env)] = fake_locust
    assert "PLS_API_KEY" not in env


def test_a_keyed_service_without_the_key_or_with_a_wrong_one_stops_before_any_load(
        keyed_health, fake_locust, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PLS_API_KEY", raising=False)
    assert run_main(monkeypatch, ["--host", keyed_health, "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err
    assert "needs an API key" in error and "--api-key" in error and "PLS_API_KEY" in error, error

    wrong = "wrong-key-0123456789abcdef"
    monkeypatch.setenv("PLS_API_KEY", wrong)
    assert run_main(monkeypatch, ["--host", keyed_health, "--out", str(tmp_path / "b")]) == 2
    printed = capsys.readouterr()
    assert "refused the API key" in printed.err, printed.err
    assert wrong not in printed.out + printed.err + everything_written(tmp_path)
    assert fake_locust == []  # no load was started


@pytest.mark.parametrize("argv", [
    ["--host", "http://x", "--api-key", UNIT_KEY],
    ["--host", "http://x", f"--api-key={UNIT_KEY}"],
    ["--host", "http://x", "--api-k", UNIT_KEY],  # argparse takes a prefix of an option
    ["--serve", "--serve-env", f"PLS_API_KEYS=other-key-0123456789abcdef,{UNIT_KEY}"],
])
def test_the_command_shown_in_the_report_hides_keys(argv, monkeypatch):
    monkeypatch.delenv("PLS_API_KEY", raising=False)
    shown = run.shown_command(argv, run.parse_args(argv))
    assert UNIT_KEY not in shown and "other-key" not in shown and "***" in shown, shown
    assert shown.startswith("python -m loadtests.run --")
