"""The `bentoml serve` under attack: one this script starts, stops and restarts, or one it was given,
and its worker processes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from loadtests.server import BENTOML, free_port, server_home


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
