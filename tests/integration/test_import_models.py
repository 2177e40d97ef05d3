"""Importing the model folders into a BentoML store: complete, idempotent, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.processes import BIN, PYTHON, import_env, run

pytestmark = pytest.mark.timeout(300)


def import_models(models: Path, home: Path):
    return run([PYTHON, "scripts/models/import_models.py", "--models-dir", models], env=import_env(home))


def stored(home: Path) -> list[dict]:
    result = run([BIN / "bentoml", "models", "list", "-o", "json"], env=import_env(home))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "[]")


def model_info(home: Path, tag: str) -> dict:
    result = run([BIN / "bentoml", "models", "get", tag, "-o", "json"], env=import_env(home))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("folder,filename", [("t5_base", "model.safetensors"),
                                              ("baseline_classifier", "vectorizer.pkl")])
def test_a_missing_file_is_named_with_the_command_that_makes_it(models_copy, tmp_path, folder, filename):
    (models_copy / folder / filename).unlink()
    result = import_models(models_copy, tmp_path / "home")
    assert result.returncode == 1
    assert filename in result.stderr
    assert "make_demo_models.py" in result.stderr and "pull_models.sh" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored(tmp_path / "home") == []


def test_a_missing_folder_is_a_clear_error(tmp_path):
    result = import_models(tmp_path / "nowhere", tmp_path / "home")
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_a_model_that_does_not_load_leaves_nothing_in_the_store(models_copy, tmp_path):
    # The classifier is fine; the T5 weights are garbage. Neither may be imported.
    (models_copy / "t5_base" / "model.safetensors").write_bytes(b"not a safetensors file")
    result = import_models(models_copy, tmp_path / "home")
    assert result.returncode == 1
    assert "does not load as a simplifier" in result.stderr
    assert stored(tmp_path / "home") == []


def test_a_classifier_without_predict_proba_is_refused(models_copy, tmp_path):
    import joblib

    joblib.dump({"not": "a classifier"}, models_copy / "baseline_classifier" / "classifier.pkl")
    result = import_models(models_copy, tmp_path / "home")
    assert result.returncode == 1
    assert "predict_proba" in result.stderr
    assert stored(tmp_path / "home") == []


def latest(home: Path, name: str) -> str:
    info = model_info(home, f"{name}:latest")
    return f"{info['name']}:{info['version']}"


def test_a_tokenizer_shipped_only_as_spiece_model_gets_a_tokenizer_json(models_copy, tmp_path):
    folder = models_copy / "t5_base"
    if not (folder / "spiece.model").is_file():
        pytest.skip("the demo model ships no spiece.model")
    (folder / "tokenizer.json").unlink()
    home = tmp_path / "home"
    result = import_models(models_copy, home)
    assert result.returncode == 0, result.stderr
    stored_folder = home / "models" / "pls-simplifier" / latest(home, "pls-simplifier").split(":")[1]
    assert (stored_folder / "tokenizer.json").is_file()
    assert not (folder / "tokenizer.json").exists()  # the user's folder is left as it was

    from transformers import T5Tokenizer

    from pls_core.chunking import Chunker
    from pls_core.model_layout import TASK_PREFIX

    slow = T5Tokenizer(str(folder / "spiece.model"))
    chunker = Chunker.from_model_folder(stored_folder)
    for text in ("The patient had a myocardial infarction.", "Fluconazole ≥5% (95% CI 0.61–0.89), μg/kg."):
        assert chunker.tokenizer.encode(TASK_PREFIX + text).ids == slow(TASK_PREFIX + text).input_ids


def test_a_stores_history_import_again_new_version_rollback_and_a_failed_import(models_copy, tmp_path):
    """One store through a model's life, an import per step: both models stored with their labels
    and metadata; the same content again adds nothing; changed content is a new version; importing
    the older content again makes it `latest` (what the service and the bento resolve) without a
    new version (a rollback); an import that fails leaves `latest` where it was."""
    home = tmp_path / "home"
    result = import_models(models_copy, home)
    assert result.returncode == 0, result.stderr
    first_tags = sorted(item["tag"] for item in stored(home))
    assert [tag.split(":")[0] for tag in first_tags] == ["pls-classifier", "pls-simplifier"]
    simplifier = model_info(home, next(t for t in first_tags if t.startswith("pls-simplifier")))
    assert simplifier["labels"]["source"] == "demo"
    metadata = simplifier["metadata"]
    assert metadata["task_prefix"] == "simplify medical text into plain language: "
    assert metadata["max_input_tokens"] == 512
    assert set(metadata["files_sha256"]) >= {"config.json", "model.safetensors", "tokenizer_config.json"}
    assert metadata["metrics"] == json.loads((models_copy / "t5_base" / "metrics.json").read_text())
    first = latest(home, "pls-classifier")

    # The same content again: nothing new.
    again = import_models(models_copy, home)
    assert again.returncode == 0, again.stderr
    assert sorted(item["tag"] for item in stored(home)) == first_tags
    assert again.stdout.count("already in the store") == 2
    for tag in first_tags:
        assert tag in again.stdout

    # Changed content: a new version of that model only.
    metrics = models_copy / "baseline_classifier" / "metrics.json"
    original = metrics.read_text()
    metrics.write_text(json.dumps({**json.loads(original), "note": "retrained"}))
    assert import_models(models_copy, home).returncode == 0
    assert sorted(item["tag"].split(":")[0] for item in stored(home)) == \
        ["pls-classifier", "pls-classifier", "pls-simplifier"]
    second = latest(home, "pls-classifier")
    assert second != first

    # A rollback: the earlier content again is `latest` again, and nothing new is created.
    metrics.write_text(original)
    rolled_back = import_models(models_copy, home)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert latest(home, "pls-classifier") == first
    assert f"pls-classifier:latest -> {first}" in rolled_back.stdout
    assert len(stored(home)) == 3

    # A failed import (weights that do not load) leaves `latest` of both where it was.
    before = (latest(home, "pls-simplifier"), latest(home, "pls-classifier"))
    (models_copy / "t5_base" / "model.safetensors").write_bytes(b"not a safetensors file")
    assert import_models(models_copy, home).returncode == 1
    assert (latest(home, "pls-simplifier"), latest(home, "pls-classifier")) == before
    assert len(stored(home)) == 3
