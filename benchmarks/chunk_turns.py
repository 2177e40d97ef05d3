"""How a long request and a short one share the simplifier, by PLS_CHUNKS_IN_FLIGHT.

    python -m benchmarks.chunk_turns --bento-home STORE [--windows 0 4 8 16] [--repeats 2]

For each window a `bentoml serve` of this checkout (default settings otherwise) answers, in turn:
the long request alone (20,000 characters of `x,`, 1 beam, 512 tokens: the hostile-input
benchmark's ROUGE attack, ~27 chunks), a short one alone (the shortest shipped Cochrane abstract
with the API's defaults), then the long one with the short one sent 1 s after it. Prints per
window the long request's time alone and beside the short, and the short one's time alone and
beside the long: a window trades the long request's batching for the short one's wait.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.harness import abstracts
from loadtests.probe_cli import non_negative_int, positive
from loadtests.server import bentoml_serve

LONG = {"technical_text": ("x, " * 6667)[:20_000], "num_beams": 1, "max_length": 512}


def timed(url: str, body: dict) -> float:
    started = time.monotonic()
    answer = httpx.post(f"{url}/generate", json=body, timeout=300)
    answer.raise_for_status()
    return time.monotonic() - started


def side_by_side(url: str, short: dict) -> tuple[float, float]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("long", timed(url, LONG)))
    thread.start()
    time.sleep(1.0)
    short_s = timed(url, short)
    thread.join()
    return result["long"], short_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bento-home", type=Path, required=True, help="BENTOML_HOME whose store holds the models")
    parser.add_argument("--windows", type=non_negative_int, nargs="+", default=[0, 4, 8, 16])
    parser.add_argument("--repeats", type=positive(int), default=2)
    args = parser.parse_args()
    if not (args.bento_home / "models" / "pls-simplifier").is_dir():
        parser.error(f"{args.bento_home} holds no pls-simplifier model: import one with "
                     "`BENTOML_HOME=DIR python scripts/models/import_models.py --models-dir models`")
    short = {"technical_text": min(abstracts(), key=len)}
    rows = []
    for window in args.windows:
        log = Path(tempfile.mkdtemp(prefix="turns-")) / "serve.log"
        with bentoml_serve(args.bento_home, log, PLS_CHUNKS_IN_FLIGHT=str(window)) as url:
            for _ in range(2):
                timed(url, short)  # warm-up
            long_alone = [timed(url, LONG) for _ in range(args.repeats)]
            short_alone = [timed(url, short) for _ in range(3)]
            pairs = [side_by_side(url, short) for _ in range(args.repeats)]
        rows.append((window, statistics.median(long_alone), statistics.median(p[0] for p in pairs),
                     statistics.median(short_alone), max(p[1] for p in pairs)))
        print(f"window {window}: done", flush=True)
    print("\n| PLS_CHUNKS_IN_FLIGHT | long alone (s) | long beside short (s) | short alone (s) "
          "| short beside long, worst (s) |")
    print("|---|---|---|---|---|")
    for window, long_alone, long_beside, short_alone, short_beside in rows:
        label = "0 (all at once)" if window == 0 else str(window)
        print(f"| {label} | {long_alone:.2f} | {long_beside:.2f} | {short_alone:.2f} | {short_beside:.2f} |")


if __name__ == "__main__":
    main()
