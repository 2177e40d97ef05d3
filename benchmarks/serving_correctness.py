#!/usr/bin/env python3
"""Serving figures of issue 15, side by side for two checkouts of this repo.

    BENTOML_HOME=... python -m benchmarks.serving_correctness [--before DIR] [--after DIR]

Serves each checkout with `bentoml serve` on a free 127.0.0.1 port (the imported demo models
in BENTOML_HOME) and measures: token counts of one text alone vs batched with 15 others
(greedy and beams 4), the longest /livez answer while a 20,000-character text of short
sentences is chunked, /health latency while 16 clients keep the simplifier busy, and the API
process's memory (RSS). Prints one table.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from loadtests.server import REPO, free_port

PROBE = "The patient had a myocardial infarction."


def serve(checkout: Path, log_path: Path):
    port = free_port()
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "PLS_MAX_LATENCY_MS": "120000",
           "PYTHONPATH": str(checkout)}
    log = open(log_path, "wb")  # noqa: SIM115 (open for the server's life; closed when it stops)
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"{checkout} did not become ready; see {log_path}")


def stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def generate(url: str, body: dict) -> dict:
    with httpx.Client(base_url=url, timeout=600) as client:
        response = client.post("/generate", json=body)
        response.raise_for_status()
        return response.json()


def token_counts(url: str, others: list[str], beams: int) -> tuple[int, int]:
    body = {"technical_text": PROBE, "num_beams": beams}
    alone = generate(url, body)["tokens_output"]
    texts = others[:8] + [PROBE] + others[8:15]
    with ThreadPoolExecutor(max_workers=16) as pool:
        batched = list(pool.map(lambda t: generate(url, {**body, "technical_text": t}), texts))[8]["tokens_output"]
    return alone, batched


def livez_stall(url: str) -> float:
    sentence = "The patient had a myocardial infarction. "
    text = (sentence * (20000 // len(sentence)))[:20000].strip()
    worst, done = 0.0, threading.Event()

    def poll() -> None:
        nonlocal worst
        with httpx.Client(base_url=url, timeout=60) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get("/livez")
                worst = max(worst, time.perf_counter() - started)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    generate(url, {"technical_text": text, "num_beams": 1, "max_length": 50})
    done.set()
    poller.join()
    return worst


def health_under_load(url: str, others: list[str], seconds: float = 20.0) -> list[float]:
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []

    def client_loop(index: int) -> None:
        while time.monotonic() < stop_at:
            try:
                generate(url, {"technical_text": " ".join(others[index:index + 3]), "num_beams": 4})
            except httpx.HTTPError:  # a timeout under load is still load; /health is measured
                time.sleep(0.5)

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(16)]
    for worker in workers:
        worker.start()
    time.sleep(2)
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            client.get("/health")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.25)
    for worker in workers:
        worker.join()
    return latencies


def api_rss_mb(proc) -> float:
    api = [child for child in psutil.Process(proc.pid).children(recursive=True) if "pls-service" in child.cmdline()]
    return sum(child.memory_info().rss for child in api) / 2**20


def measure(checkout: Path, log_path: Path) -> dict:
    from demo.corpus import build_corpus

    others = [technical for technical, _ in build_corpus(0).heldout_combinations[:40]]
    proc, url = serve(checkout, log_path)
    try:
        row = {"counts_greedy": token_counts(url, others, 1), "counts_beams4": token_counts(url, others, 4)}
        row["livez_stall_s"] = livez_stall(url)
        health = health_under_load(url, others)
        row["health_median_s"], row["health_max_s"] = statistics.median(health), max(health)
        row["api_rss_mb"] = api_rss_mb(proc)
        return row
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code before the change")
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--logs", type=Path, default=Path("."))
    args = parser.parse_args()
    rows = {name: measure(path.resolve(), args.logs / f"bench-{name}.log")
            for name, path in (("before", args.before), ("after", args.after))}
    print("| figure | before | after |\n|---|---|---|")
    b, a = rows["before"], rows["after"]
    print(f"| tokens_output of the probe, greedy: alone / batched | {b['counts_greedy'][0]} / {b['counts_greedy'][1]} "
          f"| {a['counts_greedy'][0]} / {a['counts_greedy'][1]} |")
    print(f"| tokens_output of the probe, beams 4: alone / batched | {b['counts_beams4'][0]} / {b['counts_beams4'][1]} "
          f"| {a['counts_beams4'][0]} / {a['counts_beams4'][1]} |")
    print(f"| longest /livez while a 20,000-char text is chunked | {b['livez_stall_s']:.2f} s "
          f"| {a['livez_stall_s']:.2f} s |")
    print(f"| /health under load, median / max | {b['health_median_s']:.3f} / {b['health_max_s']:.3f} s "
          f"| {a['health_median_s']:.3f} / {a['health_max_s']:.3f} s |")
    print(f"| API process RSS | {b['api_rss_mb']:.0f} MB | {a['api_rss_mb']:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
