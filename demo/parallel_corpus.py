"""Parallel (technical, plain) pairs read from line files: a user's `--corpus` folder and the real
abstracts shipped in data/cochrane, with their fixed held-out split."""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Real abstracts and their plain-language summaries shipped with the project (CC BY 4.0, see
# data/cochrane/README.md). The classifier learns the real registers from them; a fixed part is
# never trained on and measures accuracy on real text.
REAL_CORPUS_DIR = ROOT / "data" / "cochrane"
HELDOUT_REAL_PAIRS = 100
REAL_SPLIT_SEED = 0  # independent of --seed: tests and builds agree on which pairs are held out


class UsageError(Exception):
    """Bad arguments or inputs: reported as one message and a non-zero exit, no traceback."""


def read_corpus_dir(folder: Path) -> list[tuple[str, str]]:
    """Aligned (source, target) pairs from every X.source / X.target pair in `folder`."""
    if not folder.is_dir():
        raise UsageError(f"--corpus {folder}: no such folder")
    sources = sorted(folder.glob("*.source"))
    if not sources:
        raise UsageError(f"--corpus {folder}: no *.source files found")
    pairs: list[tuple[str, str]] = []
    for source in sources:
        target = source.with_suffix(".target")
        if not target.is_file():
            raise UsageError(f"--corpus: {source.name} has no matching {target.name}")
        try:
            src_lines = source.read_text(encoding="utf-8").splitlines()
            tgt_lines = target.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--corpus: cannot read {source.name}/{target.name}: {error}") from None
        if len(src_lines) != len(tgt_lines):
            raise UsageError(f"--corpus: {source.name} has {len(src_lines)} lines but "
                             f"{target.name} has {len(tgt_lines)}; they must be aligned")
        for number, (src, tgt) in enumerate(zip(src_lines, tgt_lines), 1):
            if not src.strip() or not tgt.strip():
                raise UsageError(f"--corpus: line {number} of {source.name}/{target.name} is empty")
            pairs.append((src.strip(), tgt.strip()))
    if len(pairs) < 4:
        raise UsageError(f"--corpus {folder}: only {len(pairs)} pairs; at least 4 are needed")
    return pairs


def real_pairs_split(folder: Path = REAL_CORPUS_DIR) -> tuple[list, list]:
    """(training, held-out) real pairs from `folder`; both empty when it is absent."""
    if not (folder / "val.source").is_file():
        return [], []
    pairs = read_corpus_dir(folder)
    random.Random(REAL_SPLIT_SEED).shuffle(pairs)
    return pairs[HELDOUT_REAL_PAIRS:], pairs[:HELDOUT_REAL_PAIRS]
