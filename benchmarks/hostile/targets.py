"""What one attack did, and its verdict against the issue's targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# The targets.
RSS_LIMIT_MB = 200
READYZ_LIMIT_S = 1.0
# Finding 6's own targets: bounded log records and error answers.
LOG_RECORD_LIMIT = 64 * 1024
ERROR_BODY_LIMIT = 64 * 1024
CUT = -1  # the status of a request still in flight when its attack's time bound ended it


def usual_limit(usual_s: float) -> float:
    """The longest a normal request may take during an attack and still count as within its usual time."""
    return 2 * usual_s + 1.0


@dataclass
class Probe:
    """The answers of one probe path during an attack."""

    longest_s: float | None = None  # the longest answer, or wait for none; None: never polled
    not_200: int = 0  # answered, with another status
    unanswered: int = 0  # no answer within PROBE_TIMEOUT_S, or no connection

    def __str__(self) -> str:
        if self.longest_s is None:
            return "not polled"
        extra = []
        if self.unanswered:
            extra.append(f"{self.unanswered} unanswered")
        if self.not_200:
            extra.append(f"{self.not_200} not 200")
        return f"{self.longest_s:.2f}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class Outcome:
    """What one attack did and what the server showed meanwhile."""

    attack: str
    sent: str = ""
    statuses: Counter = field(default_factory=Counter)  # (route, status): 0 no answer (timeout, reset); CUT
    rss_increase_mb: dict[str, float] = field(default_factory=dict)  # worker -> peak increase
    livez: Probe = field(default_factory=lambda: Probe())
    readyz: Probe = field(default_factory=lambda: Probe())
    normal: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the attack's own findings (log, died, stopped)
    seconds: float = 0.0


def verdict(outcome: Outcome, limit_s: float, api_worker: str) -> tuple[bool, list[str]]:
    """(passed, reasons it failed) against the targets."""
    reasons = list(outcome.failures)
    for worker, increase in outcome.rss_increase_mb.items():
        if increase > RSS_LIMIT_MB:
            reasons.append(f"{'API' if worker == api_worker else worker} RSS +{increase:.0f} MB > {RSS_LIMIT_MB}")
    readyz = outcome.readyz
    if readyz.longest_s is None:
        reasons.append("/readyz not polled")
    elif readyz.unanswered:
        reasons.append(f"/readyz unanswered {readyz.unanswered}× (waited up to {readyz.longest_s:.1f} s)")
    elif readyz.longest_s > READYZ_LIMIT_S:
        reasons.append(f"/readyz took {readyz.longest_s:.1f} s > {READYZ_LIMIT_S:g}")
    if not outcome.normal:
        reasons.append("no normal request completed")
    elif any(status != 200 or seconds > limit_s for status, seconds in outcome.normal):
        reasons.append(f"a normal request missed its 200 within {limit_s:.2f} s")
    return not reasons, reasons


def short_worker(name: str) -> str:
    return name.removeprefix("pls-").removesuffix("-runner")
