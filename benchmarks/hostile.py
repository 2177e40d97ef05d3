"""Send each hostile input of issue 25 to a real `bentoml serve` and tabulate what it costs the server.

    python -m benchmarks.hostile                                   # serves this checkout, default settings
    python -m benchmarks.hostile --only rouge --only sentence-splitter
    python -m benchmarks.hostile --repo /tmp/other-checkout --bento-home /tmp/store   # serve another tree
    python -m benchmarks.hostile --url http://127.0.0.1:3000 --serve-pid PID [--log FILE]

Without --url it imports models/ into a scratch BentoML store (or uses --bento-home, a store that
holds them) and starts `bentoml serve` of --repo (default: this checkout) on a free 127.0.0.1 port
with the service's default settings: every PLS_* variable of this shell is left out (--serve-env
adds one back). With --url it attacks that server; --serve-pid (the `bentoml serve` process) is
then needed to find the worker processes, and --log (the server's output) to check the log.

The attacks (issue 25's findings), one after the other, each bounded in time (--attack-s):

    paths              thousands of distinct 8,000-character random paths, no key (finding 1)
    rouge              /evaluate with 20,000-character texts of 10,000 one-letter tokens, and
                       /generate-with-metrics with such a reference_pls (ROUGE-L's table, finding 2)
    sentence-splitter  20,000-character runs of `!`, `.`, `?` (and `. ! ? ` with spaces) to
                       /classify, /evaluate and /generate (the boundary pattern, finding 3)
    syllable-cache     many distinct 20,000-character words of astral-plane letters (U+1D400...) to
                       /classify and /evaluate, which count syllables (the cache, finding 4)
    admission          20 clients sending 20,000 characters of `x,` with num_beams 10 and max_length
                       512 to /generate, beside /classify and /evaluate floods (finding 5)
    validation-log     invalid bodies holding a distinctive name (a bad max_length beside it, and
                       four other mistakes), and a 650 KB body of 60,000 unknown keys: the name
                       in the server log? the largest log record, the largest 4xx answer (finding 6)

Before the first attack a normal request (/generate with its defaults on the shortest abstract
of data/cochrane/val.source) is sent five times to warm the server up, then timed five times: the
median is its usual time (it differs from one server to the next: the same 321-token answer
took 0.3 s from some and 1.3 s from others here, inside the simplifier call), and a normal
request during an attack is "within" when it gets its 200 in at most 2 x usual + 1 s. Before each
attack the server must settle (/readyz and a normal request answer as usual); then, while the
attack runs, /proc is sampled every 0.2 s for each worker's resident memory, and /livez and
/readyz are polled every 0.2 s while a normal request is sent over and over.

One row per attack: the API worker's and each runner worker's peak RSS increase over its level
just before the attack, the longest /livez and /readyz answers, the normal requests, the
statuses the attack got, and PASS when the RSS increase is at most 200 MB everywhere, /readyz
always answered within 1 s, every normal request got its 200 within its time and no worker died
(validation-log also: the name never reached the log, no log record or 4xx answer over 64 KiB).

Safety: an attack whose worker grows past --rss-abort-mb, or that leaves the machine less than
--min-available-mb of memory, is stopped there (FAIL); a server this script started is then
restarted, as it is when it died. A run takes 4-7 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.harness import REPO, abstracts
from loadtests.probe_cli import header, positive
from loadtests.server import BENTOML, free_port, server_home

ATTACKS = ("paths", "rouge", "sentence-splitter", "syllable-cache", "admission", "validation-log")
# Each attack's time bound (s) unless --attack-s sets one for all.
DEFAULT_SECONDS = {"paths": 60, "rouge": 120, "sentence-splitter": 90, "syllable-cache": 90,
                   "admission": 90, "validation-log": 60}
MAX_TEXT_CHARS = 20_000  # PLS_MAX_TEXT_CHARS' default: the longest text a request may carry
MAX_LENGTH = 512  # the largest max_length the API takes
MAX_BEAMS = 10  # the largest num_beams the API takes
# The targets.
RSS_LIMIT_MB = 200
READYZ_LIMIT_S = 1.0
# Finding 6's own targets: bounded log records and error answers.
LOG_RECORD_LIMIT = 64 * 1024
ERROR_BODY_LIMIT = 64 * 1024
NAME = "Zebulona Quartermaine-Okafor"  # looked for in the log: no real text holds it
NAME_MARK = "Quartermaine"
ASTRAL_FIRST, ASTRAL_LETTERS = 0x1D400, 52  # MATHEMATICAL BOLD CAPITAL A ... SMALL Z: letters, 4 bytes each
SAMPLE_S = 0.2
CUT = -1  # the status of a request still in flight when its attack's time bound ended it
PROBE_TIMEOUT_S = 30.0


def usual_limit(usual_s: float) -> float:
    """The longest a normal request may take during an attack and still count as within its usual time."""
    return 2 * usual_s + 1.0


# --- the attacks' data: small pure generators (tests/unit/test_bench_hostile.py checks their shapes)
def random_paths(count: int, length: int, seed: int = 0) -> list[str]:
    """`count` distinct paths of `length` characters (the leading / included), letters and digits."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    paths: dict[str, None] = {}
    while len(paths) < count:
        paths["/" + "".join(rng.choices(alphabet, k=length - 1))] = None
    return list(paths)


def token_text(chars: int, seed: int) -> str:
    """At most `chars` characters of one-character tokens (a-z, 0-9) between single spaces: the
    most tokens a text of that length can hold, so ROUGE-L's table is as large as it gets."""
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + string.digits
    return " ".join(rng.choices(alphabet, k=(chars + 1) // 2))


def rouge_requests(chars: int = MAX_TEXT_CHARS) -> list[tuple[str, dict]]:
    """(path, body): /evaluate with three different token texts, then /generate-with-metrics whose
    reference is one (its text of `x,` makes the demo model write about 12,000 tokens back)."""
    return [
        ("/evaluate", {"original_text": token_text(chars, 1), "generated_pls": token_text(chars, 2),
                       "reference_pls": token_text(chars, 3)}),
        ("/generate-with-metrics", {"technical_text": "x," * (chars // 2), "reference_pls": token_text(chars, 4),
                                    "max_length": MAX_LENGTH, "num_beams": 1}),
    ]


def punctuation_texts(chars: int = MAX_TEXT_CHARS) -> dict[str, str]:
    """Texts of exactly `chars` characters: a word (the API wants one) then a run of `!`, of `.`,
    of `?`, and `. ! ? ` repeated (many one-mark sentences)."""
    def fill(unit: str) -> str:
        return ("Results" + unit * chars)[:chars]
    return {"!": fill("!"), ".": fill("."), "?": fill("?"), ". ! ? ": fill(". ! ? ")}


def sentence_splitter_requests(chars: int = MAX_TEXT_CHARS) -> list[tuple[str, dict]]:
    """Each punctuation text to /classify, /evaluate and /generate (greedy, 50 tokens: the cost
    is the splitting, not the model)."""
    requests = []
    for text in punctuation_texts(chars).values():
        requests += [("/classify", {"text": text}),
                     ("/evaluate", {"original_text": text, "generated_pls": text}),
                     ("/generate", {"technical_text": text, "max_length": 50, "num_beams": 1})]
    return requests


def astral_word(number: int, chars: int = MAX_TEXT_CHARS, seed: int = 0) -> str:
    """A word of `chars` astral-plane letters, different for each `number` (its first four letters
    spell it in base 52; the rest is the same seeded tail)."""
    head = []
    for _ in range(4):
        number, digit = divmod(number, ASTRAL_LETTERS)
        head.append(chr(ASTRAL_FIRST + digit))
    rng = random.Random(seed)
    tail = "".join(chr(ASTRAL_FIRST + rng.randrange(ASTRAL_LETTERS)) for _ in range(chars - 4))
    return "".join(head) + tail


def syllable_cache_requests(count: int, chars: int = MAX_TEXT_CHARS) -> Iterator[tuple[str, dict]]:
    """`count` requests, each with a word no earlier one had: /evaluate (its generated_pls), and
    every fourth /classify (four times slower: it asks the classifier too). A generator: the words
    are made as they are sent."""
    tail = astral_word(0, chars)[4:]
    for number in range(count):
        word = astral_word(number, 4) + tail
        if number % 4 == 3:
            yield "/classify", {"text": word}
        else:
            yield "/evaluate", {"original_text": "Original text.", "generated_pls": word}


def admission_requests(texts: list[str], chars: int = MAX_TEXT_CHARS) -> dict[str, dict]:
    """The three kinds of request of the admission attack, by path: the costliest generation the
    API takes, and the longest /classify and /evaluate of real text."""
    real = " ".join(texts)
    while len(real) < 2 * chars:
        real += " " + real
    return {
        "/generate": {"technical_text": "x," * (chars // 2), "max_length": MAX_LENGTH, "num_beams": MAX_BEAMS},
        "/classify": {"text": real[:chars].strip()},
        "/evaluate": {"original_text": real[:chars].strip(), "generated_pls": real[chars:2 * chars].strip()},
    }


def unknown_keys_body(keys: int = 60_000) -> bytes:
    """A JSON object of `keys` unknown keys (and no required one): about 650 KB for 60,000."""
    return json.dumps({f"k{number:05d}": 0 for number in range(keys)}, separators=(",", ":")).encode()


def validation_requests(name: str = NAME, chars: int = MAX_TEXT_CHARS) -> list[tuple[str, str, bytes]]:
    """(label, path, body): each invalid, each but the last holding `name` where a validation
    message could quote it (pydantic quotes a short value whole, a long one's first and last 24
    characters, and a dict's values cut short)."""
    text = f"{name}, 54, was admitted with chest pain and treated with aspirin and heparin."
    long_text = ((text + " ") * (chars // len(text) + 2))[:chars + 100 - len(name)] + name
    def body(value: dict) -> bytes:
        return json.dumps(value).encode()
    return [
        ("bad max_length", "/generate", body({"technical_text": text, "max_length": 5})),
        ("text too long", "/generate", body({"technical_text": long_text})),
        ("text as a list", "/classify", body({"text": [name]})),
        ("unknown field", "/classify", body({"text": text, "patient": name})),
        ("field missing", "/evaluate", body({"original_text": text, "max_length": 5})),
        ("60,000 unknown keys", "/generate", unknown_keys_body()),
    ]


LOG_RECORD_START = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", re.MULTILINE)


def log_records(log: bytes) -> list[bytes]:
    """The log's records: each starts with a timestamp line, and a traceback's lines belong to it."""
    starts = [match.start() for match in LOG_RECORD_START.finditer(log)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [record for record in (log[a:b] for a, b in zip(starts, [*starts[1:], len(log)])) if record]


def normal_body(texts: list[str]) -> dict:
    """The normal request: /generate with its defaults on the shortest abstract."""
    return {"technical_text": min(texts, key=len)}


# --- the report -------------------------------------------------------------------------------------
@dataclass
class Probe:
    """The answers of one probe path during an attack."""

    longest_s: float | None = None  # the longest answer, or wait for none; None: never polled
    not_200: int = 0  # answered, with another status
    unanswered: int = 0  # no answer within PROBE_TIMEOUT_S, or no connection

    def __str__(self) -> str:
        if self.longest_s is None:
            return "not polled"
        extra = []
        if self.unanswered:
            extra.append(f"{self.unanswered} unanswered")
        if self.not_200:
            extra.append(f"{self.not_200} not 200")
        return f"{self.longest_s:.2f}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class Outcome:
    """What one attack did and what the server showed meanwhile."""

    attack: str
    sent: str = ""
    statuses: Counter = field(default_factory=Counter)  # (route, status): 0 no answer (timeout, reset); CUT
    rss_increase_mb: dict[str, float] = field(default_factory=dict)  # worker -> peak increase
    livez: Probe = field(default_factory=lambda: Probe())
    readyz: Probe = field(default_factory=lambda: Probe())
    normal: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the attack's own findings (log, died, stopped)
    seconds: float = 0.0


def format_statuses(statuses: Counter) -> str:
    """`404×3000`, or with several routes `/generate 200×2, 503×9; /classify 200×40`."""
    if not statuses:
        return "-"
    names = {CUT: "cut at the bound", 0: "no answer"}
    if not all(isinstance(key, tuple) for key in statuses):
        return ", ".join(f"{names.get(status, status)}×{count}" for status, count in sorted(statuses.items()))
    routes = list(dict.fromkeys(route for route, _ in statuses))
    by_route = {route: Counter({status: count for (r, status), count in statuses.items() if r == route})
                for route in routes}
    if len(routes) == 1:
        return format_statuses(by_route[routes[0]])
    return "; ".join(f"{route} {format_statuses(counts)}" for route, counts in by_route.items())


def normal_summary(normal: list[tuple[int, float]], limit_s: float) -> str:
    if not normal:
        return "none sent"
    within = sum(1 for status, seconds in normal if status == 200 and seconds <= limit_s)
    worst = max(seconds for _, seconds in normal)
    others = Counter(status for status, _ in normal if status != 200)
    text = f"{within}/{len(normal)} within (worst {worst:.2f} s)"
    return text + (f"; {format_statuses(others)}" if others else "")


def verdict(outcome: Outcome, limit_s: float, api_worker: str) -> tuple[bool, list[str]]:
    """(passed, reasons it failed) against the targets."""
    reasons = list(outcome.failures)
    for worker, increase in outcome.rss_increase_mb.items():
        if increase > RSS_LIMIT_MB:
            reasons.append(f"{'API' if worker == api_worker else worker} RSS +{increase:.0f} MB > {RSS_LIMIT_MB}")
    readyz = outcome.readyz
    if readyz.longest_s is None:
        reasons.append("/readyz not polled")
    elif readyz.unanswered:
        reasons.append(f"/readyz unanswered {readyz.unanswered}× (waited up to {readyz.longest_s:.1f} s)")
    elif readyz.longest_s > READYZ_LIMIT_S:
        reasons.append(f"/readyz took {readyz.longest_s:.1f} s > {READYZ_LIMIT_S:g}")
    if not outcome.normal:
        reasons.append("no normal request completed")
    elif any(status != 200 or seconds > limit_s for status, seconds in outcome.normal):
        reasons.append(f"a normal request missed its 200 within {limit_s:.2f} s")
    return not reasons, reasons


def short_worker(name: str) -> str:
    return name.removeprefix("pls-").removesuffix("-runner")


def table(outcomes: list[Outcome], limit_s: float, api_worker: str) -> list[str]:
    lines = ["| attack | sent | statuses | API RSS +MB | runners RSS +MB | longest /livez (s) | longest /readyz (s) "
             "| normal request | notes | result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        passed, reasons = verdict(outcome, limit_s, api_worker)
        api = outcome.rss_increase_mb.get(api_worker)
        runners = ", ".join(f"{short_worker(name)} +{increase:.0f}"
                            for name, increase in sorted(outcome.rss_increase_mb.items()) if name != api_worker)
        lines.append(
            f"| {outcome.attack} | {outcome.sent} | {format_statuses(outcome.statuses)} | "
            f"{'-' if api is None else f'+{api:.0f}'} | {runners or '-'} | "
            f"{outcome.livez} | {outcome.readyz} | "
            f"{normal_summary(outcome.normal, limit_s)} | {'; '.join(outcome.notes) or '-'} | "
            f"{'PASS' if passed else 'FAIL: ' + '; '.join(reasons)} |")
    return lines


def machine_lines() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    meminfo = read_meminfo()
    return [f"- machine: {cpu}, nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), memory "
            f"{meminfo.get('MemTotal', 0) / 1024 ** 2:.1f} GiB ({meminfo.get('MemAvailable', 0) / 1024 ** 2:.1f} GiB "
            f"available at the start), load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)"]


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0]) if rest.split() else 0
    return values


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MB; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(serve_pid: int) -> dict[str, int]:
    """BentoML's worker processes below `serve_pid`, by service name (`#2`... for further workers)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in listing.splitlines()[1:]:
        pid, ppid, *rest = line.split(None, 2)
        children.setdefault(int(ppid), []).append((int(pid), rest[0] if rest else ""))
    workers: dict[str, int] = {}
    pending = [serve_pid]
    while pending:
        for pid, args in children.get(pending.pop(), []):
            pending.append(pid)
            match = re.search(r"_bentoml_impl\.worker\.service .*--service-name (\S+)", args)
            if match:
                name, number = match.group(1), 2
                while name in workers:
                    name, number = f"{match.group(1)}#{number}", number + 1
                workers[name] = pid
    return workers


# --- the server -------------------------------------------------------------------------------------
class Server:
    """A `bentoml serve` this script started (restartable), or one it was given."""

    def __init__(self, url: str | None, serve_pid: int | None, log: Path | None, repo: Path,
                 bento_home: Path | None, settings: dict[str, str], scratch: Path) -> None:
        self.url, self.serve_pid, self.log = url, serve_pid, log
        self.repo, self.bento_home, self.settings, self.scratch = repo, bento_home, settings, scratch
        self.ours = url is None
        self.proc: subprocess.Popen | None = None
        self.home: Path | None = None
        self.starts = 0

    def start(self) -> None:
        port = free_port()
        self.home = server_home(self.bento_home)
        env = {name: value for name, value in os.environ.items() if not name.startswith("PLS_")}
        env.update(BENTOML_HOME=str(self.home), BENTOML_DO_NOT_TRACK="true", PYTHONPATH=str(self.repo),
                   **self.settings)
        self.starts += 1
        self.log = self.scratch / f"serve-{self.starts}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(BENTOML), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                         cwd=self.repo, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.serve_pid, self.url = self.proc.pid, f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise SystemExit(f"bentoml serve of {self.repo} did not become ready; its log ends:\n{tail}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)  # the links and metric files; the store stays

    def kill(self) -> None:
        """At once (a worker eating the machine's memory)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.serve_pid, 0)
        except (ProcessLookupError, TypeError):
            return False
        except PermissionError:
            return True
        return True

    def workers(self) -> dict[str, int]:
        return worker_pids(self.serve_pid) if self.serve_pid else {}

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log and self.log.exists() else 0

    def log_since(self, offset: int) -> bytes:
        if not self.log or not self.log.exists():
            return b""
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read()


# --- watching the server during an attack -----------------------------------------------------------
class Monitor:
    """Threads that sample the workers' RSS, poll /livez and /readyz, and send the normal request."""

    def __init__(self, url: str, headers: dict, workers: dict[str, int], normal: dict, limit_s: float,
                 rss_abort_mb: float, min_available_mb: float) -> None:
        self.url, self.headers, self.workers, self.normal_body = url, headers, workers, normal
        self.limit_s, self.rss_abort_mb, self.min_available_mb = limit_s, rss_abort_mb, min_available_mb
        self.base = {name: rss_mb(pid) or 0.0 for name, pid in workers.items()}
        self.peak = dict(self.base)
        self.died: list[str] = []
        self.probes: dict[str, list[tuple[float, int]]] = {"/livez": [], "/readyz": []}
        self.normal: list[tuple[int, float]] = []
        self.stop_event = threading.Event()
        self.abort_reason: str | None = None
        self.threads = [threading.Thread(target=self._sample, daemon=True),
                        threading.Thread(target=self._poll, args=("/livez",), daemon=True),
                        threading.Thread(target=self._poll, args=("/readyz",), daemon=True),
                        threading.Thread(target=self._send_normal, daemon=True)]

    def __enter__(self) -> Monitor:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()

    def _sample(self) -> None:
        while not self.stop_event.is_set():
            for name, pid in self.workers.items():
                if name in self.died:
                    continue
                value = rss_mb(pid)
                if value is None:
                    self.died.append(name)
                    continue
                self.peak[name] = max(self.peak[name], value)
                if value - self.base[name] > self.rss_abort_mb and not self.abort_reason:
                    self.abort_reason = f"{short_worker(name)} RSS grew past +{self.rss_abort_mb:.0f} MB"
            available = read_meminfo().get("MemAvailable")
            if available is not None and available / 1024 < self.min_available_mb and not self.abort_reason:
                self.abort_reason = f"the machine had under {self.min_available_mb:.0f} MB available"
            self.stop_event.wait(SAMPLE_S)

    def _poll(self, path: str) -> None:
        with httpx.Client(base_url=self.url, timeout=PROBE_TIMEOUT_S, headers=self.headers) as http:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    status = http.get(path).status_code
                except httpx.HTTPError:
                    status = 0
                self.probes[path].append((time.monotonic() - started, status))
                self.stop_event.wait(SAMPLE_S)

    def _send_normal(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.limit_s + 30, headers=self.headers) as http:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    status = http.post("/generate", json=self.normal_body).status_code
                except httpx.HTTPError:
                    status = 0
                self.normal.append((status, time.monotonic() - started))
                self.stop_event.wait(0.5)

    def fill(self, outcome: Outcome) -> None:
        outcome.rss_increase_mb = {name: self.peak[name] - self.base[name] for name in self.workers}
        for path, probe in (("/livez", outcome.livez), ("/readyz", outcome.readyz)):
            polled = self.probes[path]
            probe.longest_s = max((seconds for seconds, _ in polled), default=None)
            probe.unanswered = sum(1 for _, status in polled if status == 0)
            probe.not_200 = sum(1 for _, status in polled if status not in (0, 200))
        outcome.normal = list(self.normal)
        outcome.failures += [f"{short_worker(name)} worker died" for name in self.died]
        if self.abort_reason:
            outcome.failures.append(f"stopped: {self.abort_reason}")


# --- sending --------------------------------------------------------------------------------------
API_ROUTES = ("/generate", "/generate-with-metrics", "/classify", "/evaluate")


def route_of(path: str) -> str:
    return path if path in API_ROUTES else "other paths"


@dataclass
class Sent:
    statuses: Counter = field(default_factory=Counter)  # (route, status) -> answers
    in_flight: Counter = field(default_factory=Counter)  # route -> requests sent and not answered
    error_body_max: int = 0  # the largest 4xx answer, bytes
    slowest_s: float = 0.0  # the slowest answer (or failure)

    @property
    def count(self) -> int:
        return sum(self.statuses.values()) + sum(self.in_flight.values())


async def flood(client: httpx.AsyncClient, requests: Iterable[tuple[str, str, bytes | None]],
                concurrency: int, sent: Sent) -> None:
    """Send (method, path, body) from `requests` with `concurrency` clients until it runs out."""
    iterator = iter(requests)

    async def one_client() -> None:
        for method, path, body in iterator:
            route = route_of(path)
            sent.in_flight[route] += 1
            started = time.monotonic()
            try:
                response = await client.request(method, path, content=body,
                                                headers={"content-type": "application/json"} if body else None)
                status = response.status_code
                if 400 <= status < 500:
                    sent.error_body_max = max(sent.error_body_max, len(response.content))
            except httpx.HTTPError:
                status = 0
            # Not reached when the attack's bound cancels the request: `bounded` counts it as CUT.
            sent.in_flight[route] -= 1
            sent.statuses[route, status] += 1
            sent.slowest_s = max(sent.slowest_s, time.monotonic() - started)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


def encoded(requests: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, str, bytes]]:
    for path, body in requests:
        yield "POST", path, json.dumps(body, ensure_ascii=False).encode()


async def bounded(work: Callable[[httpx.AsyncClient, Sent], object], url: str, headers: dict,
                  seconds: float, monitor: Monitor, sent: Sent,
                  transport: httpx.AsyncBaseTransport | None = None) -> bool:
    """Run `work` until it ends, `seconds` pass or the monitor says stop; False if it was cut short.
    The requests then in flight are counted as CUT."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=seconds + 5, limits=limits,
                                 transport=transport) as client:
        task = asyncio.ensure_future(work(client, sent))
        deadline = time.monotonic() + seconds
        while not task.done() and time.monotonic() < deadline and not monitor.abort_reason:
            await asyncio.sleep(0.1)
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for route, count in sent.in_flight.items():
            if count > 0:
                sent.statuses[route, CUT] += count
        sent.in_flight.clear()
        return False


# --- the attacks: each says what it sends (outcome.sent) and returns the coroutine function that sends it
@dataclass
class Context:
    server: Server
    headers: dict
    args: argparse.Namespace
    texts: list[str]


def attack_paths(ctx: Context, outcome: Outcome) -> Callable:
    count, length = ctx.args.paths, ctx.args.path_chars
    outcome.sent = f"{count:,} GETs of distinct {length:,}-char random paths without a key, 8 at a time"
    paths = random_paths(count, length)
    return lambda client, sent: flood(client, (("GET", path, None) for path in paths), 8, sent)


def attack_rouge(ctx: Context, outcome: Outcome) -> Callable:
    chars = ctx.args.rouge_chars
    requests = rouge_requests(chars)
    outcome.sent = (f"/evaluate of three {chars:,}-char texts of {(chars + 1) // 2:,} one-letter tokens, then "
                    f"/generate-with-metrics (`x,` text, max_length {MAX_LENGTH}, greedy) with such a reference")
    return lambda client, sent: flood(client, encoded(requests), 1, sent)


def attack_sentence_splitter(ctx: Context, outcome: Outcome) -> Callable:
    chars = ctx.args.splitter_chars
    requests = sentence_splitter_requests(chars)
    outcome.sent = (f"{chars:,}-char runs of `!`, `.`, `?` and `. ! ? ` each to /classify, /evaluate, /generate "
                    f"(greedy, 50 tokens): {len(requests)} requests, 2 at a time")
    return lambda client, sent: flood(client, encoded(requests), 2, sent)


def attack_syllable_cache(ctx: Context, outcome: Outcome) -> Callable:
    count, chars = ctx.args.astral_words, ctx.args.astral_chars
    outcome.sent = (f"up to {count:,} distinct {chars:,}-letter astral-plane words (U+1D400...), 3 to /evaluate "
                    f"for 1 to /classify, 4 at a time")
    return lambda client, sent: flood(client, encoded(syllable_cache_requests(count, chars)), 4, sent)


def attack_admission(ctx: Context, outcome: Outcome) -> Callable:
    bodies = admission_requests(ctx.texts, ctx.args.admission_chars)
    generators, flooders = ctx.args.admission_clients, ctx.args.flood_clients
    outcome.sent = (f"{generators} clients sending {ctx.args.admission_chars:,} chars of `x,` with num_beams "
                    f"{MAX_BEAMS}, max_length {MAX_LENGTH} to /generate, beside {flooders} each sending "
                    f"{ctx.args.admission_chars:,}-char /classify and /evaluate, over and over")

    def forever(path: str) -> Iterator[tuple[str, str, bytes]]:
        body = json.dumps(bodies[path]).encode()
        while True:
            yield "POST", path, body

    async def work(client: httpx.AsyncClient, sent: Sent) -> None:
        await asyncio.gather(flood(client, forever("/generate"), generators, sent),
                             flood(client, forever("/classify"), flooders, sent),
                             flood(client, forever("/evaluate"), flooders, sent))
    return work


def attack_validation_log(ctx: Context, outcome: Outcome) -> Callable:
    requests = validation_requests(NAME, ctx.args.validation_chars)
    repeats = ctx.args.big_body_repeats
    big = requests[-1][2]
    outcome.sent = (f"{len(requests) - 1} invalid bodies holding a name ({', '.join(r[0] for r in requests[:-1])}), "
                    f"then a {len(big) / 1000:.0f} KB body of 60,000 unknown keys ×{repeats}")
    server = ctx.server

    async def work(client: httpx.AsyncClient, sent: Sent) -> None:
        leaked, largest_record, logged = [], 0, 0
        try:
            for label, path, body in requests[:-1] + [requests[-1]] * repeats:
                offset = server.log_size()
                await flood(client, [("POST", path, body)], 1, sent)
                await asyncio.sleep(1.0)  # the log is written after the answer
                new = server.log_since(offset)
                logged += len(new)
                largest_record = max([largest_record, *map(len, log_records(new))])
                if NAME_MARK.encode() in new and label not in leaked:
                    leaked.append(label)
        finally:  # also when the attack is cut short
            if server.log is None:
                outcome.notes.append("log not read (give --log)")
            else:
                outcome.notes.append(f"name in the log: {'after ' + ', '.join(leaked) if leaked else 'never'}")
                outcome.notes.append(f"log +{logged / 1000:,.0f} KB, largest record {largest_record:,} B")
                if leaked:
                    outcome.failures.append(f"the name reached the log ({len(leaked)} of {len(requests) - 1})")
                if largest_record > LOG_RECORD_LIMIT:
                    outcome.failures.append(f"a log record of {largest_record / 1e6:.1f} MB")
            outcome.notes.append(f"largest 4xx answer {sent.error_body_max:,} B")
            if sent.error_body_max > ERROR_BODY_LIMIT:
                outcome.failures.append(f"a 4xx answer of {sent.error_body_max / 1e6:.1f} MB")
    return work


ATTACK_FUNCTIONS = {"paths": attack_paths, "rouge": attack_rouge, "sentence-splitter": attack_sentence_splitter,
                    "syllable-cache": attack_syllable_cache, "admission": attack_admission,
                    "validation-log": attack_validation_log}


def metrics_lines(url: str, headers: dict) -> str:
    try:
        return f"{len(httpx.get(url + '/metrics', headers=headers, timeout=60).text.splitlines()):,}"
    except httpx.HTTPError:
        return "no answer"


# --- the run --------------------------------------------------------------------------------------
def time_normal(url: str, headers: dict, body: dict, times: int = 5) -> list[tuple[int, float]]:
    results = []
    with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
        for _ in range(times):
            started = time.monotonic()
            try:
                status = http.post("/generate", json=body).status_code
            except httpx.HTTPError:
                status = 0
            results.append((status, time.monotonic() - started))
    return results


def settle(server: Server, headers: dict, body: dict, limit_s: float, timeout_s: float) -> bool:
    """Wait until /readyz answers 200 within 1 s and a normal request gets its 200 within its time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            return False
        try:
            started = time.monotonic()
            ready = httpx.get(server.url + "/readyz", headers=headers, timeout=5).status_code == 200
            if ready and time.monotonic() - started <= READYZ_LIMIT_S:
                status, seconds = time_normal(server.url, headers, body, 1)[0]
                if status == 200 and seconds <= limit_s:
                    return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def run_attack(name: str, ctx: Context, normal: dict, limit_s: float) -> Outcome:
    args, server = ctx.args, ctx.server
    outcome = Outcome(name)
    if not server.alive():
        if not server.ours:
            outcome.failures.append("the server was down before the attack")
            return outcome
        server.restart()
        outcome.notes.append("server restarted before the attack")
    if not settle(server, ctx.headers, normal, limit_s, args.settle_s):
        if server.ours:
            server.restart()
            outcome.notes.append(f"not settled after {args.settle_s:g} s: server restarted")
        else:
            outcome.notes.append(f"not settled after {args.settle_s:g} s")
    sent = Sent()
    work = ATTACK_FUNCTIONS[name](ctx, outcome)
    metrics_before = metrics_lines(server.url, ctx.headers) if name == "paths" else ""
    seconds = args.attack_s or DEFAULT_SECONDS[name]
    workers = server.workers()
    monitor = Monitor(server.url, ctx.headers, workers, normal, limit_s, args.rss_abort_mb, args.min_available_mb)
    started = time.monotonic()
    with monitor:
        completed = asyncio.run(bounded(work, server.url, ctx.headers, seconds, monitor, sent))
        outcome.seconds = time.monotonic() - started
        time.sleep(args.tail_s)  # work the server goes on with after the last answer
    monitor.fill(outcome)
    outcome.statuses = sent.statuses
    ending = "" if completed else f" (cut at the {seconds:g} s bound)"
    if monitor.abort_reason:
        ending = " (stopped)"
    outcome.notes.insert(0, f"took {outcome.seconds:.0f} s{ending}, slowest answer {sent.slowest_s:.1f} s")
    if name == "paths":
        outcome.notes.append(f"/metrics lines {metrics_before} → {metrics_lines(server.url, ctx.headers)}")
    if not server.alive():
        outcome.failures.append("the server died")
    if server.ours and (monitor.abort_reason or not server.alive()):
        server.kill()
        server.start()
        outcome.notes.append("server restarted after the attack")
    return outcome


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=ATTACKS, metavar="NAME",
                        help=f"run this attack only (repeatable): {', '.join(ATTACKS)}")
    parser.add_argument("--url", help="attack this running server instead of starting one")
    parser.add_argument("--serve-pid", type=positive(int), help="with --url: its `bentoml serve` process")
    parser.add_argument("--log", type=Path, help="with --url: the server's output, for validation-log")
    parser.add_argument("--header", type=header, action="append", default=[],
                        help="NAME:VALUE sent with every request (an API key)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    parser.add_argument("--bento-home", type=Path,
                        help="a BentoML store holding the models (default: import --models-dir into a scratch one)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--serve-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the started server (default: none, the service's defaults)")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="copy the started server's log(s) here at the end (they are deleted otherwise)")
    parser.add_argument("--attack-s", type=positive(float),
                        help="time bound of every attack (default: per attack, "
                             + ", ".join(f"{name} {s}" for name, s in DEFAULT_SECONDS.items()) + ")")
    parser.add_argument("--settle-s", type=positive(float), default=120,
                        help="longest wait for the server to answer as usual before an attack")
    parser.add_argument("--tail-s", type=float, default=3.0, help="how long to keep watching after an attack")
    parser.add_argument("--paths", type=positive(int), default=3000)
    parser.add_argument("--path-chars", type=positive(int), default=8000)
    parser.add_argument("--rouge-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--splitter-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--astral-words", type=positive(int), default=8000)
    parser.add_argument("--astral-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--admission-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--admission-clients", type=positive(int), default=20)
    parser.add_argument("--flood-clients", type=positive(int), default=4)
    parser.add_argument("--validation-chars", type=positive(int), default=MAX_TEXT_CHARS)
    parser.add_argument("--big-body-repeats", type=positive(int), default=3)
    parser.add_argument("--rss-abort-mb", type=positive(float), default=4096,
                        help="stop an attack when a worker's RSS grows by more than this")
    parser.add_argument("--min-available-mb", type=positive(float), default=3072,
                        help="stop an attack when the machine has less memory available than this")
    parser.add_argument("--api-service", default="pls-service", help="the API's service name (its worker)")
    args = parser.parse_args(argv)
    if args.url and not args.serve_pid:
        parser.error("--url needs --serve-pid (the `bentoml serve` process whose workers are measured)")
    if not args.url and (args.serve_pid or args.log):
        parser.error("--serve-pid and --log go with --url")
    if args.url and (args.bento_home or args.serve_env or args.keep_logs):
        parser.error("--bento-home, --serve-env and --keep-logs are for a server this script starts, not --url")
    if args.astral_chars < 5:
        parser.error("--astral-chars must be at least 5")
    for setting in args.serve_env:
        if "=" not in setting or not setting.split("=", 1)[0]:
            parser.error(f"--serve-env {setting!r} is not NAME=VALUE")
    args.attacks = [name for name in ATTACKS if name in (args.only or ATTACKS)]
    return args


def command_line(argv: list[str]) -> str:
    return "python -m benchmarks.hostile" + "".join(f" {shlex.quote(arg)}" for arg in argv)


def import_models(models_dir: Path, home: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    subprocess.run([sys.executable, "scripts/models/import_models.py", "--models-dir", str(models_dir)],
                   cwd=REPO, env=env, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    headers = dict(args.header)
    started_at = datetime.datetime.now(datetime.UTC)
    lines = ["## Hostile input", "",
             f"- date: {started_at:%Y-%m-%d %H:%M} UTC", *machine_lines(),
             f"- command: `{command_line(argv)}`"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch_dir:
        scratch = Path(scratch_dir)
        bento_home = args.bento_home
        if not args.url and bento_home is None:
            bento_home = scratch / "bentoml_home"
            import_models(args.models_dir, bento_home)
        settings = dict(setting.split("=", 1) for setting in args.serve_env)
        server = Server(args.url, args.serve_pid, args.log, args.repo.resolve(), bento_home, settings, scratch)
        texts = abstracts(REPO)
        normal = normal_body(texts)
        outcomes: list[Outcome] = []
        try:
            if server.ours:
                server.start()
            workers = server.workers()
            if args.api_service not in workers:
                raise SystemExit(f"no worker of {args.api_service} below PID {server.serve_pid}: {workers}")
            time_normal(server.url, headers, normal, 5)  # warm-up: the first answers of a new server are slower
            usual_runs = time_normal(server.url, headers, normal)
            if any(status != 200 for status, _ in usual_runs):
                raise SystemExit(f"the normal request failed before any attack: {usual_runs}")
            usual = statistics.median(seconds for _, seconds in usual_runs)
            limit = usual_limit(usual)
            served = (f"`bentoml serve` of {server.repo} started here, default settings (no PLS_* variable"
                      + (f"; {', '.join(args.serve_env)}" if args.serve_env else "") + ")"
                      if server.ours else f"{server.url} (`bentoml serve` PID {server.serve_pid})")
            head = [f"- served: {served}; workers {', '.join(sorted(workers))}",
                    f"- normal request: /generate with its defaults on a {len(normal['technical_text']):,}-character "
                    f"abstract; usual time {usual:.2f} s (median of 5 after 5 warm-ups; "
                    f"{min(t for _, t in usual_runs):.2f}–{max(t for _, t in usual_runs):.2f} s), \"within\" = at most "
                    f"2 × usual + 1 s = {limit:.2f} s",
                    f"- targets: RSS increase ≤ {RSS_LIMIT_MB} MB in every worker, /readyz ≤ {READYZ_LIMIT_S:g} s, "
                    f"every normal request within, no worker died; validation-log also: the name never in "
                    f"the log, log records and 4xx answers ≤ {LOG_RECORD_LIMIT // 1024} KiB"]
            print("\n".join(head), flush=True)
            ctx = Context(server, headers, args, texts)
            for name in args.attacks:
                print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
                outcome = run_attack(name, ctx, normal, limit)
                outcomes.append(outcome)
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {table([outcome], limit, args.api_service)[-1]}",
                      file=sys.stderr, flush=True)
        finally:
            if server.ours:
                server.stop()
                if args.keep_logs:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    for log in scratch.glob("serve-*.log"):
                        shutil.copy(log, args.keep_logs / log.name)
        took = (datetime.datetime.now(datetime.UTC) - started_at).total_seconds() / 60
        report = [*lines, *head, f"- took {took:.1f} min; load average at the end "
                  f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}", "",
                  *table(outcomes, limit, args.api_service)]
        print("\n" + "\n".join(table(outcomes, limit, args.api_service)))
        print(f"\ntook {took:.1f} min")
        if args.out:
            args.out.write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
