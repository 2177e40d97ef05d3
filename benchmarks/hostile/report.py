"""The report: the machine it ran on and one markdown row per attack."""

from __future__ import annotations

import os
import platform
from collections import Counter
from pathlib import Path

from benchmarks.hostile.monitor import read_meminfo
from benchmarks.hostile.targets import CUT, Outcome, short_worker, verdict


def format_statuses(statuses: Counter) -> str:
    """`404×3000`, or with several routes `/generate 200×2, 503×9; /classify 200×40`."""
    if not statuses:
        return "-"
    names = {CUT: "cut at the bound", 0: "no answer"}
    if not all(isinstance(key, tuple) for key in statuses):
        return ", ".join(f"{names.get(status, status)}×{count}" for status, count in sorted(statuses.items()))
    routes = list(dict.fromkeys(route for route, _ in statuses))
    by_route = {route: Counter({status: count for (r, status), count in statuses.items() if r == route})
                for route in routes}
    if len(routes) == 1:
        return format_statuses(by_route[routes[0]])
    return "; ".join(f"{route} {format_statuses(counts)}" for route, counts in by_route.items())


def normal_summary(normal: list[tuple[int, float]], limit_s: float) -> str:
    if not normal:
        return "none sent"
    within = sum(1 for status, seconds in normal if status == 200 and seconds <= limit_s)
    worst = max(seconds for _, seconds in normal)
    others = Counter(status for status, _ in normal if status != 200)
    text = f"{within}/{len(normal)} within (worst {worst:.2f} s)"
    return text + (f"; {format_statuses(others)}" if others else "")


def table(outcomes: list[Outcome], limit_s: float, api_worker: str) -> list[str]:
    lines = ["| attack | sent | statuses | API RSS +MB | runners RSS +MB | longest /livez (s) | longest /readyz (s) "
             "| normal request | notes | result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        passed, reasons = verdict(outcome, limit_s, api_worker)
        api = outcome.rss_increase_mb.get(api_worker)
        runners = ", ".join(f"{short_worker(name)} +{increase:.0f}"
                            for name, increase in sorted(outcome.rss_increase_mb.items()) if name != api_worker)
        lines.append(
            f"| {outcome.attack} | {outcome.sent} | {format_statuses(outcome.statuses)} | "
            f"{'-' if api is None else f'+{api:.0f}'} | {runners or '-'} | "
            f"{outcome.livez} | {outcome.readyz} | "
            f"{normal_summary(outcome.normal, limit_s)} | {'; '.join(outcome.notes) or '-'} | "
            f"{'PASS' if passed else 'FAIL: ' + '; '.join(reasons)} |")
    return lines


def machine_lines() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    meminfo = read_meminfo()
    return [f"- machine: {cpu}, nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), memory "
            f"{meminfo.get('MemTotal', 0) / 1024 ** 2:.1f} GiB ({meminfo.get('MemAvailable', 0) / 1024 ** 2:.1f} GiB "
            f"available at the start), load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)"]
