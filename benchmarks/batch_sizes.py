#!/usr/bin/env python3
"""How big are the simplifier's batches at each load? Reads BentoML's own batch-size histogram.

    python -m benchmarks.batch_sizes [--model t5-small-shape] [--users 1,4,16] [--beams 4]

One `bentoml serve` on the model (as in benchmarks/side_by_side.py: 256 tokens in, 64 out
forced), a closed loop per level, and the mean adaptive batch of the simplifier during that level
from `bentoml_service_adaptive_batch_size` on /metrics (the level's warm-up requests included).
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import httpx

from benchmarks.harness import input_texts, measure_http, prepare
from loadtests.probe_cli import listed, positive
from loadtests.server import bentoml_serve

HISTOGRAM = r"bentoml_service_adaptive_batch_size_{kind}\{{[^}}]*pls-simplifier-runner[^}}]*\}} ([0-9.e+]+)"


def batch_totals(url: str) -> tuple[float, float]:
    """(requests batched, batches) so far, from the simplifier's batch-size histogram."""
    text = httpx.get(url + "/metrics", timeout=30).text
    def total(kind):
        return sum(float(v) for v in re.findall(HISTOGRAM.format(kind=kind), text))
    return total("sum"), total("count")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("demo", "t5-small-shape"), default="t5-small-shape")
    parser.add_argument("--users", type=listed(positive(int)), default=[1, 4, 16])
    parser.add_argument("--beams", type=positive(int), default=4)
    parser.add_argument("--requests", type=positive(int), default=16)
    args = parser.parse_args()
    print("| users | req/s | p50 (s) | p95 (s) | batches | mean batch |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-batch-sizes-") as scratch:
        simplifier, home = prepare(args.model, Path(scratch), 64)
        texts = input_texts(simplifier, 256)
        def body(text):
            return {"technical_text": text, "max_length": 64, "num_beams": args.beams}
        with bentoml_serve(home, Path(scratch) / "serve.log", PLS_MAX_LATENCY_MS="300000",
                           PLS_REQUEST_TIMEOUT_S="600") as url:
            for users in args.users:
                done_before, batches_before = batch_totals(url)
                level = measure_http(args.model, "service", url, "/generate", body, texts, [users], args.beams,
                                     args.requests, 2)[0]
                done, batches = (a - b for a, b in zip(batch_totals(url), (done_before, batches_before)))
                print(f"| {users} | {level.rps:.2f} | {level.p50_s:.2f} | {level.p95_s:.2f} | {batches:.0f} | "
                      f"{done / batches if batches else float('nan'):.2f} |", flush=True)


if __name__ == "__main__":
    main()
