#!/usr/bin/env python3
"""Side by side, in one run, on the same model, inputs and output lengths:

  (a) transformers `generate` in-process at its best batch size: the ceiling on this CPU; with
      the CTranslate2 backend also (a') CTranslate2 in-process at its best batch, the ceiling
      of the service's own engine;
  (b) the BentoML service with adaptive batching (PLS_MAX_BATCH_SIZE, default: 16 with CTranslate2);
  (c) the BentoML service with batching off (PLS_MAX_BATCH_SIZE=1);
  (d) one blocking `generate` per request in a tiny starlette server, as the users' earlier
      FastAPI service did (loadtests/blocking_server.py).

    python -m loadtests.bench_side_by_side [--models demo,t5-small-shape] [--users 1,4,16]
        [--beams 1,4] [--input-tokens 256] [--output-tokens 64] [--requests 16] [--out FILE.md]
    PLS_SIMPLIFIER_BACKEND=ctranslate2 python -m loadtests.bench_side_by_side ...   # other backend

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
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from loadtests.blocking_server import generated_tokens
from loadtests.checks import load_texts
from loadtests.report import percentile
from loadtests.server import bentoml_serve, free_port
from pls_core.config import SETTINGS

REPO = Path(__file__).resolve().parent.parent
DEMO_MODELS = REPO / "models"
IN_PROCESS_BATCHES = (1, 4, 8, 16)


@dataclass
class Row:
    model: str
    beams: int
    variant: str
    users: str  # concurrent users, or the batch size for (a)
    requests: int
    failures: int
    rps: float
    p50_s: float
    p95_s: float
    tokens_out: float  # generated tokens per request, mean
    peak_rss_mib: float = float("nan")  # the server's processes together, (b) and (c) only
    cpu: str = ""  # the server's CPU time by process, as a share of the level's cores x seconds


# --- models -------------------------------------------------------------------------------------
def build_t5_small_shape(demo: Path, out: Path, seed: int = 0) -> None:
    """t5-small's architecture with random weights and the demo tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    shutil.copytree(demo, out)
    base = T5Config.from_pretrained(demo)
    config = T5Config(vocab_size=base.vocab_size, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
                      num_decoder_layers=6, num_heads=8, pad_token_id=base.pad_token_id,
                      eos_token_id=base.eos_token_id, decoder_start_token_id=base.decoder_start_token_id)
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)


def force_output_length(model_dir: Path, tokens: int) -> None:
    """Forbid EOS before `tokens` new tokens, so every variant generates the same amount."""
    from transformers import GenerationConfig

    config = GenerationConfig.from_pretrained(model_dir)
    config.min_new_tokens = tokens
    config.save_pretrained(model_dir)


def prepare(model: str, scratch: Path, output_tokens: int) -> tuple[Path, Path]:
    """(simplifier folder, BentoML home with both models imported) for one model shape."""
    folder = scratch / model / "models"
    simplifier = folder / "t5_base"
    if model == "demo":
        shutil.copytree(DEMO_MODELS / "t5_base", simplifier)
    else:
        build_t5_small_shape(DEMO_MODELS / "t5_base", simplifier)
    shutil.copytree(DEMO_MODELS / "baseline_classifier", folder / "baseline_classifier")
    force_output_length(simplifier, output_tokens)
    home = scratch / model / "bentoml_home"
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    subprocess.run([sys.executable, "scripts/models/import_models.py", "--models-dir", str(folder)],
                   cwd=REPO, env=env, check=True, capture_output=True)
    return simplifier, home


def input_texts(model_dir: Path, tokens: int, count: int = 16) -> list[str]:
    """`count` distinct windows of `tokens` tokens (task prefix and EOS included) of the abstracts."""
    from transformers import AutoTokenizer

    from pls_core.model_layout import TASK_PREFIX

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    room = tokens - len(tokenizer(TASK_PREFIX).input_ids)
    texts = []
    for offset in (0, room // 2):
        for text in load_texts()["long"]:
            ids = tokenizer(text.text, add_special_tokens=False, verbose=False).input_ids[offset:offset + room]
            texts.append(tokenizer.decode(ids).strip())
    return texts[:count]


# --- clients --------------------------------------------------------------------------------------
def closed_loop(send, texts: list[str], users: int, requests: int) -> tuple[list[float], int, list[int]]:
    """`users` threads sending back to back until `requests` are done: (latencies, failures, tokens)."""
    latencies, tokens, failures = [], [], 0

    def one(index: int) -> None:
        nonlocal failures
        started = time.perf_counter()
        ok, produced = send(texts[index % len(texts)])
        if ok:
            latencies.append(time.perf_counter() - started)
            tokens.append(produced)
        else:
            failures += 1

    with ThreadPoolExecutor(max_workers=users) as pool:
        list(pool.map(one, range(requests)))
    return latencies, failures, tokens


# Which process of a `bentoml serve` is which, by a piece of its command line.
ROLES = (("pls-simplifier-runner", "simplifier"), ("pls-classifier-runner", "classifier"),
         ("pls-service", "API"))


class PeakMemory:
    """Samples the resident memory of a server and all its child processes in a thread."""

    def __init__(self, port: int | None) -> None:
        import psutil

        self.root = None
        if port is not None:
            self.root = next((proc for proc in psutil.process_iter(["cmdline"])
                              if "serve" in (proc.info["cmdline"] or [])
                              and str(port) in (proc.info["cmdline"] or [])), None)
        self.peak = float("nan")
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                procs = [self.root, *self.root.children(recursive=True)]
                total = sum(proc.memory_info().rss for proc in procs) / 2**20
                self.peak = total if self.peak != self.peak else max(self.peak, total)
            self._stop.wait(0.2)

    def _cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of each of the server's processes, by role."""
        import psutil

        seconds: dict[str, float] = {}
        for proc in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                command = " ".join(proc.cmdline())
                role = next((name for marker, name in ROLES if marker in command), "bentoml (other)")
                times = proc.cpu_times()
                seconds[role] = seconds.get(role, 0.0) + times.user + times.system
        return seconds

    @contextlib.contextmanager
    def level(self) -> Iterator[None]:
        self.peak = float("nan")
        self.cpu = ""
        if self.root is None:
            yield
            return
        self._stop.clear()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        before, started = self._cpu_seconds(), time.perf_counter()
        try:
            yield
        finally:
            self._stop.set()
            sampler.join()
            available = (time.perf_counter() - started) * len(os.sched_getaffinity(0))
            after = self._cpu_seconds()
            self.cpu = ", ".join(f"{role} {100 * (after[role] - before.get(role, 0.0)) / available:.0f}%"
                                 for role in sorted(after))


def measure_http(model: str, variant: str, url: str, path: str, body, texts: list[str], users: list[int],
                 beams: int, requests: int, per_user: int, memory: PeakMemory | None = None) -> list[Row]:
    client = httpx.Client(base_url=url, timeout=600, limits=httpx.Limits(max_connections=64))

    def send(text: str) -> tuple[bool, int]:
        try:
            response = client.post(path, json=body(text))
        except httpx.HTTPError:
            return False, 0
        ok = response.status_code == 200
        return ok, response.json().get("tokens_output", 0) if ok else 0

    # Warm up (BentoML's dispatcher fits its batching wait on the first calls).
    closed_loop(send, texts, 1, 2)
    closed_loop(send, texts, 4, 4)
    rows = []
    memory = memory or PeakMemory(None)
    for count in users:
        total = max(requests, per_user * count)
        started = time.perf_counter()
        with memory.level():
            latencies, failures, tokens = closed_loop(send, texts, count, total)
        rows.append(row(model, beams, variant, str(count), total, failures, time.perf_counter() - started,
                        latencies, tokens))
        rows[-1].peak_rss_mib = memory.peak
        rows[-1].cpu = getattr(memory, "cpu", "")
    client.close()
    return rows


def row(model, beams, variant, users, total, failures, seconds, latencies, tokens) -> Row:
    latencies = latencies or [float("nan")]
    return Row(model, beams, variant, users, total, failures, (total - failures) / seconds,
               statistics.median(latencies), percentile(latencies, 0.95),
               statistics.mean(tokens) if tokens else float("nan"))


@contextlib.contextmanager
def blocking_server(model_dir: Path, log_path: Path) -> Iterator[str]:
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "loadtests.blocking_server", "--model", str(model_dir),
                                 "--port", str(port)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
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
    from pls_core.resources import torch_threads
    from runners.ct2_backend import CT2_SUBDIR, CTranslate2Backend

    if not (model_dir / CT2_SUBDIR).is_dir():
        subprocess.run([sys.executable, "scripts/models/convert_ct2.py", str(model_dir), str(model_dir / CT2_SUBDIR)],
                       cwd=REPO, check=True, capture_output=True)
    engine = CTranslate2Backend(str(model_dir), "cpu", "auto", threads=torch_threads(0, 1))
    def generate(batch):
        return [g.tokens_output for g in engine.generate(batch, new_tokens, beams)]
    return best_batch(model, beams, f"(a') in-process ctranslate2 {engine.compute_type}", texts, requests, generate)


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


def table(rows: list[Row]) -> list[str]:
    lines = ["| model | beams | variant | users | requests | failures | req/s | p50 (s) | p95 (s) | tokens out/request "
             "| server peak RSS (MiB) | server CPU by process (% of all cores) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        memory = f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib == r.peak_rss_mib else "-"
        lines.append(f"| {r.model} | {r.beams} | {r.variant} | {r.users} | {r.requests} | {r.failures} | "
                     f"{r.rps:.2f} | {r.p50_s:.2f} | {r.p95_s:.2f} | {r.tokens_out:.1f} | {memory} | {r.cpu or '-'} |")
    return lines


def machine() -> list[str]:
    import bentoml
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return [f"- machine: {cpu}, {len(os.sched_getaffinity(0))} cores usable, load average "
            f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) at the end",
            f"- versions: Python {platform.python_version()}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, bentoml {bentoml.__version__}"]


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
    return [f"- command: `python -m loadtests.bench_side_by_side {' '.join(sys.argv[1:])}`",
            f"- inputs: {args.input_tokens} tokens each (windows of the shipped Cochrane abstracts), "
            f"{args.output_tokens} tokens out forced, {args.requests} requests per level (at least {args.per_user} "
            f"per user); took {seconds / 60:.1f} min", *machine(), "",
            *table(rows), "", *ratio_rows(rows)]


if __name__ == "__main__":
    main()
