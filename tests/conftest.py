"""Shared fixtures: the demo models, a private BentoML store, and a real `bentoml serve`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.moto_support import free_port

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def run(argv: list[str | os.PathLike], **kwargs) -> subprocess.CompletedProcess:
    """Run a command from the repo root, capturing text output (check left to the caller)."""
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def demo_models() -> Path:
    """The full demo models in models/: built once here if the test command has not yet."""
    result = run([PYTHON, "scripts/make_demo_models.py", "--out", "models"], timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return REPO / "models"


@pytest.fixture
def models_copy(demo_models: Path, tmp_path: Path) -> Path:
    """A private copy of the demo model folders that a test may change."""
    target = tmp_path / "models"
    for name in ("t5_base", "baseline_classifier"):
        shutil.copytree(demo_models / name, target / name)
    return target


def import_env(bento_home: Path) -> dict[str, str]:
    return {**os.environ, "BENTOML_HOME": str(bento_home), "BENTOML_DO_NOT_TRACK": "true"}


@pytest.fixture(scope="session")
def bento_home(tmp_path_factory: pytest.TempPathFactory, demo_models: Path) -> Path:
    """A BentoML store holding the imported demo models, private to this test session."""
    home = tmp_path_factory.mktemp("bentoml_home")
    result = run([PYTHON, "scripts/import_models.py", "--models-dir", demo_models], env=import_env(home))
    assert result.returncode == 0, result.stdout + result.stderr
    return home


@contextlib.contextmanager
def bentoml_serve(bento_home: Path, log_path: Path, **settings: str) -> Iterator[str]:
    """Run `bentoml serve` from the repo root on a free 127.0.0.1 port; yield its base URL."""
    port = free_port()
    env = {**import_env(bento_home), **settings}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, log_path)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


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


@pytest.fixture(scope="session")
def server(bento_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `bentoml serve` of service.py on the demo models, shared by the API tests."""
    log_path = tmp_path_factory.mktemp("serve") / "bentoml.log"
    # A generous latency budget: the shared CI machine must not turn slow batches into 503s.
    with bentoml_serve(bento_home, log_path, PLS_MAX_LATENCY_MS="120000") as url:
        yield url
