#!/usr/bin/env python3
"""Does the service degrade gracefully when another process keeps one of the cores busy?

    python -m benchmarks.busy_core [--model demo] [--layouts 2x1,1x2] [--users 4] [--seconds 60] [--rounds 2]

For each layout of the CTranslate2 simplifier, REPLICAS x THREADS (PLS_CT2_INTER_THREADS x
PLS_TORCH_THREADS: `2x1`, the default on 2 cores, is two single-threaded replicas generating
sub-batches in parallel; `1x2` one replica with two intra-op threads), a `bentoml serve` runs a
mixed closed-loop load (each user in turn: /classify, /generate, /generate-with-metrics, on the
shipped abstracts, 4 beams) first alone and then beside a process that spins on one core,
`--rounds` times alternating, while a thread asks /livez and /readyz every 0.2 s. The table gives
per endpoint p50/p95 and throughput, the longest /livez and /readyz answer (the API's event loop
beside the simplifier's threads and the classifier), and the ratio of /generate's p95 beside the
busy core to its p95 alone: about 2 means the service fell back to its fair share of the machine;
far more means threads waiting on each other (oversubscription).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.harness import machine, prepare
from loadtests.checks import load_texts
from loadtests.probe_cli import listed, positive
from loadtests.report import percentile
from loadtests.server import bentoml_serve

ENDPOINTS = ("/classify", "/generate", "/generate-with-metrics")


def spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_core(on: bool) -> Iterator[None]:
    if not on:
        yield
        return
    burner = multiprocessing.Process(target=spin, daemon=True)
    burner.start()
    try:
        yield
    finally:
        burner.kill()
        burner.join()


def layout(value: str) -> tuple[int, int]:
    replicas, _, threads = value.partition("x")
    if not (replicas.isdigit() and threads.isdigit() and int(replicas) > 0 and int(threads) > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not REPLICASxTHREADS, e.g. 2x1")
    return int(replicas), int(threads)


def probe(url: str, deadline: float, into: dict[str, list[float]], pause_s: float = 0.2) -> None:
    """Time /livez and /readyz every `pause_s` until `deadline` (a failed probe counts its time)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline:
            for path in ("/livez", "/readyz"):
                started = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(path)
                into[path].append(time.perf_counter() - started)
            time.sleep(pause_s)


def mixed_load(url: str, users: int, seconds: float, max_length: int) -> dict[str, list[float]]:
    """Latencies of successful answers per endpoint; failures under the key 'failed'; the
    probes' answer times under /livez and /readyz."""
    texts = [text.text for text in load_texts()["medium"]]
    latencies: dict[str, list[float]] = defaultdict(list)
    deadline = time.monotonic() + seconds

    def user(index: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as client:
            turn = index
            while time.monotonic() < deadline:
                path, text = ENDPOINTS[turn % 3], texts[turn % len(texts)]
                body = ({"text": text} if path == "/classify" else
                        {"technical_text": text, "max_length": max_length, "num_beams": 4})
                if path == "/generate-with-metrics":
                    body = {**body, "reference_pls": text}
                started = time.perf_counter()
                try:
                    ok = client.post(path, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[path if ok else "failed"].append(time.perf_counter() - started)
                turn += 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    threads.append(threading.Thread(target=probe, args=(url, deadline, latencies)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("demo", "t5-small-shape"), default="demo")
    parser.add_argument("--layouts", type=listed(layout), default=[(2, 1), (1, 2)],
                        help="CTranslate2 layouts to compare, REPLICASxTHREADS (default 2x1,1x2)")
    parser.add_argument("--users", type=positive(int), default=4)
    parser.add_argument("--seconds", type=positive(float), default=60)
    parser.add_argument("--rounds", type=positive(int), default=2)
    parser.add_argument("--max-length", type=positive(int), default=64)
    args = parser.parse_args()
    if args.max_length < 50:
        parser.error("--max-length is the API's max_length: at least 50")
    started, rows = time.time(), []
    with tempfile.TemporaryDirectory(prefix="bench-busy-core-") as scratch:
        _, home = prepare(args.model, Path(scratch), args.max_length)
        for round_ in range(args.rounds):
            for replicas, each in args.layouts:
                threads = f"{replicas}x{each}"
                with bentoml_serve(home, Path(scratch) / f"serve-{threads}-{round_}.log",
                                   PLS_CT2_INTER_THREADS=str(replicas), PLS_TORCH_THREADS=str(each)) as url:
                    mixed_load(url, args.users, 10, args.max_length)  # warm-up
                    for busy in (False, True):
                        with busy_core(busy):
                            measured = mixed_load(url, args.users, args.seconds, args.max_length)
                        rows.append((threads, busy, round_ + 1, measured))
                        print(threads, busy, {k: len(v) for k, v in measured.items()}, flush=True)
    lines = [f"- command: `python -m benchmarks.busy_core {' '.join(sys.argv[1:])}`",
             f"- took {(time.time() - started) / 60:.1f} min", *machine(), "",
             "| layout | busy core | round | endpoint | answers | failed | req/s | p50 (s) | p95 (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for threads, busy, round_, measured in rows:
        for path in ENDPOINTS:
            done = measured.get(path, [])
            lines.append(f"| {threads} | {'yes' if busy else 'no'} | {round_} | {path} | {len(done)} | "
                         f"{len(measured.get('failed', []))} | {len(done) / args.seconds:.2f} | "
                         f"{statistics.median(done) if done else float('nan'):.2f} | "
                         f"{percentile(done, 0.95) if done else float('nan'):.2f} |")
    lines += ["", "| layout | /generate p95 alone (s) | beside a busy core (s) | ratio | longest /livez (s) "
              "| longest /readyz (s) |", "|---|---|---|---|---|---|"]
    for replicas, each in args.layouts:
        threads = f"{replicas}x{each}"
        p95 = {busy: statistics.mean(percentile(m["/generate"], 0.95) for t, b, _, m in rows
                                     if t == threads and b == busy and m.get("/generate")) for busy in (False, True)}
        longest = {path: max((max(m[path]) for t, _, _, m in rows if t == threads and m.get(path)),
                             default=float("nan")) for path in ("/livez", "/readyz")}
        lines.append(f"| {threads} | {p95[False]:.2f} | {p95[True]:.2f} | {p95[True] / p95[False]:.2f} | "
                     f"{longest['/livez']:.2f} | {longest['/readyz']:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
