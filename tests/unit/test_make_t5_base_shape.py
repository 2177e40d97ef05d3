"""scripts/models/make_t5_base_shape.py refuses a target it would overwrite, writing nothing
(the build itself, and its model serving: tests/integration/test_real_model_folders.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO


@pytest.mark.parametrize("kind", ["file", "non-empty folder"])
def test_an_existing_target_is_refused_and_left_as_it_was(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out"
    if kind == "file":
        target.write_text("keep me")
    else:
        target.mkdir()
        (target / "keep.txt").write_text("keep me")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "scripts/models/make_t5_base_shape.py", "--out", str(target), "--tiny"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is not an empty folder" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
