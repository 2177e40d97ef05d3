"""A tiny T5 tokenizer folder for the fast tier (tests/fixtures/tiny_tokenizer/): the demo build's
own tokenizer recipe (demo/tokenizer.py's train_tokenizer) on a few hundred demo sentences and a
small vocabulary, so chunking is tested with a real tokenizer.json in seconds, without the demo
build. Made again, byte for byte, by

    python -m tests.support.tiny_tokenizer            # writes tests/fixtures/tiny_tokenizer/

and tests/unit/test_tiny_tokenizer.py checks the committed folder is what this makes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tests.support.processes import REPO

FOLDER = REPO / "tests" / "fixtures" / "tiny_tokenizer"
FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
VOCAB_SIZE = 600
SENTENCES = 400
SEED = 0


def training_texts() -> list[str]:
    """The first demo training pairs (technical and plain), and the held-out kinds' first few."""
    from demo.corpus import build_corpus

    corpus = build_corpus(SEED)
    pairs = corpus.train[:SENTENCES] + corpus.heldout_freeform[:20]
    return [text for pair in pairs for text in pair]


def build(folder: Path) -> Path:
    """Write the tiny tokenizer's files into `folder` (created; other files left alone)."""
    from demo.tokenizer import train_tokenizer

    with tempfile.TemporaryDirectory() as scratch:
        train_tokenizer(training_texts(), VOCAB_SIZE, Path(scratch), SEED)
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(Path(scratch) / name, folder / name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FOLDER, help=f"folder to write (default {FOLDER})")
    print(f"wrote {build(parser.parse_args().out)}")


if __name__ == "__main__":
    main()
