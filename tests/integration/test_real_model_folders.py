"""Folders shaped like a real T5's import and serve, or are refused at import, never at serve time.

The shapes (scripts/models/make_t5_base_shape.py --tiny gives the layout and T5-base's 32,128-row
vocabulary with the demo tokenizer): a vocabulary padded past the tokenizer's length; a tokenizer
saved by `T5Tokenizer.save_pretrained` with T5's 100 extra ids and no `model_max_length` (then
transformers says 10**30) and no `tokenizer.json`. Before, such a folder imported, `/readyz` said
ready and every `/generate` answered 500 ("OverflowError: int too big to convert"): the runner
truncated at the tokenizer's limit, not at the model's input limit the chunker uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from loadtests.server import bentoml_serve
from pls_core.model_layout import MAX_INPUT_TOKENS, SENTENCEPIECE_FILE, SIMPLIFIER_DIRNAME, TOKENIZER_FILE
from tests.support.processes import BIN, PYTHON, import_env, run

pytestmark = pytest.mark.timeout(600)


def tiny_t5_base_shape(out: Path) -> Path:
    result = run([PYTHON, "scripts/models/make_t5_base_shape.py", "--out", out, "--tiny"])
    assert result.returncode == 0, result.stdout + result.stderr
    return out / SIMPLIFIER_DIRNAME


def with_t5_tokenizer(simplifier: Path) -> None:
    """The tokenizer as T5's own release has it: extra ids, no model_max_length, no tokenizer.json."""
    from transformers import T5Tokenizer

    tokenizer = T5Tokenizer(str(simplifier / SENTENCEPIECE_FILE), extra_ids=100, legacy=True)
    for name in (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json"):
        (simplifier / name).unlink(missing_ok=True)
    tokenizer.save_pretrained(simplifier)
    config = json.loads((simplifier / "tokenizer_config.json").read_text())
    config.pop("model_max_length", None)
    (simplifier / "tokenizer_config.json").write_text(json.dumps(config))
    assert len(tokenizer) > 100 and not (simplifier / TOKENIZER_FILE).exists()


def import_models(models: Path, home: Path):
    return run([PYTHON, "scripts/models/import_models.py", "--models-dir", models], env=import_env(home))


def stored_names(home: Path) -> list[str]:
    result = run([BIN / "bentoml", "models", "list", "-o", "json"], env=import_env(home))
    assert result.returncode == 0, result.stderr
    return [model["tag"].split(":")[0] for model in json.loads(result.stdout or "[]")]


def test_a_t5_shaped_folder_imports_and_serves_long_text(tmp_path: Path, demo_models: Path) -> None:
    simplifier = tiny_t5_base_shape(tmp_path / "models")
    with_t5_tokenizer(simplifier)
    home = tmp_path / "home"
    result = import_models(tmp_path / "models", home)
    assert result.returncode == 0, result.stdout + result.stderr
    with bentoml_serve(home, tmp_path / "bentoml.log") as url:
        long_text = "The patient had a myocardial infarction and was given aspirin. " * 120  # several chunks
        for text in ("The patient had a myocardial infarction.", long_text):
            answer = httpx.post(f"{url}/generate", json={"technical_text": text, "max_length": 50, "num_beams": 2},
                                timeout=300)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert 0 < body["tokens_input"] <= body["num_chunks"] * MAX_INPUT_TOKENS
        assert body["num_chunks"] > 1
    log = (tmp_path / "bentoml.log").read_text(errors="replace")
    assert "OverflowError" not in log


def test_weights_with_fewer_rows_than_the_tokenizer_are_refused_naming_the_field(tmp_path: Path,
                                                                                 demo_models: Path) -> None:
    simplifier = tiny_t5_base_shape(tmp_path / "models")
    with_t5_tokenizer(simplifier)
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config.from_pretrained(simplifier)
    config.vocab_size = 64  # far fewer rows than the tokenizer's tokens
    T5ForConditionalGeneration(config).save_pretrained(simplifier, safe_serialization=True)
    result = import_models(tmp_path / "models", tmp_path / "home")
    assert result.returncode == 1
    assert "config.json: vocab_size is 64" in result.stderr and "Traceback" not in result.stderr
    assert stored_names(tmp_path / "home") == []


def test_a_folder_that_cannot_generate_is_refused_at_import_and_nothing_is_stored(tmp_path: Path,
                                                                                    demo_models: Path) -> None:
    """The trial generation at import: here the generation config names a start token the model
    has no row for, which loads fine and fails on the first generate."""
    simplifier = tiny_t5_base_shape(tmp_path / "models")
    generation = json.loads((simplifier / "generation_config.json").read_text())
    generation["decoder_start_token_id"] = 10**6
    (simplifier / "generation_config.json").write_text(json.dumps(generation))
    config = json.loads((simplifier / "config.json").read_text())
    config["decoder_start_token_id"] = 10**6
    (simplifier / "config.json").write_text(json.dumps(config))
    result = import_models(tmp_path / "models", tmp_path / "home")
    assert result.returncode == 1, result.stdout
    assert "trial generation" in result.stderr and "Traceback" not in result.stderr
    assert stored_names(tmp_path / "home") == []
