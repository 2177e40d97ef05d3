"""Run a real `bentoml serve` of this repo on a free 127.0.0.1 port: for the load tests, the
benchmarks and the test suite (tests import it from here; nothing here imports tests/)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BENTOML = Path(sys.executable).parent / "bentoml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_home(bento_home: Path) -> Path:
    """A BentoML home of its own for one server, sharing `bento_home`'s model store.

    Every `bentoml serve` empties <BENTOML_HOME>/prometheus_multiproc_dir when it starts, so a
    second server on the same home wipes the first one's metric files and the first one's
    /metrics stops counting. Only the store is shared."""
    home = Path(tempfile.mkdtemp(prefix="bentoml-server-home-"))
    for shared in ("models", "bentos"):
        (bento_home / shared).mkdir(parents=True, exist_ok=True)
        (home / shared).symlink_to(bento_home / shared, target_is_directory=True)
    return home


@contextlib.contextmanager
def bentoml_serve(bento_home: Path, log_path: Path, *, arguments: Sequence[str] = ("serve",),
                  repo: Path = REPO, **settings: str) -> Iterator[str]:
    """Run `bentoml serve` from the repo root on a free 127.0.0.1 port; yield its base URL.

    `arguments` replaces `serve` (say, `serve --timeout-keep-alive 12` or another service);
    `repo` serves another checkout (a benchmark's "before")."""
    port = free_port()
    home = server_home(bento_home)
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **settings}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BENTOML), *arguments, "--host", "127.0.0.1", "--port", str(port)],
            cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, log_path)
            yield url
        finally:
            # The server may have exited already (say, a model missing): its error must not be
            # replaced by a ProcessLookupError from stopping it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            shutil.rmtree(home, ignore_errors=True)  # the links only; the store stays


def _wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float = 300) -> None:
    """Wait for /readyz 200 (all runners loaded), failing with the server log if it never comes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"bentoml serve did not become ready; log:\n{log_path.read_text()[-4000:]}")
