#!/usr/bin/env python3
"""Run the locust suite headless, check the SLO gates, and write the report.

    python -m loadtests.run --serve --profile smoke                  # serve the imported models here
    python -m loadtests.run --host "$(terraform -chdir=terraform output -raw api_url)" --profile step

Profiles: smoke (4 users, 30 s), steady (16 users, 5 min), step (1 → 2 → 4 → 8 → 16 → 32
users, each held --step-hold seconds). --users/--spawn-rate/--duration override the profile.
Writes into --out: locust's CSV files (locust_*.csv) and HTML report (report.html), the
per-request records (requests.jsonl) and summary.md; the step profile adds step_chart.png,
the capacity, the autoscaling target and the cost per 1,000 summaries.
A service with API keys on: --api-key KEY or PLS_API_KEY=KEY in the environment (better: argv
shows in `ps`). The key goes to the locust process through its environment and is sent as
`Authorization: Bearer` on every request; it is never printed, nor written in the report. A key
the service answers 401 to (or none where it needs one) stops the run before any load (exit 2).
Exit status: 0 when every gate holds, 1 when one breaks (each broken gate is printed with its
endpoint and figure), 2 when the test could not run. The step profile breaks the SLO at high
load by design: there the gates apply to its capacity (the first step must meet the SLO, and
--min-rps applies to the capacity's throughput).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from loadtests import report
from loadtests.report import Gates

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROFILES = {
    "smoke": {"users": 4, "spawn_rate": 4.0, "duration": 30},
    "steady": {"users": 16, "spawn_rate": 2.0, "duration": 300},
    "step": {"users": None, "spawn_rate": None, "duration": None},
}
STEP_USERS = [1, 2, 4, 8, 16, 32]
USER_CLASSES = ("ClassifyUser", "GenerateUser", "GenerateWithMetricsUser")
API_KEY_ENV = "PLS_API_KEY"  # what the locustfile reads
HIDDEN = "***"


class CouldNotRun(Exception):
    """The load test itself failed (no server, locust crashed): exit status 2, not a broken gate."""


def endpoint_limit(value: str) -> tuple[str, float]:
    name, sep, limit = value.partition("=")
    if not sep or not name.startswith("/"):
        raise argparse.ArgumentTypeError(f"expected /ENDPOINT=MILLISECONDS, got {value!r}")
    return name, float(limit)


def user_steps(value: str) -> list[int]:
    steps = [int(n) for n in value.split(",")]
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError("steps are positive user counts, e.g. 1,2,4,8")
    return steps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", help="base URL of the service, e.g. http://127.0.0.1:3000 or the ALB URL")
    target.add_argument("--from-records", type=Path, metavar="REQUESTS.JSONL",
                        help="no new load: judge and report an earlier run's requests.jsonl again "
                             "(same --profile and steps as that run)")
    target.add_argument("--serve", action="store_true",
                        help="start `bentoml serve` with the imported models ($BENTOML_HOME) on a free "
                             "127.0.0.1 port and stop it afterwards")
    parser.add_argument("--serve-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the served service, e.g. PLS_MAX_BATCH_SIZE=8 (repeatable)")
    parser.add_argument("--profile", choices=PROFILES, default="smoke")
    parser.add_argument("--users", type=int, help="concurrent users (smoke 4, steady 16)")
    parser.add_argument("--spawn-rate", type=float, help="users started per second")
    parser.add_argument("--duration", type=int, help="seconds of load (smoke 30, steady 300)")
    parser.add_argument("--step-users", type=user_steps, default=STEP_USERS, help="step profile: users per step")
    parser.add_argument("--step-hold", type=float, default=60, help="step profile: seconds each step is held")
    parser.add_argument("--user-class", action="append", default=[], choices=USER_CLASSES,
                        help="run only these locust user classes (repeatable; default all, by weight)")
    parser.add_argument("--stop-timeout", type=int, default=120,
                        help="seconds the requests in flight at the end may take to finish")
    parser.add_argument("--out", type=Path, default=Path("loadtest-report"), help="report folder")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV), metavar="KEY",
                        help=f"API key of a service with keys on, sent as 'Authorization: Bearer' (default: "
                             f"${API_KEY_ENV}, which keeps it out of `ps`; '' sends none); never printed")
    gates = parser.add_argument_group("SLO gates (they set the exit status)")
    gates.add_argument("--max-failure-ratio", type=float, default=0.0,
                       help="most failed/all requests allowed per endpoint (default 0)")
    gates.add_argument("--p95", type=endpoint_limit, action="append", default=[], metavar="/ENDPOINT=MS",
                       help="p95 limit of an endpoint in ms (repeatable; defaults: " +
                            ", ".join(f"{k}={v:g}" for k, v in report.DEFAULT_P95_MS.items()) + ")")
    gates.add_argument("--min-rps", type=float, help="least throughput of successful answers, all endpoints")
    cost = parser.add_argument_group("cost")
    cost.add_argument("--price", choices=report.PRICES, default="us-east-1-x86", help="Fargate price list")
    cost.add_argument("--vcpu-hour", type=float, help="your own price per vCPU-hour (USD), with --gb-hour")
    cost.add_argument("--gb-hour", type=float, help="your own price per GB-hour (USD)")
    cost.add_argument("--task-vcpu", type=float, default=2.0, help="vCPU of one task (Terraform default 2)")
    cost.add_argument("--task-memory-gb", type=float, default=4.0, help="memory of one task (default 4 GB)")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    for name in ("users", "spawn_rate", "duration"):
        if getattr(args, name) is None:
            setattr(args, name, profile[name])
    if (args.vcpu_hour is None) != (args.gb_hour is None):
        parser.error("--vcpu-hour and --gb-hour go together")
    args.api_key = (args.api_key or "").strip() or None
    return args


def shown_command(argv: list[str], args: argparse.Namespace) -> str:
    """The command line for the report, with the API key and served keys replaced by ***."""
    secrets = [args.api_key] if args.api_key else []
    for setting in args.serve_env:
        name, _, value = setting.partition("=")
        if name == "PLS_API_KEYS":
            secrets += [key.strip() for key in value.split(",") if key.strip()] + [value]
    shown = []
    for arg in argv:
        for secret in sorted(secrets, key=len, reverse=True):
            arg = arg.replace(secret, HIDDEN)
        shown.append(arg)
    return " ".join(["python -m loadtests.run", *shown])


def gates_from(args: argparse.Namespace) -> Gates:
    # A p95 gate given on the command line must be checked; a default one only where requests went.
    return Gates(args.max_failure_ratio, {**report.DEFAULT_P95_MS, **dict(args.p95)}, args.min_rps,
                 frozenset(name for name, _ in args.p95))


def price_from(args: argparse.Namespace) -> report.Price:
    if args.vcpu_hour is not None:
        return report.Price("your prices", args.vcpu_hour, args.gb_hour, "given on the command line")
    return report.PRICES[args.price]


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[str]:
    if not args.serve:
        yield args.host.rstrip("/")
        return
    from loadtests.server import bentoml_serve

    home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
    settings = dict(item.split("=", 1) for item in args.serve_env)
    args.out.mkdir(parents=True, exist_ok=True)
    with bentoml_serve(home, args.out / "bentoml-serve.log", **settings) as url:
        yield url


def locust_command(args: argparse.Namespace, host: str) -> list[str]:
    files = str(HERE / "locustfile.py")
    command = [sys.executable, "-m", "locust", "--headless", "--host", host, "--only-summary",
               "--csv", str(args.out / "locust"), "--html", str(args.out / "report.html"),
               # Let requests in flight at the end finish: a cut request would be neither counted
               # as an answer nor as a failure.
               "--stop-timeout", str(args.stop_timeout)]
    if args.profile == "step":
        files += "," + str(HERE / "step_shape.py")
    else:
        command += ["--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
                    "--run-time", f"{args.duration}s"]
    return command + ["-f", files, *args.user_class]


def run_locust(args: argparse.Namespace, host: str) -> Path:
    records = args.out / "requests.jsonl"
    env = {**os.environ, "PLS_LOADTEST_RECORD": str(records), "PYTHONPATH": str(REPO),
           "PLS_STEP_USERS": ",".join(map(str, args.step_users)), "PLS_STEP_HOLD_S": str(args.step_hold)}
    # The key travels in the environment, not in argv, which every user of the machine can read.
    env.pop(API_KEY_ENV, None)
    if args.api_key:
        env[API_KEY_ENV] = args.api_key
    result = subprocess.run(locust_command(args, host), cwd=REPO, env=env)
    # locust exits 1 when any request failed; the gates below judge that. Anything else is a crash.
    if result.returncode not in (0, 1) or not records.is_file():
        raise CouldNotRun(f"locust exited with status {result.returncode} and no records")
    return records


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def model_tag(host: str, api_key: str | None = None) -> str:
    """The served model's tag from /health, which also needs the key when keys are on: a 401
    there stops the run before any load (CouldNotRun), saying whether the key is missing or wrong."""
    try:
        response = httpx.get(host + "/health", headers=auth_headers(api_key), timeout=10)
    except httpx.HTTPError:
        return "unknown (/health did not answer)"
    if response.status_code == 401:
        if api_key:
            raise CouldNotRun(f"{host} refused the API key (401 to /health): the key given with --api-key or "
                              f"{API_KEY_ENV} is not one of the service's keys")
        raise CouldNotRun(f"{host} needs an API key (401 to /health): give it with --api-key KEY or "
                          f"{API_KEY_ENV}=KEY in the environment")
    try:
        return response.json().get("model_path", "unknown")
    except (ValueError, AttributeError):
        return f"unknown (/health answered {response.status_code})"


def write_summary(args: argparse.Namespace, host: str, tag: str, requests: list[report.Request]) -> list[str]:
    """Write summary.md (and the chart for the step profile); return the broken gates."""
    gates, price = gates_from(args), price_from(args)
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = report.measured_seconds(requests)
    endpoints, total = report.by_endpoint(requests, seconds), report.stats(requests, seconds)
    if args.profile == "step":
        steps = report.step_results(requests, args.step_users, args.step_hold, gates)
        broken = step_gates(steps, gates)
    else:
        broken = report.broken_gates(endpoints, total, gates)
    hourly = report.task_cost_per_hour(price, args.task_vcpu, args.task_memory_gb)
    load = (f"steps of {','.join(map(str, args.step_users))} users, {args.step_hold:g} s each"
            if args.profile == "step" else f"{args.users} users, {args.duration} s")
    lines = [f"# Load test: {args.profile}", "",
             f"- target: {host} (model `{tag}`)",
             f"- load: {load}; locustfile weights classify 3 : generate 2 : generate-with-metrics 1",
             f"- when: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load generator: "
             f"{platform.node()}, {os.cpu_count()} CPUs",
             f"- command: `{shown_command(sys.argv[1:], args)}`",
             "- reports: [report.html](report.html), locust_stats.csv, locust_failures.csv, "
             "locust_stats_history.csv, requests.jsonl", "",
             "## SLO gates", ""]
    lines += [f"- failure ratio per endpoint ≤ {gates.max_failure_ratio:g}"]
    lines += [f"- p95 {name} ≤ {limit:g} ms" for name, limit in gates.p95_ms.items()]
    if gates.min_rps is not None:
        lines.append(f"- throughput ≥ {gates.min_rps:g} req/s")
    lines += ["", "**Result: " + ("all gates hold" if not broken else "BROKEN") + "**", ""]
    lines += [f"- {message}" for message in broken]
    lines += ["", "## Whole run", ""] + report.endpoint_table(endpoints, total, gates)
    lines += ["", "## Failures", ""] + report.error_table(requests)
    summaries_rps = sum(endpoints[n].rps for n in report.SUMMARY_ENDPOINTS if n in endpoints)
    if args.profile == "step":
        lines += step_section(args, steps, gates, hourly)
    else:
        per_1000 = report.cost_per_1000(hourly, summaries_rps)
        lines += ["", "## Cost", "",
                  f"At this run's throughput ({summaries_rps:.2f} summaries/s among {total.rps:.2f} answers/s), "
                  f"one {args.task_vcpu:g} vCPU / {args.task_memory_gb:g} GB task at ${hourly:.4f}/h "
                  f"({price.label}) costs " +
                  (f"**${per_1000:.4f} per 1,000 summaries**." if per_1000 else "nothing measurable: no summaries.") +
                  " Run the step profile for the figure at the SLO.", "", f"Prices: {price.source}."]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    return broken


def step_gates(steps: list[report.Step], gates: Gates) -> list[str]:
    """The step profile breaks the SLO at high load by design: its gates are on the capacity."""
    best = report.capacity(steps)
    if best is None:
        return [f"capacity: none, the first step ({steps[0].users} users) breaks the SLO: "
                + "; ".join(steps[0].broken)]
    if gates.min_rps is not None and best.total.rps < gates.min_rps:
        return [f"capacity: throughput {best.total.rps:.2f} req/s at {best.users} users < {gates.min_rps:g} req/s"]
    return []


def step_section(args: argparse.Namespace, steps: list[report.Step], gates: Gates,
                 hourly: float) -> list[str]:
    best = report.capacity(steps)
    report.draw_step_chart(steps, gates, best, args.out / "step_chart.png")
    settle = report.settle_seconds(args.step_hold)
    lines = ["", "## Steps", "",
             f"Each step counts the answers that arrived during its last {args.step_hold - settle:g} s "
             f"(the first {settle:g} s still carry the previous step's requests). Latencies are those "
             "of successful answers; failures are counted apart. Locust spawns users by class weight, "
             "so the smallest steps run only the heaviest classes (1 user: classify).", ""]
    lines += report.step_table(steps) + ["", "![throughput and p95 against users](step_chart.png)", ""]
    lines += ["## Capacity and cost", ""]
    if best is None:
        lines.append("**Capacity: none** — the SLO is broken already at the first step.")
        return lines
    price = price_from(args)
    per_1000 = report.cost_per_1000(hourly, best.summaries_rps)
    lines += [
        f"**Capacity of one task: {best.users} users, {best.total.rps:.2f} answers/s "
        f"({best.summaries_rps:.2f} summaries/s)** — the highest step before the first that breaks "
        "the SLO (p95 per endpoint and failure ratio).", "",
        f"Autoscaling target: `requests_per_target = {report.requests_per_target(best)}` "
        f"(ALB requests per task per minute = {best.total.rps:.2f} × 60 × {report.AUTOSCALING_HEADROOM} "
        "headroom); set it in terraform/variables.tf or terraform.tfvars.", "",
        f"Cost: one {args.task_vcpu:g} vCPU / {args.task_memory_gb:g} GB Fargate task, {price.label}: "
        f"{args.task_vcpu:g} × ${price.vcpu_hour}/vCPU-h + {args.task_memory_gb:g} × ${price.gb_hour}/GB-h "
        f"= ${hourly:.4f}/h; at capacity **"
        + (f"${per_1000:.4f} per 1,000 summaries" if per_1000 else "no summaries were answered") +
        "** (with this mix's classify calls riding along; a task kept that busy all the time).", "",
        "| price option | $/h per task | $ per 1,000 summaries at capacity |", "|---|---|---|"]
    for option in report.PRICES.values():
        option_hourly = report.task_cost_per_hour(option, args.task_vcpu, args.task_memory_gb)
        option_cost = report.cost_per_1000(option_hourly, best.summaries_rps)
        lines.append(f"| {option.label} (${option.vcpu_hour}/vCPU-h, ${option.gb_hour}/GB-h) | "
                     f"{option_hourly:.4f} | {'' if option_cost is None else f'{option_cost:.4f}'} |")
    lines += ["", f"Prices: {price.source}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_records:
        host, tag, records = "(earlier run)", "see that run", args.from_records
    else:
        try:
            with target(args) as host:
                tag = model_tag(host, args.api_key)
                records = run_locust(args, host)
        except (CouldNotRun, RuntimeError) as error:  # RuntimeError: `bentoml serve` never got ready
            print(f"error: {error}", file=sys.stderr)
            return 2
    requests = report.load_records(records)
    broken = write_summary(args, host, tag, requests)
    print(f"\nreport: {args.out / 'summary.md'}")
    if broken:
        print("SLO gates broken:", *broken, sep="\n  ", file=sys.stderr)
        return 1
    print("SLO gates: all hold")
    return 0


if __name__ == "__main__":
    # Stopped with SIGTERM (timeout, CI): unwind, so a server started with --serve is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
