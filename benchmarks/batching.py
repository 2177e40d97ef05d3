#!/usr/bin/env python3
"""Side-by-side: the simplifier with adaptive batching on and off.

    python -m benchmarks.batching [--rounds 3] [--payload demo|cochrane]

Serves the imported models twice from this repo (`PLS_MAX_BATCH_SIZE=16`, then `=1`, which
turns batching off), and for each measures the median latency of single greedy requests and
the throughput of 16 concurrent ones. Prints a table with the on/off ratios. The models must be
in the BentoML store ($BENTOML_HOME): run scripts/models/import_models.py first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from loadtests.server import REPO, bentoml_serve

COCHRANE = REPO.parent / "shared" / "data" / "cochrane" / "val.source"


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def payloads(kind: str, count: int) -> list[str]:
    if kind == "cochrane":
        if not COCHRANE.is_file():
            raise SystemExit(f"{COCHRANE} not found: use --payload demo")
        return COCHRANE.read_text().splitlines()[:count]
    from demo.corpus import build_corpus

    return [technical for technical, _ in build_corpus(0).heldout_combinations[:count]]


def generate(url: str, text: str) -> float:
    started = time.perf_counter()
    response = httpx.post(url + "/generate", json={"technical_text": text, "num_beams": 1}, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def measure(url: str, texts: list[str], rounds: int) -> dict[str, float]:
    # BentoML's dispatcher fits its batching wait on the first calls; let it settle first.
    cold = generate(url, texts[0])
    for text in texts * 2:
        generate(url, text)
    single = [generate(url, text) for text in texts[:8]]
    rates = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(rounds):
            started = time.perf_counter()
            list(pool.map(lambda text: generate(url, text), texts[:16]))
            rates.append(16 / (time.perf_counter() - started))
    return {"first_s": cold, "single_s": statistics.median(single), "concurrent_rps": statistics.median(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=3, help="rounds of 16 concurrent requests")
    parser.add_argument("--payload", choices=("demo", "cochrane"), default="demo")
    args = parser.parse_args()
    texts = payloads(args.payload, 16)
    home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, batch in (("batching on", "16"), ("batching off", "1")):
            with bentoml_serve(home, Path(scratch) / f"{batch}.log", PLS_MAX_BATCH_SIZE=batch) as url:
                results[label] = measure(url, texts, args.rounds)
    on, off = results["batching on"], results["batching off"]
    print(f"payload: {args.payload}, greedy, 16 texts, {args.rounds} rounds of 16 concurrent requests")
    print("| variant | first request (s) | single request, median (s) | 16 concurrent (req/s) |")
    print("|---|---|---|---|")
    for label, row in results.items():
        print(f"| {label} | {row['first_s']:.3f} | {row['single_s']:.3f} | {row['concurrent_rps']:.2f} |")
    print(f"| on / off | {on['first_s'] / off['first_s']:.2f}x | {on['single_s'] / off['single_s']:.2f}x "
          f"| {on['concurrent_rps'] / off['concurrent_rps']:.2f}x |")


if __name__ == "__main__":
    main()
