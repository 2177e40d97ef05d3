"""The committed tiny tokenizer (tests/fixtures/tiny_tokenizer/) is what its script makes, and it
is a real T5 tokenizer: transformers loads it and gives the same ids as the tokenizers library."""

from __future__ import annotations

from pathlib import Path

from tests.support.tiny_tokenizer import FILES, FOLDER, build


def test_the_committed_folder_is_what_the_script_makes(tmp_path: Path) -> None:
    made = build(tmp_path / "tiny")
    for name in FILES:
        assert (made / name).read_bytes() == (FOLDER / name).read_bytes(), \
            f"{name} differs: run `python -m tests.support.tiny_tokenizer` and commit the result"


def test_transformers_loads_it_as_a_t5_tokenizer_with_the_demo_ids() -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(FOLDER)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.model_max_length == 512
    text = "Patients with hypertension were randomised to diuretics (95% CI 0.61-0.89)."
    ids = tokenizer(text).input_ids
    assert ids[-1] == 1 and 2 not in ids  # EOS at the end; every character known
    assert Tokenizer.from_file(str(FOLDER / "tokenizer.json")).encode(text).ids == ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
