#!/usr/bin/env python3
"""The first requests on a fresh server, with and without the warm-up (PLS_WARMUP).

    python -m benchmarks.first_request [--model demo|t5-small-shape] [--rounds 3] [--requests 5]

For each round and setting, in alternation, a new `bentoml serve` is started and, the moment
/readyz first says 200, `--requests` default /generate requests (a shipped Cochrane abstract, 4
beams, `max_length` 64) are sent one after another, then 4 at once. The table gives the time from
start to ready, the first request's latency, the slowest of the rest, and the 4 concurrent ones'
slowest: what a new task joining the load balancer hands its first users.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.harness import abstracts, machine, prepare
from loadtests.probe_cli import positive
from loadtests.server import bentoml_serve


def timed(url: str, body: dict) -> float:
    started = time.perf_counter()
    httpx.post(f"{url}/generate", json=body, timeout=300).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("demo", "t5-small-shape"), default="demo")
    parser.add_argument("--rounds", type=positive(int), default=3)
    parser.add_argument("--requests", type=positive(int), default=5)
    args = parser.parse_args()
    body = {"technical_text": min(abstracts(), key=len), "num_beams": 4, "max_length": 64}
    rows: dict[str, list[tuple[float, float, float, float]]] = {"true": [], "false": []}
    started_all = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-first-request-") as scratch:
        _, home = prepare(args.model, Path(scratch), 64)
        for round_ in range(args.rounds):
            for warmup in ("false", "true"):
                started = time.perf_counter()
                with bentoml_serve(home, Path(scratch) / f"serve-{warmup}-{round_}.log", PLS_WARMUP=warmup) as url:
                    ready = time.perf_counter() - started
                    alone = [timed(url, body) for _ in range(args.requests)]
                    with ThreadPoolExecutor(4) as pool:
                        together = list(pool.map(lambda _: timed(url, body), range(4)))
                rows[warmup].append((ready, alone[0], max(alone[1:], default=float("nan")), max(together)))
                print(warmup, rows[warmup][-1], flush=True)
    lines = [f"- command: `python -m benchmarks.first_request {' '.join(sys.argv[1:])}`",
             f"- model: {args.model}; took {(time.time() - started_all) / 60:.1f} min", *machine(), "",
             "| PLS_WARMUP | round | start to ready (s) | first request (s) | slowest of the next "
             f"{args.requests - 1} (s) | slowest of 4 at once (s) |", "|---|---|---|---|---|---|"]
    for warmup in ("false", "true"):
        for number, (ready, first, rest, together) in enumerate(rows[warmup], 1):
            lines.append(f"| {warmup} | {number} | {ready:.1f} | {first:.2f} | {rest:.2f} | {together:.2f} |")
    lines += ["", "| PLS_WARMUP | median start to ready (s) | median first request (s) "
              "| median slowest of 4 at once (s) |", "|---|---|---|---|"]
    for warmup in ("false", "true"):
        ready, first, _, together = (statistics.median(column) for column in zip(*rows[warmup]))
        lines.append(f"| {warmup} | {ready:.1f} | {first:.2f} | {together:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
