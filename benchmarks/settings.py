#!/usr/bin/env python3
"""Compare service settings side by side, in one run, on the same model, inputs and load.

    python -m benchmarks.settings --model t5-small-shape --users 16 --beams 4 --rounds 2 \\
        --variant fixed=PLS_GENERATION_TOKEN_BUDGET=16384 --variant auto=PLS_GENERATION_TOKEN_BUDGET=0

Each variant is a name and the environment settings its `bentoml serve` gets (NAME=VAR=VALUE,
several VAR=VALUE joined by commas). The variants run in turn, `--rounds` times, so a change
in the machine's load touches them all alike; the table has one row per variant and round and
the ratio of each variant's mean throughput to the first one's. Models, inputs and equal work
(forced output length) as in benchmarks/side_by_side.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import PeakMemory, input_texts, machine, measure_http, prepare, table
from loadtests.probe_cli import positive
from loadtests.server import bentoml_serve


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition("=")
    pairs = [item.partition("=") for item in settings.split(",") if item]
    if not name or not pairs or any(not key or not sep for key, sep, _ in pairs):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VAR=VALUE[,VAR=VALUE...]")
    return name, {key: value for key, _, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("demo", "t5-small-shape"), default="t5-small-shape")
    parser.add_argument("--variant", type=parse_variant, action="append", required=True)
    parser.add_argument("--users", type=positive(int), default=16)
    parser.add_argument("--beams", type=positive(int), default=4)
    parser.add_argument("--input-tokens", type=positive(int), default=256)
    parser.add_argument("--output-tokens", type=positive(int), default=64)
    parser.add_argument("--requests", type=positive(int), default=48, help="requests per variant and round")
    parser.add_argument("--rounds", type=positive(int), default=2)
    args = parser.parse_args()
    if args.output_tokens < 50:
        parser.error("--output-tokens is the API's max_length: at least 50")
    names = [name for name, _ in args.variant]
    if len(set(names)) != len(names):
        parser.error(f"variant names must differ: {', '.join(names)}")
    started, rows = time.time(), []
    with tempfile.TemporaryDirectory(prefix="bench-settings-") as scratch:
        simplifier, home = prepare(args.model, Path(scratch), args.output_tokens)
        texts = input_texts(simplifier, args.input_tokens)
        def body(text):
            return {"technical_text": text, "max_length": args.output_tokens, "num_beams": args.beams}
        for round_ in range(args.rounds):
            for name, settings in args.variant:
                log = Path(scratch) / f"{name}-{round_}.log"
                with bentoml_serve(home, log, PLS_MAX_LATENCY_MS="300000", PLS_REQUEST_TIMEOUT_S="600",
                                   **settings) as url:
                    memory = PeakMemory(int(url.rsplit(":", 1)[1]))
                    rows += measure_http(args.model, f"{name} (round {round_ + 1})", url, "/generate", body, texts,
                                         [args.users], args.beams, args.requests, 0, memory)
                    print(rows[-1], flush=True)
    first = args.variant[0][0]
    mean = {name: statistics.mean(r.rps for r in rows if r.variant.startswith(f"{name} ")) for name, _ in args.variant}
    print("\n".join([f"- command: `python -m benchmarks.settings {' '.join(sys.argv[1:])}`",
                     f"- took {(time.time() - started) / 60:.1f} min", *machine(), "", *table(rows), "",
                     "| variant | settings | mean req/s | vs " + first + " |", "|---|---|---|---|",
                     *[f"| {name} | {', '.join(f'{k}={v}' for k, v in settings.items())} | {mean[name]:.2f} | "
                       f"{mean[name] / mean[first]:.2f} |" for name, settings in args.variant]]))


if __name__ == "__main__":
    main()
