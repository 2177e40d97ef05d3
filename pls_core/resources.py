"""How much CPU this process may really use, for sizing torch's thread pool.

On a 2 vCPU Fargate task the host may show many more cores; a thread pool sized to them
oversubscribes the task's CPU quota and makes small ops many times slower.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in cores set by cgroup v2 (`cpu.max`) or v1 (`cfs_quota_us`), if any."""
    v2 = root / "cpu.max"
    if v2.is_file():
        quota, _, period = v2.read_text().strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_file, period_file = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
    if quota_file.is_file() and period_file.is_file():
        quota, period = int(quota_file.read_text()), int(period_file.read_text())
        if quota > 0 and period > 0:
            return quota / period
    return None


def cpu_share(root: Path = CGROUP_ROOT) -> int:
    """Whole cores available to this process: affinity, capped by the cgroup quota."""
    cores = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)


def torch_threads(configured: int, workers: int, root: Path = CGROUP_ROOT) -> int:
    """Threads per worker: the configured number, or an even split of the CPU share."""
    if configured > 0:
        return configured
    return max(1, cpu_share(root) // max(1, workers))


def ct2_threads(intra: int, inter: int, workers: int, root: Path = CGROUP_ROOT) -> tuple[int, int]:
    """(replicas, threads each) of CTranslate2 on CPU: the configured numbers, else one replica of
    one thread per core of the worker's share. Independent sub-batches on separate cores beat
    intra-op threads on one batch at these matrix sizes (docs/BENCHMARKS.md)."""
    threads = intra if intra > 0 else 1
    share = max(1, cpu_share(root) // max(1, workers))
    replicas = inter if inter > 0 else max(1, share // threads)
    return replicas, threads
