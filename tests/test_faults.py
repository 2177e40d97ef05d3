"""Faults: a model store changed after import is refused before a pickle is loaded."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pls_core.integrity import TamperedModelError, verify_files
from tests.conftest import import_env

# Runs in a child process against a copy of the session's store: the check as the classifier
# runner calls it, on the model exactly as BentoML stores it.
CHECK = """
import bentoml
from pls_core.integrity import verify_files
model = bentoml.models.get("pls-classifier:latest")
verify_files(model.path, model.info.metadata, ["vectorizer.pkl", "classifier.pkl"], tag=model.tag)
print("verified", model.tag)
"""


def _check_store(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHECK], env=import_env(home), capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300)


def test_an_imported_classifier_passes_and_a_tampered_one_is_refused_naming_the_file(
        bento_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(bento_home, home, symlinks=True)
    intact = _check_store(home)
    assert intact.returncode == 0 and "verified pls-classifier:" in intact.stdout, intact.stderr[-3000:]

    pickle = next((home / "models" / "pls-classifier").glob("*/vectorizer.pkl"))
    pickle.write_bytes(pickle.read_bytes() + b"\x00")  # one byte appended
    tampered = _check_store(home)
    assert tampered.returncode != 0
    assert "TamperedModelError" in tampered.stderr and "vectorizer.pkl does not match" in tampered.stderr


def test_a_missing_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "classifier.pkl").write_bytes(b"x")
    with pytest.raises(TamperedModelError, match="no sha256 recorded for classifier.pkl"):
        verify_files(tmp_path, {"files_sha256": {}}, ["classifier.pkl"], tag="pls-classifier:abc")


def test_serve_without_the_models_fails_at_once_naming_the_tag_and_the_import_command(tmp_path: Path) -> None:
    bentoml = Path(sys.executable).parent / "bentoml"
    result = subprocess.run([str(bentoml), "serve", "--host", "127.0.0.1", "--port", "1"],
                            env=import_env(tmp_path / "empty-store"), capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=120)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "model pls-simplifier:latest, pls-classifier:latest is not in the BentoML store" in output
    assert "python scripts/models/import_models.py" in output
    assert "No cloud context" not in output


@pytest.mark.parametrize("script, arguments, message", [
    ("overload_probe.py", ["--url", "http://127.0.0.1:9", "--header", "no-colon"], "is not NAME:VALUE"),
    ("overload_probe.py", ["--url", "http://127.0.0.1:9", "--clients", "0"], "must be above zero"),
    ("fault_kill_worker.py", ["--url", "http://127.0.0.1:9", "--serve-pid", "x"], "is not a number"),
])
def test_probe_scripts_refuse_bad_arguments_clearly(script: str, arguments: list[str], message: str) -> None:
    probes = Path(__file__).resolve().parent.parent / "loadtests"
    result = subprocess.run([sys.executable, str(probes / script), *arguments],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
