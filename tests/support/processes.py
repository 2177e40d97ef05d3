"""Where the repository and its virtualenv are, and how the tests run a command of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
IN_CI = os.environ.get("CI") == "true"


def run(argv: list[str | os.PathLike], **kwargs) -> subprocess.CompletedProcess:
    """Run a command from the repo root, capturing text output (check left to the caller)."""
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)


def import_env(bento_home: Path) -> dict[str, str]:
    """The environment of a command that uses the BentoML store at `bento_home`."""
    return {**os.environ, "BENTOML_HOME": str(bento_home), "BENTOML_DO_NOT_TRACK": "true"}
