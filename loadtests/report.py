"""From the per-request records of a locust run to figures, SLO gates, capacity and cost.

No locust import here: `loadtests.run` and the unit tests use it in an ordinary process.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SUMMARY_ENDPOINTS = ("/generate", "/generate-with-metrics")  # answers that carry a summary
# Share of the measured capacity that autoscaling aims at, so a task scales out before its
# p95 breaks the SLO (new tasks need minutes to start).
AUTOSCALING_HEADROOM = 0.7


@dataclass(frozen=True)
class Request:
    name: str
    start: float  # seconds after the test started
    ms: float
    ok: bool
    error: str | None = None
    users: int | None = None

    @property
    def end(self) -> float:
        return self.start + self.ms / 1000


def load_records(path: Path) -> list[Request]:
    """The requests the locustfile recorded, with times relative to the test's start."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [line["time"] for line in lines if line.get("event") == "test_start"]
    requests = [line for line in lines if "name" in line]
    origin = starts[0] if starts else min((r["start"] for r in requests), default=0.0)
    return [Request(r["name"], r["start"] - origin, r["ms"], r["ok"], r.get("error"), r.get("users"))
            for r in requests]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


@dataclass(frozen=True)
class Stats:
    requests: int
    failures: int
    rps: float  # successful answers per second
    p50_ms: float
    p95_ms: float
    max_ms: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def stats(requests: list[Request], seconds: float) -> Stats:
    # Latency of successful answers only: a quick 503 must not make an overloaded step look fast.
    # Failures are counted apart (and gated at ratio 0 by default). NaN when nothing succeeded.
    times = [r.ms for r in requests if r.ok] or [math.nan]
    failures = sum(not r.ok for r in requests)
    return Stats(len(requests), failures, (len(requests) - failures) / seconds if seconds > 0 else 0.0,
                 percentile(times, 0.50), percentile(times, 0.95), max(times))


def by_endpoint(requests: list[Request], seconds: float) -> dict[str, Stats]:
    names = sorted({r.name for r in requests})
    return {name: stats([r for r in requests if r.name == name], seconds) for name in names}


def measured_seconds(requests: list[Request]) -> float:
    """From the test's start to the last answer."""
    return max((r.end for r in requests), default=0.0)


# --- SLO gates ---------------------------------------------------------------------------------
@dataclass
class Gates:
    max_failure_ratio: float = 0.0
    p95_ms: dict[str, float] = field(default_factory=dict)  # endpoint -> most p95 allowed
    min_rps: float | None = None  # least throughput of successful answers, all endpoints
    required: frozenset[str] = frozenset()  # endpoints whose p95 gate breaks when they got no requests


DEFAULT_P95_MS = {"/classify": 1000.0, "/generate": 30000.0, "/generate-with-metrics": 30000.0}


def broken_gates(endpoints: dict[str, Stats], total: Stats, gates: Gates) -> list[str]:
    """One message per broken gate, naming the endpoint and the figure; empty when all hold."""
    broken = []
    if total.requests == 0:
        return ["no requests were made"]
    for name, figures in endpoints.items():
        if figures.failure_ratio > gates.max_failure_ratio:
            broken.append(f"{name}: failure ratio {figures.failure_ratio:.3f} ({figures.failures} of "
                          f"{figures.requests}) > {gates.max_failure_ratio:g}")
    for name, limit in gates.p95_ms.items():
        if name not in endpoints:
            if name in gates.required:
                broken.append(f"{name}: no requests, so its p95 gate ({limit:g} ms) cannot be checked")
            continue
        if endpoints[name].p95_ms > limit:
            broken.append(f"{name}: p95 {endpoints[name].p95_ms:.0f} ms > {limit:g} ms")
    if gates.min_rps is not None and total.rps < gates.min_rps:
        broken.append(f"all endpoints: throughput {total.rps:.2f} req/s < {gates.min_rps:g} req/s")
    return broken


# --- the step profile ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    users: int
    total: Stats
    endpoints: dict[str, Stats]
    summaries_rps: float
    broken: list[str]

    @property
    def meets_slo(self) -> bool:
        return not self.broken


def settle_seconds(hold_s: float) -> float:
    """Answers in the first part of a step still carry the previous step's load: skip them."""
    return min(10.0, hold_s / 4)


def step_results(requests: list[Request], steps: list[int], hold_s: float, gates: Gates) -> list[Step]:
    """Figures of each step from the answers that arrived while it was held (after settling)."""
    settle = settle_seconds(hold_s)
    results = []
    for index, users in enumerate(steps):
        begin, end = index * hold_s + settle, (index + 1) * hold_s
        inside = [r for r in requests if begin <= r.end < end]
        seconds = end - begin
        endpoints = by_endpoint(inside, seconds)
        total = stats(inside, seconds)
        summaries = sum(endpoints[name].rps for name in SUMMARY_ENDPOINTS if name in endpoints)
        broken = broken_gates(endpoints, total, Gates(gates.max_failure_ratio, gates.p95_ms))
        results.append(Step(users, total, endpoints, summaries, broken))
    return results


def capacity(steps: list[Step]) -> Step | None:
    """The highest step before the first that breaks the SLO (p95 or failures); None if step one does."""
    best = None
    for step in steps:
        if not step.meets_slo:
            break
        best = step
    return best


def requests_per_target(step: Step) -> int:
    """The ALB requests-per-target-per-minute target for autoscaling, from a capacity step."""
    return max(1, math.floor(step.total.rps * 60 * AUTOSCALING_HEADROOM))


# --- cost ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    label: str
    vcpu_hour: float
    gb_hour: float
    source: str


# AWS Fargate on-demand list prices (USD). No network here to re-read the pricing page: these are
# the published figures as known on 2026-11-29, unchanged since AWS's January 2019 price cut.
PRICE_SOURCE = ("aws.amazon.com/fargate/pricing, on-demand, as known on 2026-11-29 "
                "(unchanged since 2019-01; check the page before relying on it)")
PRICES = {
    "us-east-1-x86": Price("us-east-1, Linux/x86_64", 0.04048, 0.004445, PRICE_SOURCE),
    "us-east-1-arm": Price("us-east-1, Linux/ARM64 (Graviton)", 0.03238, 0.00356, PRICE_SOURCE),
}


def task_cost_per_hour(price: Price, vcpu: float, memory_gb: float) -> float:
    return vcpu * price.vcpu_hour + memory_gb * price.gb_hour


def cost_per_1000(hourly: float, per_second: float) -> float | None:
    """Dollars per 1,000 answers of a task kept busy at `per_second`; None without throughput."""
    if per_second <= 0:
        return None
    return hourly / (per_second * 3600) * 1000


# --- output ---------------------------------------------------------------------------------------
def endpoint_table(endpoints: dict[str, Stats], total: Stats, gates: Gates) -> list[str]:
    lines = ["| endpoint | requests | failures | req/s | p50 (ms) | p95 (ms) | max (ms) | p95 gate (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in {**endpoints, "all": total}.items():
        gate = gates.p95_ms.get(name)
        lines.append(f"| {name} | {s.requests} | {s.failures} | {s.rps:.2f} | {ms(s.p50_ms)} | "
                     f"{ms(s.p95_ms)} | {ms(s.max_ms)} | {'' if gate is None else f'{gate:g}'} |")
    return lines


def error_table(requests: list[Request], limit: int = 10) -> list[str]:
    counts = Counter((r.name, r.error) for r in requests if not r.ok)
    if not counts:
        return ["No failed requests."]
    lines = ["| endpoint | failures | error |", "|---|---|---|"]
    for (name, error), count in counts.most_common(limit):
        lines.append(f"| {name} | {count} | {(error or '').replace('|', '/')} |")
    return lines


def step_table(steps: list[Step]) -> list[str]:
    names = sorted({name for step in steps for name in step.endpoints})
    header = "| users | req/s | summaries/s | failures | p50 (ms) | p95 (ms) | " + \
        " | ".join(f"p95 {name} (ms)" for name in names) + " | SLO |"
    lines = [header, "|" + "---|" * (7 + len(names))]
    for step in steps:
        cells = [ms(step.endpoints[n].p95_ms) if n in step.endpoints else "" for n in names]
        lines.append(f"| {step.users} | {step.total.rps:.2f} | {step.summaries_rps:.2f} | "
                     f"{step.total.failures}/{step.total.requests} | {ms(step.total.p50_ms)} | "
                     f"{ms(step.total.p95_ms)} | " + " | ".join(cells) +
                     f" | {'met' if step.meets_slo else 'broken: ' + '; '.join(step.broken)} |")
    return lines


def draw_step_chart(steps: list[Step], gates: Gates, best: Step | None, path: Path) -> None:
    """Throughput and p95 per endpoint against users, the SLO lines and the capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    users = [step.users for step in steps]
    fig, left = plt.subplots(figsize=(8, 4.5), dpi=100)
    left.plot(users, [s.total.rps for s in steps], "o-", color="tab:blue", label="requests/s (all)")
    left.plot(users, [s.summaries_rps for s in steps], "s--", color="tab:cyan", label="summaries/s")
    left.set_xscale("log", base=2)
    left.set_xticks(users, [str(u) for u in users])
    left.set_xlabel("concurrent users")
    left.set_ylabel("throughput (answers/s)")
    left.set_ylim(bottom=0)
    right = left.twinx()
    colours = iter(["tab:red", "tab:orange", "tab:purple", "tab:brown"])
    for name in sorted({n for s in steps for n in s.endpoints}):
        colour = next(colours, "tab:gray")
        points = [(s.users, s.endpoints[name].p95_ms / 1000) for s in steps
                  if name in s.endpoints and not math.isnan(s.endpoints[name].p95_ms)]
        if points:
            right.plot(*zip(*points), "^-", color=colour, label=f"p95 {name} (successful answers)")
        if name in gates.p95_ms:
            right.axhline(gates.p95_ms[name] / 1000, color=colour, linestyle=":", linewidth=1)
    right.set_yscale("log")
    right.set_ylabel("p95 latency (s, log); dotted: SLO")
    if best is not None:
        left.axvline(best.users, color="green", linestyle="-.", linewidth=1, label=f"capacity ({best.users} users)")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper left", fontsize=8)
    left.set_title("Step load: throughput and p95 against users")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
