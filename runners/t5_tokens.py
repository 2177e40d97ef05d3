"""The simplifier's tokenizer with the `tokenizers` library alone: what the CTranslate2 backend needs
at serving time, so a process serving with CTranslate2 loads neither transformers nor torch.

Reads the model folder's `tokenizer.json` (written at import when a folder ships only
`spiece.model`) and `tokenizer_config.json`, and gives the same ids, tokens and text as
transformers' `AutoTokenizer` on that folder (tests/unit/test_t5_tokens.py checks it): EOS
appended by the tokenizer's own post-processor, truncation that keeps room for it, unknown
tokens mapped to `<unk>`, `clean_up_tokenization_spaces` applied as transformers applies it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pls_core.model_layout import TOKENIZER_FILE


def _special(config: dict, name: str, default: str) -> str:
    value = config.get(name, default)
    return value.get("content", default) if isinstance(value, dict) else (value or default)


class T5Tokens:
    """Encode, decode and map tokens for one model folder."""

    def __init__(self, folder: str | Path, max_input_tokens: int) -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_input_tokens)
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text())
        except (OSError, ValueError):
            config = {}
        self.eos_token = _special(config, "eos_token", "</s>")
        self.eos_id = self.tokenizer.token_to_id(self.eos_token)
        self.unk_id = self.tokenizer.token_to_id(_special(config, "unk_token", "<unk>"))
        self.clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", False))

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids, EOS included, truncated to the input limit."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in ids]

    def ids(self, tokens: list[str]) -> list[int]:
        """Token strings to ids; one the tokenizer does not know (a padded vocabulary row) is `<unk>`."""
        found = [self.tokenizer.token_to_id(token) for token in tokens]
        return [self.unk_id if i is None else i for i in found]

    def decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return _clean_up(text) if self.clean_up_spaces else text


def _clean_up(text: str) -> str:
    """transformers' `clean_up_tokenization`: no space before punctuation and English clitics."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text
