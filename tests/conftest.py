"""Shared fixtures: the demo models, a private BentoML store, and a real `bentoml serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.server import bentoml_serve

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
    result = run([PYTHON, "scripts/models/make_demo_models.py", "--out", "models"], timeout=1200)
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
    result = run([PYTHON, "scripts/models/import_models.py", "--models-dir", demo_models], env=import_env(home))
    assert result.returncode == 0, result.stdout + result.stderr
    return home


@pytest.fixture(scope="session")
def server(bento_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `bentoml serve` of service.py on the demo models, shared by the API tests."""
    log_path = tmp_path_factory.mktemp("serve") / "bentoml.log"
    # A generous latency budget: the shared CI machine must not turn slow batches into 503s.
    with bentoml_serve(bento_home, log_path, PLS_MAX_LATENCY_MS="120000") as url:
        yield url
