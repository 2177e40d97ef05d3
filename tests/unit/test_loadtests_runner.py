"""The locust suite's runner (loadtests/run.py): its arguments, and API keys: the runner's option,
the locust process's environment, nothing printed."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loadtests import report, run


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
