"""The command line: `python -m benchmarks.hostile` (its options and what it prints: the package's docstring)."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import hostile
from benchmarks.harness import REPO, abstracts
from benchmarks.hostile.attacks import ATTACKS, DEFAULT_SECONDS, Context
from benchmarks.hostile.payloads import MAX_TEXT_CHARS, normal_body
from benchmarks.hostile.report import machine_lines, table
from benchmarks.hostile.run import run_attack, time_normal
from benchmarks.hostile.server import Server
from benchmarks.hostile.targets import LOG_RECORD_LIMIT, READYZ_LIMIT_S, RSS_LIMIT_MB, Outcome, usual_limit
from loadtests.probe_cli import header, positive


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # prog: the usage line and the errors name the benchmark as they did when it was benchmarks/hostile.py.
    parser = argparse.ArgumentParser(prog="hostile.py", description=hostile.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=ATTACKS, metavar="NAME",
                        help=f"run this attack only (repeatable): {', '.join(ATTACKS)}")
    parser.add_argument("--url", help="attack this running server instead of starting one")
    parser.add_argument("--serve-pid", type=positive(int), help="with --url: its `bentoml serve` process")
    parser.add_argument("--log", type=Path, help="with --url: the server's output, for validation-log")
    parser.add_argument("--header", type=header, action="append", default=[],
                        help="NAME:VALUE sent with every request (an API key)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    parser.add_argument("--bento-home", type=Path,
                        help="a BentoML store holding the models (default: import --models-dir into a scratch one)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--serve-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the started server (default: none, the service's defaults)")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="copy the started server's log(s) here at the end (they are deleted otherwise)")
    parser.add_argument("--attack-s", type=positive(float),
                        help="time bound of every attack (default: per attack, "
                             + ", ".join(f"{name} {s}" for name, s in DEFAULT_SECONDS.items()) + ")")
    parser.add_argument("--settle-s", type=positive(float), default=120,
                        help="longest wait for the server to answer as usual before an attack")
    parser.add_argument("--tail-s", type=float, default=3.0, help="how long to keep watching after an attack")
    parser.add_argument("--paths", type=positive(int), default=3000)
    parser.add_argument("--path-chars", type=positive(int), default=8000)
    parser.add_argument("--rouge-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--splitter-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--astral-words", type=positive(int), default=8000)
    parser.add_argument("--astral-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--admission-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--admission-clients", type=positive(int), default=20)
    parser.add_argument("--flood-clients", type=positive(int), default=4)
    parser.add_argument("--validation-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--big-body-repeats", type=positive(int), default=3)
    parser.add_argument("--rss-abort-mb", type=positive(float), default=4096,
                        help="stop an attack when a worker's RSS grows by more than this")
    parser.add_argument("--min-available-mb", type=positive(float), default=3072,
                        help="stop an attack when the machine has less memory available than this")
    parser.add_argument("--api-service", default="pls-service", help="the API's service name (its worker)")
    args = parser.parse_args(argv)
    if args.url and not args.serve_pid:
        parser.error("--url needs --serve-pid (the `bentoml serve` process whose workers are measured)")
    if not args.url and (args.serve_pid or args.log):
        parser.error("--serve-pid and --log go with --url")
    if args.url and (args.bento_home or args.serve_env or args.keep_logs):
        parser.error("--bento-home, --serve-env and --keep-logs are for a server this script starts, not --url")
    if args.astral_chars < 5:
        parser.error("--astral-chars must be at least 5")
    for setting in args.serve_env:
        if "=" not in setting or not setting.split("=", 1)[0]:
            parser.error(f"--serve-env {setting!r} is not NAME=VALUE")
    args.attacks = [name for name in ATTACKS if name in (args.only or ATTACKS)]
    return args


def command_line(argv: list[str]) -> str:
    return "python -m benchmarks.hostile" + "".join(f" {shlex.quote(arg)}" for arg in argv)


def import_models(models_dir: Path, home: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    subprocess.run([sys.executable, "scripts/models/import_models.py", "--models-dir", str(models_dir)],
                   cwd=REPO, env=env, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    headers = dict(args.header)
    started_at = datetime.datetime.now(datetime.UTC)
    lines = ["## Hostile input", "",
             f"- date: {started_at:%Y-%m-%d %H:%M} UTC", *machine_lines(),
             f"- command: `{command_line(argv)}`"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch_dir:
        scratch = Path(scratch_dir)
        bento_home = args.bento_home
        if not args.url and bento_home is None:
            bento_home = scratch / "bentoml_home"
            import_models(args.models_dir, bento_home)
        settings = dict(setting.split("=", 1) for setting in args.serve_env)
        server = Server(args.url, args.serve_pid, args.log, args.repo.resolve(), bento_home, settings, scratch)
        texts = abstracts(REPO)
        normal = normal_body(texts)
        outcomes: list[Outcome] = []
        try:
            if server.ours:
                server.start()
            workers = server.workers()
            if args.api_service not in workers:
                raise SystemExit(f"no worker of {args.api_service} below PID {server.serve_pid}: {workers}")
            time_normal(server.url, headers, normal, 5)  # warm-up: the first answers of a new server are slower
            usual_runs = time_normal(server.url, headers, normal)
            if any(status != 200 for status, _ in usual_runs):
                raise SystemExit(f"the normal request failed before any attack: {usual_runs}")
            usual = statistics.median(seconds for _, seconds in usual_runs)
            limit = usual_limit(usual)
            served = (f"`bentoml serve` of {server.repo} started here, default settings (no PLS_* variable"
                      + (f"; {', '.join(args.serve_env)}" if args.serve_env else "") + ")"
                      if server.ours else f"{server.url} (`bentoml serve` PID {server.serve_pid})")
            head = [f"- served: {served}; workers {', '.join(sorted(workers))}",
                    f"- normal request: /generate with its defaults on a {len(normal['technical_text']):,}-character "
                    f"abstract; usual time {usual:.2f} s (median of 5 after 5 warm-ups; "
                    f"{min(t for _, t in usual_runs):.2f}–{max(t for _, t in usual_runs):.2f} s), \"within\" = at most "
                    f"2 × usual + 1 s = {limit:.2f} s",
                    f"- targets: RSS increase ≤ {RSS_LIMIT_MB} MB in every worker, /readyz ≤ {READYZ_LIMIT_S:g} s, "
                    f"every normal request within, no worker died; validation-log also: the name never in "
                    f"the log, log records and 4xx answers ≤ {LOG_RECORD_LIMIT // 1024} KiB"]
            print("\n".join(head), flush=True)
            ctx = Context(server, headers, args, texts)
            for name in args.attacks:
                print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
                outcome = run_attack(name, ctx, normal, limit)
                outcomes.append(outcome)
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {table([outcome], limit, args.api_service)[-1]}",
                      file=sys.stderr, flush=True)
        finally:
            if server.ours:
                server.stop()
                if args.keep_logs:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    for log in scratch.glob("serve-*.log"):
                        shutil.copy(log, args.keep_logs / log.name)
        took = (datetime.datetime.now(datetime.UTC) - started_at).total_seconds() / 60
        report = [*lines, *head, f"- took {took:.1f} min; load average at the end "
                  f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}", "",
                  *table(outcomes, limit, args.api_service)]
        print("\n" + "\n".join(table(outcomes, limit, args.api_service)))
        print(f"\ntook {took:.1f} min")
        if args.out:
            args.out.write_text("\n".join(report) + "\n")
