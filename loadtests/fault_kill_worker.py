"""Kill the simplifier worker of a running `bentoml serve` under load and measure what clients see.

    python loadtests/fault_kill_worker.py --url http://127.0.0.1:3000 --serve-pid PID

PID is the `bentoml serve` process; its child whose command line names the runner service
(default pls-simplifier-runner) gets SIGKILL. Prints a table: answers by status (before the
kill, in flight at the kill, after it), how long in-flight requests took to get their answer,
how long /readyz reported not ready, and the gap until a new request succeeded again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.probe_cli import positive, probe_parser

BODY = {"technical_text": "Patients with hypertension were randomised to diuretics or placebo for a year.",
        "max_length": 50, "num_beams": 1}


def poll_readiness(url: str, stop: threading.Event, into: list, pause_s: float = 0.2) -> None:
    """Append (start, end, status) of each GET /readyz to `into` until `stop` is set (0: no answer)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = http.get("/readyz").status_code
            except httpx.HTTPError:
                status = 0
            into.append((started, time.monotonic(), status))
            time.sleep(pause_s)


def runner_pid(serve_pid: int, service_name: str) -> int:
    listing = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    for line in listing.splitlines()[1:]:
        pid, ppid, args = line.split(None, 2)
        if int(ppid) == serve_pid and f"--service-name {service_name}" in args:
            return int(pid)
    raise SystemExit(f"no child of {serve_pid} runs {service_name}")


def main() -> None:
    parser = probe_parser(__doc__.split("\n")[0])
    parser.add_argument("--serve-pid", type=positive(int), required=True)
    parser.add_argument("--service-name", default="pls-simplifier-runner")
    parser.add_argument("--clients", type=positive(int), default=4)
    parser.add_argument("--before-s", type=positive(float), default=5.0)
    parser.add_argument("--after-s", type=positive(float), default=30.0)
    args = parser.parse_args()
    headers = dict(args.header)

    results: list[tuple[float, float, int]] = []  # (start, end, status)
    ready: list[tuple[float, float, int]] = []  # (start, end, status)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=args.url, timeout=130, headers=headers) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = http.post("/generate", json=BODY).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((started, time.monotonic(), status))

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    threads.append(threading.Thread(target=poll_readiness, args=(args.url, stop, ready)))
    for thread in threads:
        thread.start()
    time.sleep(args.before_s)
    victim = runner_pid(args.serve_pid, args.service_name)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    time.sleep(args.after_s)
    stop.set()
    for thread in threads:
        thread.join()

    before = Counter(s for start, end, s in results if end < killed_at)
    in_flight = [(end - killed_at, s) for start, end, s in results if start < killed_at <= end]
    after = [(start, end, s) for start, end, s in results if start >= killed_at]
    first_ok = min((end for start, end, s in after if s == 200), default=None)
    not_ready = [end for start, end, s in ready if start >= killed_at and s != 200]
    back_ready = min((end for start, end, s in ready if not_ready and start > not_ready[0] and s == 200),
                     default=None)
    slowest_ready = max((end - start for start, end, _ in ready), default=0)

    print(f"{'measure':<48} value")
    print(f"{'answers before the kill':<48} {dict(before)}")
    print(f"{'in flight at the kill: statuses':<48} {dict(Counter(s for _, s in in_flight))}")
    print(f"{'in flight: slowest answer after the kill (s)':<48} {max((d for d, _ in in_flight), default=0):.2f}")
    print(f"{'new requests after the kill':<48} {dict(Counter(s for _, _, s in after))}")
    print(f"{'gap: kill -> first 200 of a new request (s)':<48} "
          f"{'none' if first_ok is None else f'{first_ok - killed_at:.2f}'}")
    print(f"{'/readyz not ready: first seen after kill (s)':<48} "
          f"{'never' if not not_ready else f'{not_ready[0] - killed_at:.2f}'}")
    print(f"{'/readyz ready again after kill (s)':<48} "
          f"{'n/a' if back_ready is None else f'{back_ready - killed_at:.2f}'}")
    print(f"{'/readyz slowest answer (s)':<48} {slowest_ready:.2f}")


if __name__ == "__main__":
    main()
