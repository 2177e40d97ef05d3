"""Start a real moto server on 127.0.0.1 for a test, and stop it afterwards.

Used by the DVC round trip (S3) and the Terraform / deploy tests (ECR, ECS, ELBv2, ...).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from loadtests.server import free_port

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def wait_for_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers (any HTTP status) or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def moto_server(
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run moto in server mode on a free 127.0.0.1 port; yield its endpoint URL.

    `command` replaces the default `python -m moto.server` (e.g. a wrapper that patches moto
    first); it gets `--host 127.0.0.1 --port PORT` appended.
    """
    port = free_port()
    argv = list(command or [sys.executable, "-m", "moto.server"]) + ["-H", "127.0.0.1", "-p", str(port)]
    proc_env = {**os.environ, **FAKE_CREDENTIALS, **(env or {})}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(argv, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/moto-api/", timeout_s=60, proc=proc)
        yield url
    finally:
        stop_process(proc)
        if log_path:
            log.close()


def stop_process(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    """Terminate a server started by a test, killing it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
