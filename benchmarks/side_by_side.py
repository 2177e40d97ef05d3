#!/usr/bin/env python3
"""Side by side, in one run, on the same model, inputs and output lengths:

  (a) transformers `generate` in-process at its best batch size: the ceiling on this CPU; with
      the CTranslate2 backend also (a') CTranslate2 in-process at its best batch, the ceiling
      of the service's own engine;
  (b) the BentoML service with adaptive batching (PLS_MAX_BATCH_SIZE, default: 16 with CTranslate2);
  (c) the BentoML service with batching off (PLS_MAX_BATCH_SIZE=1);
  (d) one blocking `generate` per request in a tiny starlette server, as the users' earlier
      FastAPI service did (benchmarks/blocking_server.py).

    python -m benchmarks.side_by_side [--models demo,t5-small-shape] [--users 1,4,16]
        [--beams 1,4] [--input-tokens 256] [--output-tokens 64] [--requests 16] [--out FILE.md]
    PLS_SIMPLIFIER_BACKEND=ctranslate2 python -m benchmarks.side_by_side ...   # other backend

Models: `demo` is models/t5_base; `t5-small-shape` has t5-small's shape (6+6 layers, d_model
512, d_ff 2048, 8 heads) with random weights and the demo tokenizer, built in a temporary
folder. Each is imported with the demo classifier into its own temporary BentoML store.
Equal work: the model's generation config gets min_new_tokens = --output-tokens, so EOS never
comes early and every variant generates the same number of tokens (the table shows it).
The backend setting (PLS_SIMPLIFIER_BACKEND, or --backend) applies to (b) and (c); (a) and (d)
stay plain transformers as the reference. Throughput counts successful answers only; failures
are counted and shown, never dropped. For (b) and (c) the table also shows the peak resident
memory of the whole server (all its processes), sampled every 0.2 s while the level ran.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx

from benchmarks.harness import (
    REPO,
    PeakMemory,
    Row,
    generated_tokens,
    input_texts,
    machine,
    measure_http,
    prepare,
    row,
    table,
)
from loadtests.server import bentoml_serve, free_port
from pls_core.config import SETTINGS

IN_PROCESS_BATCHES = (1, 4, 8, 16)


# --- the variants besides the service ------------------------------------------------------------
@contextlib.contextmanager
def blocking_server(model_dir: Path, log_path: Path) -> Iterator[str]:
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.blocking_server", "--model", str(model_dir),
                                 "--port", str(port)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                        break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"blocking server did not start:\n{log_path.read_text()[-3000:]}")
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def best_batch(model: str, beams: int, variant: str, texts: list[str], requests: int, generate) -> Row:
    """Batches of each size in IN_PROCESS_BATCHES through `generate(texts) -> tokens per text`;
    the size with the best throughput."""
    best = None
    for batch in IN_PROCESS_BATCHES:
        batches = max(1, requests // batch)
        latencies, tokens = [], []
        started = time.perf_counter()
        for index in range(batches):
            begun = time.perf_counter()
            tokens += generate([texts[(index * batch + k) % len(texts)] for k in range(batch)])
            latencies += [time.perf_counter() - begun] * batch
        result = row(model, beams, variant, f"batch {batch}", batches * batch, 0, time.perf_counter() - started,
                     latencies, tokens)
        if best is None or result.rps > best.rps:
            best = result
    best.users += " (best)"
    return best


def in_process(model: str, model_dir: Path, texts: list[str], beams: int, new_tokens: int,
               requests: int) -> Row:
    """(a): one transformers `generate` per batch in this process, at its best batch size."""
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from pls_core.model_layout import TASK_PREFIX
    from pls_core.resources import torch_threads

    torch.set_num_threads(torch_threads(0, 1))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = T5ForConditionalGeneration.from_pretrained(model_dir).eval()

    def generate(batch: list[str]) -> list[int]:
        encoded = tokenizer([TASK_PREFIX + text for text in batch], return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = engine.generate(**encoded, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                     num_beams=beams)
        return [generated_tokens(ids, tokenizer.eos_token_id) for ids in output[:, 1:].tolist()]

    return best_batch(model, beams, "(a) in-process transformers", texts, requests, generate)


def in_process_ct2(model: str, model_dir: Path, texts: list[str], beams: int, new_tokens: int,
                   requests: int) -> Row:
    """(a'): the service's CTranslate2 backend class in this process, at its best batch size."""
    from pls_core.resources import ct2_threads
    from runners.ct2_backend import CT2_SUBDIR, CTranslate2Backend

    if not (model_dir / CT2_SUBDIR).is_dir():
        subprocess.run([sys.executable, "scripts/models/convert_ct2.py", str(model_dir), str(model_dir / CT2_SUBDIR)],
                       cwd=REPO, check=True, capture_output=True)
    replicas, threads = ct2_threads(0, 0, 1)  # as the service sizes it
    engine = CTranslate2Backend(str(model_dir), "cpu", "auto", threads=threads, replicas=replicas)
    def generate(batch):
        return [g.tokens_output for g in engine.generate(batch, new_tokens, beams)]
    variant = f"(a') in-process ctranslate2 {engine.compute_type}, {replicas} x {threads} threads"
    return best_batch(model, beams, variant, texts, requests, generate)


# --- the run ----------------------------------------------------------------------------------------
def show(rows: list[Row]) -> list[Row]:
    for measured in rows:
        print(json.dumps(asdict(measured)), flush=True)
    return rows


def run_model(model: str, args: argparse.Namespace, scratch: Path) -> list[Row]:
    simplifier, home = prepare(model, scratch, args.output_tokens)
    texts = input_texts(simplifier, args.input_tokens)
    rows: list[Row] = []

    def service_body(beams):
        return lambda text: {"technical_text": text, "max_length": args.output_tokens, "num_beams": beams}

    label = f" [{args.backend}]"
    variants = [(f"(b) service, adaptive batching{label}", str(args.batch_size), REPO),
                (f"(c) service, batching off{label}", "1", REPO)]
    if args.before:
        variants.insert(0, (f"(b0) service before: {args.before.name}{label}", str(args.batch_size), args.before))
    for variant, batch, checkout in variants:
        log = scratch / f"{model}-{batch}-{checkout.name}.log"
        with bentoml_serve(home, log, repo=checkout, PLS_MAX_BATCH_SIZE=batch, PLS_MAX_LATENCY_MS="300000",
                           PLS_REQUEST_TIMEOUT_S="600", PLS_SIMPLIFIER_BACKEND=args.backend) as url:
            memory = PeakMemory(int(url.rsplit(":", 1)[1]))
            for beams in args.beams:
                measured = measure_http(model, variant, url, "/generate", service_body(beams), texts,
                                        args.users, beams, args.requests, args.per_user, memory)
                rows += show(measured)
    # The service's own output length per request is what (a) and (d) must match.
    served = [r.tokens_out for r in rows if r.tokens_out == r.tokens_out]
    new_tokens = round(statistics.median(served)) if served else args.output_tokens
    with blocking_server(simplifier, scratch / f"{model}-blocking.log") as url:
        for beams in args.beams:
            def body(text, beams=beams):
                return {"technical_text": text, "max_new_tokens": new_tokens,
                                                              "min_new_tokens": new_tokens, "num_beams": beams}
            rows += show(measure_http(model, "(d) one blocking generate per request", url, "/generate", body,
                                      texts, args.users, beams, args.requests, args.per_user))
    for beams in args.beams:
        rows += show([in_process(model, simplifier, texts, beams, new_tokens, args.requests)])
        if args.backend == "ctranslate2":
            rows += show([in_process_ct2(model, simplifier, texts, beams, new_tokens, args.requests)])
    return rows


def ratio_rows(rows: list[Row]) -> list[str]:
    lines = ["| model | beams | users | (b) req/s | (b0) req/s | (d) req/s | (a) best req/s | (a') best req/s "
             "| (b)/(b0) | (b)/(d) | (b)/(a) | (b)/(a') | (b)/(c) | (b) p95 / (b) p95 at 1 user |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    nan = float("nan")
    for model in dict.fromkeys(r.model for r in rows):
        for beams in dict.fromkeys(r.beams for r in rows):
            def pick(prefix, users=None, model=model, beams=beams):
                return next((r for r in rows if r.model == model and r.beams == beams
                                                                and r.variant.startswith(prefix)
                                                                and (users is None or r.users == users)), None)
            ceiling, own = pick("(a)"), pick("(a')")
            own_rps = own.rps if own else nan
            ceiling_rps = ceiling.rps if ceiling else nan
            lone = pick("(b) ", "1")
            for b in [r for r in rows if r.model == model and r.beams == beams and r.variant.startswith("(b) ")]:
                b0, c, d = pick("(b0)", b.users), pick("(c)", b.users), pick("(d)", b.users)
                b0_rps, c_rps, d_rps = (b0.rps if b0 else nan), (c.rps if c else nan), (d.rps if d else nan)
                lone_p95 = lone.p95_s if lone else nan
                lines.append(f"| {model} | {beams} | {b.users} | {b.rps:.2f} | {b0_rps:.2f} | {d_rps:.2f} | "
                             f"{ceiling_rps:.2f} | {own_rps:.2f} | {b.rps / b0_rps:.2f} | {b.rps / d_rps:.2f} | "
                             f"{b.rps / ceiling_rps:.2f} | {b.rps / own_rps:.2f} | {b.rps / c_rps:.2f} | "
                             f"{b.p95_s / lone_p95:.2f} |")
    return lines



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    def listed(kind):
        return lambda value: [kind(v) for v in value.split(",")]
    parser.add_argument("--models", type=listed(str), default=["demo", "t5-small-shape"])
    parser.add_argument("--users", type=listed(int), default=[1, 4, 16])
    parser.add_argument("--beams", type=listed(int), default=[1, 4])
    parser.add_argument("--input-tokens", type=int, default=256, help="tokens per input, prefix and EOS included")
    parser.add_argument("--output-tokens", type=int, default=64, help="tokens generated per request (forced)")
    parser.add_argument("--requests", type=int, default=16, help="requests per level (at least --per-user per user)")
    parser.add_argument("--per-user", type=int, default=2, help="least requests per user at each level")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="PLS_MAX_BATCH_SIZE of variant (b) (default 0: the service's own per-backend default)")
    parser.add_argument("--backend", choices=("ctranslate2", "transformers"),
                        default=os.environ.get("PLS_SIMPLIFIER_BACKEND") or SETTINGS["simplifier_backend"].default,
                        help="PLS_SIMPLIFIER_BACKEND for (b) and (c) (default: the service's default); "
                             "with ctranslate2 the run adds (a'), CTranslate2 in-process")
    parser.add_argument("--out", type=Path, help="also write the tables (markdown) and rows (JSON) here")
    parser.add_argument("--before", type=Path,
                        help="another checkout of this project (e.g. `git worktree add DIR COMMIT`, its models/ "
                             "linked) served as variant (b0) beside (b), with the same store and settings")
    # Stopped with SIGTERM (timeout, CI): unwind, so the servers started here are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parser.parse_args()
    if args.output_tokens < 50:
        parser.error("--output-tokens is the API's max_length: at least 50")
    if args.before is not None and not (args.before / "service.py").is_file():
        parser.error(f"--before {args.before}: not a checkout of this project (no service.py there)")
    unknown = set(args.models) - {"demo", "t5-small-shape"}
    if unknown:
        parser.error(f"unknown models: {', '.join(sorted(unknown))}")
    started = time.time()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-side-by-side-") as scratch:
        for model in args.models:
            rows += run_model(model, args, Path(scratch))
            lines = report_lines(args, rows, time.time() - started)
            if args.out:  # after each model, so a long run interrupted later keeps what it measured
                args.out.write_text("\n".join(lines) + "\n")
                args.out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print("\n".join(lines))


def report_lines(args: argparse.Namespace, rows: list[Row], seconds: float) -> list[str]:
    return [f"- command: `python -m benchmarks.side_by_side {' '.join(sys.argv[1:])}`",
            f"- inputs: {args.input_tokens} tokens each (windows of the shipped Cochrane abstracts), "
            f"{args.output_tokens} tokens out forced, {args.requests} requests per level (at least {args.per_user} "
            f"per user); took {seconds / 60:.1f} min", *machine(), "",
            *table(rows), "", *ratio_rows(rows)]


if __name__ == "__main__":
    main()
