"""runners/t5_tokens.py: the CTranslate2 backend's tokenizer without transformers gives the same ids,
tokens and text as transformers' AutoTokenizer on the same folder (here the tiny fixture
tokenizer; tests/integration/test_ct2.py compares the served outputs on the demo model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runners.t5_tokens import T5Tokens
from tests.support.processes import REPO

FIXTURE = REPO / "tests" / "fixtures" / "tiny_tokenizer"
TEXTS = ["The patient had a myocardial infarction.", "", "  spaces  ", "héllo wörld ß ſ İ", "<unk> </s> x",
         "Patients were randomised (n = 120) to aspirin or placebo; don't stop , please !",
         "word " * 700]


@pytest.fixture(params=[False, True], ids=["no-cleanup", "cleanup"])
def folder(request, tmp_path: Path) -> Path:
    target = tmp_path / "tokenizer"
    shutil.copytree(FIXTURE, target)
    config = json.loads((target / "tokenizer_config.json").read_text())
    config["clean_up_tokenization_spaces"] = request.param
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    return target


def test_the_same_ids_tokens_and_text_as_transformers(folder: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(folder)
    ours = T5Tokens(folder, max_input_tokens=64)
    for text in TEXTS:
        ids = reference(text, truncation=True, max_length=64).input_ids
        assert ours.encode([text]) == [ids], text
        assert len(ids) <= 64 and ids[-1] == ours.eos_id
        assert ours.tokens(ids) == reference.convert_ids_to_tokens(ids)
        assert ours.ids(ours.tokens(ids)) == ids
        assert ours.decode(ids) == reference.decode(ids, skip_special_tokens=True)


def test_a_token_the_tokenizer_does_not_know_is_unk(folder: Path) -> None:
    ours = T5Tokens(folder, max_input_tokens=64)
    assert ours.ids(["<extra_id_3>", "not-a-piece-of-this-vocabulary"]) == [ours.unk_id, ours.unk_id]


def test_no_transformers_needed() -> None:
    import ast

    tree = ast.parse((REPO / "runners" / "t5_tokens.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"transformers", "torch"}


def test_the_ctranslate2_path_loads_neither_transformers_nor_torch() -> None:
    """What an image serving with CTranslate2 needs: tokenizers and ctranslate2 only."""
    import subprocess
    import sys

    code = ("import sys, runners.ct2_backend, runners.simplifier, runners.t5_tokens; "
            "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
