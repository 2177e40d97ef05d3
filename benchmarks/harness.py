"""What several benchmarks share: the t5-small-shaped model and its scratch BentoML store, the
input texts, closed-loop HTTP clients with the server's peak memory and CPU sampled per level,
the result rows and their table, and the machine's description.

A benchmark imports from here (and from loadtests/: the shared `bentoml serve` starter and the
payloads), never from another benchmark.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.checks import load_texts
from loadtests.report import percentile

REPO = Path(__file__).resolve().parent.parent
DEMO_MODELS = REPO / "models"


# --- results --------------------------------------------------------------------------------------
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


def row(model, beams, variant, users, total, failures, seconds, latencies, tokens) -> Row:
    latencies = latencies or [float("nan")]
    return Row(model, beams, variant, users, total, failures, (total - failures) / seconds,
               statistics.median(latencies), percentile(latencies, 0.95),
               statistics.mean(tokens) if tokens else float("nan"))


def table(rows: list[Row]) -> list[str]:
    lines = ["| model | beams | variant | users | requests | failures | req/s | p50 (s) | p95 (s) | tokens out/request "
             "| server peak RSS (MiB) | server CPU by process (% of all cores) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        memory = f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib == r.peak_rss_mib else "-"
        lines.append(f"| {r.model} | {r.beams} | {r.variant} | {r.users} | {r.requests} | {r.failures} | "
                     f"{r.rps:.2f} | {r.p50_s:.2f} | {r.p95_s:.2f} | {r.tokens_out:.1f} | {memory} | {r.cpu or '-'} |")
    return lines


# --- models and inputs ---------------------------------------------------------------------------
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


def abstracts(repo: Path = REPO) -> list[str]:
    """The Cochrane abstracts of data/cochrane/val.source (or ../shared/data/...)."""
    for candidate in (repo / "data" / "cochrane" / "val.source",
                      repo.parent / "shared" / "data" / "cochrane" / "val.source"):
        if candidate.is_file():
            return [line.strip() for line in candidate.read_text().splitlines() if line.strip()]
    raise SystemExit(f"data/cochrane/val.source not found under {repo}")


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


# --- the machine and the answers ------------------------------------------------------------------
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


def generated_tokens(ids: list[int], eos_id: int) -> int:
    """Tokens generated up to and including the first EOS, as the service counts them. Counting
    non-pad tokens instead would miss real tokens: a model with random weights emits the pad id."""
    return ids.index(eos_id) + 1 if eos_id in ids else len(ids)
