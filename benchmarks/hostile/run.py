"""Running one attack: the server settled first, the monitor beside the attack, a restart if it died."""

from __future__ import annotations

import asyncio
import time

import httpx

from benchmarks.hostile.attacks import ATTACK_FUNCTIONS, DEFAULT_SECONDS, Context
from benchmarks.hostile.monitor import Monitor
from benchmarks.hostile.sending import Sent, bounded
from benchmarks.hostile.server import Server
from benchmarks.hostile.targets import READYZ_LIMIT_S, Outcome


def metrics_lines(url: str, headers: dict) -> str:
    try:
        return f"{len(httpx.get(url + '/metrics', headers=headers, timeout=60).text.splitlines()):,}"
    except httpx.HTTPError:
        return "no answer"


def time_normal(url: str, headers: dict, body: dict, times: int = 5) -> list[tuple[int, float]]:
    results = []
    with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
        for _ in range(times):
            started = time.monotonic()
            try:
                status = http.post("/generate", json=body).status_code
            except httpx.HTTPError:
                status = 0
            results.append((status, time.monotonic() - started))
    return results


def settle(server: Server, headers: dict, body: dict, limit_s: float, timeout_s: float) -> bool:
    """Wait until /readyz answers 200 within 1 s and a normal request gets its 200 within its time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            return False
        try:
            started = time.monotonic()
            ready = httpx.get(server.url + "/readyz", headers=headers, timeout=5).status_code == 200
            if ready and time.monotonic() - started <= READYZ_LIMIT_S:
                status, seconds = time_normal(server.url, headers, body, 1)[0]
                if status == 200 and seconds <= limit_s:
                    return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def run_attack(name: str, ctx: Context, normal: dict, limit_s: float) -> Outcome:
    args, server = ctx.args, ctx.server
    outcome = Outcome(name)
    if not server.alive():
        if not server.ours:
            outcome.failures.append("the server was down before the attack")
            return outcome
        server.restart()
        outcome.notes.append("server restarted before the attack")
    if not settle(server, ctx.headers, normal, limit_s, args.settle_s):
        if server.ours:
            server.restart()
            outcome.notes.append(f"not settled after {args.settle_s:g} s: server restarted")
        else:
            outcome.notes.append(f"not settled after {args.settle_s:g} s")
    sent = Sent()
    work = ATTACK_FUNCTIONS[name](ctx, outcome)
    metrics_before = metrics_lines(server.url, ctx.headers) if name == "paths" else ""
    seconds = args.attack_s or DEFAULT_SECONDS[name]
    workers = server.workers()
    monitor = Monitor(server.url, ctx.headers, workers, normal, limit_s, args.rss_abort_mb, args.min_available_mb)
    started = time.monotonic()
    with monitor:
        completed = asyncio.run(bounded(work, server.url, ctx.headers, seconds, monitor, sent))
        outcome.seconds = time.monotonic() - started
        time.sleep(args.tail_s)  # work the server goes on with after the last answer
    monitor.fill(outcome)
    outcome.statuses = sent.statuses
    ending = "" if completed else f" (cut at the {seconds:g} s bound)"
    if monitor.abort_reason:
        ending = " (stopped)"
    outcome.notes.insert(0, f"took {outcome.seconds:.0f} s{ending}, slowest answer {sent.slowest_s:.1f} s")
    if name == "paths":
        outcome.notes.append(f"/metrics lines {metrics_before} → {metrics_lines(server.url, ctx.headers)}")
    if not server.alive():
        outcome.failures.append("the server died")
    if server.ours and (monitor.abort_reason or not server.alive()):
        server.kill()
        server.start()
        outcome.notes.append("server restarted after the attack")
    return outcome
