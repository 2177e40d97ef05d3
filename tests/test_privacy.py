"""No secret travels in the bento: keys in the building machine's environment stay out of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, import_env

KEY = "bento-leak-check-6f1d2c9a8b7e"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_bento_built_with_keys_in_the_environment_holds_none(bento_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(bento_home, home, symlinks=True)
    key_file = tmp_path / "keys"
    key_file.write_text(KEY + "-from-file\n")
    env = {**import_env(home), "PLS_API_KEYS": KEY, "PLS_API_KEYS_FILE": str(key_file)}
    bentoml = Path(sys.executable).parent / "bentoml"
    built = subprocess.run([str(bentoml), "build", "--output", "tag"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=500)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    bentos = list((home / "bentos").glob("*/*/bento.yaml"))
    assert bentos, "bentoml build left no bento in the store"
    leaks = []
    for root, _, names in os.walk(bentos[0].parent):
        for name in names:
            path = Path(root) / name
            data = path.read_bytes()
            if KEY.encode() in data or b"PLS_API_KEYS" in data and b"bento.yaml" == name.encode():
                leaks.append(str(path.relative_to(bentos[0].parent)))
    assert not leaks, f"key material in the bento: {leaks}"
