"""Kill the simplifier worker of a running `bentoml serve` under load and measure what clients see.

    python loadtests/fault_kill_worker.py --url http://127.0.0.1:3000 --serve-pid PID
    python loadtests/fault_kill_worker.py --url http://127.0.0.1:3400 --container NAME   # podman

PID is the `bentoml serve` process (with --container: the container's, as podman sees it); its
descendant whose command line names the runner service (default pls-simplifier-runner) gets
SIGKILL. Prints a table: answers by status (before the kill, in flight at the kill, after it),
how long in-flight requests took to get their answer, how long /readyz reported not ready,
whether /livez ever failed, the gap until a new request succeeded again and, for a container,
whether and when it exited and what its health check said at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

import httpx

from loadtests.probe_cli import positive, probe_parser

BODY = {"technical_text": "Patients with hypertension were randomised to diuretics or placebo for a year.",
        "max_length": 50, "num_beams": 1}


def poll_readiness(url: str, stop: threading.Event, into: list, pause_s: float = 0.2, path: str = "/readyz") -> None:
    """Append (start, end, status) of each GET `path` to `into` until `stop` is set (0: no answer)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = http.get(path).status_code
            except httpx.HTTPError:
                status = 0
            into.append((started, time.monotonic(), status))
            time.sleep(pause_s)


def runner_pid(serve_pid: int, service_name: str) -> int:
    """The descendant of `serve_pid` that runs `service_name` (a container's init and
    entrypoint sit between podman's PID and the server)."""
    # -ww: whole command lines, whatever COLUMNS says (a truncated one would hide the service name).
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in listing.splitlines()[1:]:
        pid, ppid, *rest = line.split(None, 2)
        children.setdefault(int(ppid), []).append((int(pid), rest[0] if rest else ""))
    pending = [serve_pid]
    while pending:
        for pid, args in children.get(pending.pop(), []):
            if f"--service-name {service_name}" in args:
                return pid
            pending.append(pid)
    raise SystemExit(f"no descendant of {serve_pid} runs {service_name}")


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True).stdout.strip()


def watch_container(name: str, stop: threading.Event, into: dict) -> None:
    """Record when the container stops running, and its exit code."""
    while not stop.is_set():
        state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).split()
        if state and state[0] != "running":
            into.update(exited_at=time.monotonic(), status=state[0], exit_code=state[1] if len(state) > 1 else "?")
            return
        time.sleep(0.2)


def main() -> None:
    parser = probe_parser(__doc__.split("\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--serve-pid", type=positive(int))
    target.add_argument("--container", help="a podman container running the image (its init's PID is used)")
    parser.add_argument("--service-name", default="pls-simplifier-runner")
    parser.add_argument("--clients", type=positive(int), default=4)
    parser.add_argument("--before-s", type=positive(float), default=5.0)
    parser.add_argument("--after-s", type=positive(float), default=30.0)
    parser.add_argument("--require-recovery", type=positive(float), metavar="S",
                        help="exit 1 unless a new request got 200 within S seconds of the kill, /livez never "
                             "failed and the container (with --container) kept running")
    args = parser.parse_args()
    headers = dict(args.header)

    results: list[tuple[float, float, int]] = []  # (start, end, status)
    ready: list[tuple[float, float, int]] = []  # (start, end, status)
    alive: list[tuple[float, float, int]] = []
    container: dict = {}
    stop = threading.Event()
    serve_pid = args.serve_pid or int(podman("inspect", "--format", "{{.State.Pid}}", args.container) or 0)
    if not serve_pid:
        raise SystemExit(f"container {args.container} is not running")

    def client() -> None:
        with httpx.Client(base_url=args.url, timeout=130, headers=headers) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = http.post("/generate", json=BODY).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((started, time.monotonic(), status))

    victim = runner_pid(serve_pid, args.service_name)  # before any load: a miss leaves nothing running
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    threads.append(threading.Thread(target=poll_readiness, args=(args.url, stop, ready)))
    threads.append(threading.Thread(target=poll_readiness, args=(args.url, stop, alive, 0.2, "/livez")))
    if args.container:
        threads.append(threading.Thread(target=watch_container, args=(args.container, stop, container)))
    for thread in threads:
        thread.start()
    time.sleep(args.before_s)
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
    failed_alive = [end for start, end, s in alive if start >= killed_at and s != 200]
    print(f"{'/livez not 200 after the kill: count, first (s)':<48} "
          f"{len(failed_alive)}{'' if not failed_alive else f', {failed_alive[0] - killed_at:.2f}'}")
    if args.container:
        exited = container.get("exited_at")
        how = (f"{exited - killed_at:.2f} ({container['status']}, exit code {container['exit_code']})"
               if exited is not None else "no")
        print(f"{'container exited after the kill (s)':<48} {how}")
        # `podman healthcheck run` runs the image's HEALTHCHECK once: empty output means healthy.
        health = (podman("healthcheck", "run", args.container) or "healthy") if exited is None else "n/a"
        print(f"{'container health check at the end':<48} {health}")
    if args.require_recovery:
        problems = []
        if first_ok is None or first_ok - killed_at > args.require_recovery:
            problems.append(f"no new request got a 200 within {args.require_recovery:g} s of the kill")
        if failed_alive:
            problems.append(f"/livez failed {len(failed_alive)} times after the kill")
        if args.container and container.get("exited_at") is not None:
            problems.append("the container exited instead of restarting the worker")
        if problems:
            raise SystemExit("not recovered: " + "; ".join(problems))

if __name__ == "__main__":
    main()
