#!/usr/bin/env python3
"""Rebuild the payload files the locust suite ships with (run once; the output is committed).

    python -m loadtests.make_payloads [--cochrane ../shared/data/cochrane] [--count 8]

- payloads/cochrane.json: abstracts from the Cochrane sample (CC BY 4.0, Devaraj et al. 2021)
  with their plain-language summaries and DOIs, and each abstract's opening: its leading
  sentences that fit in 480 tokens of the demo model's tokenizer (whose small vocabulary cuts
  real text finer than any real T5's), so an opening is one chunk for every model. Abstracts of
  900-1,600 characters are kept (under 512 tokens for t5's own tokenizer); the locustfile sends
  openings as "medium" texts and joins three whole abstracts into a "long" text that must be cut
  into chunks.
- payloads/demo.json: single technical sentences the demo model was never trained on, with their
  plain references (the project's own generated corpus).

Users of the project have no ../shared: the suite reads only these two files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAYLOADS = HERE / "payloads"
DEFAULT_COCHRANE = HERE.parent.parent / "shared" / "data" / "cochrane"
MEDIUM_CHARS = (900, 1600)
OPENING_TOKENS = 480  # a medium text: one chunk with room to spare


def opening(abstract: str, count_tokens, budget: int) -> str:
    """The abstract's leading sentences that fit `budget` tokens (task prefix and EOS included)."""
    from pls_core.chunking import split_sentences

    kept = []
    for sentence in split_sentences(abstract):
        if count_tokens(" ".join(kept + [sentence])) > budget:
            break
        kept.append(sentence)
    return " ".join(kept)


def cochrane_items(folder: Path, count: int, count_tokens) -> list[dict[str, str]]:
    sources = (folder / "val.source").read_text().splitlines()
    targets = (folder / "val.target").read_text().splitlines()
    dois = (folder / "val.doi").read_text().splitlines()
    items = []
    for source, target, doi in zip(sources, targets, dois):
        if MEDIUM_CHARS[0] <= len(source) <= MEDIUM_CHARS[1]:
            items.append({"doi": doi, "abstract": source.strip(),
                          "opening": opening(source.strip(), count_tokens, OPENING_TOKENS),
                          "plain_summary": target.strip()})
        if len(items) == count:
            break
    return items


def demo_token_counter(model_dir: Path):
    """Tokens the demo simplifier sees: its 2,000-piece vocabulary cuts real text into many
    more pieces than t5's 32,000, so what fits it fits any T5 tokenizer."""
    from transformers import AutoTokenizer

    from pls_core.model_layout import TASK_PREFIX

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return lambda text: len(tokenizer(TASK_PREFIX + text, verbose=False).input_ids)


def demo_items(count: int) -> list[dict[str, str]]:
    from demo.corpus import build_corpus

    pairs = build_corpus(0).heldout_combinations[:count]
    return [{"technical": technical, "plain": plain} for technical, plain in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cochrane", type=Path, default=DEFAULT_COCHRANE)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--models", type=Path, default=HERE.parent / "models", help="the demo models' folder")
    args = parser.parse_args()
    PAYLOADS.mkdir(exist_ok=True)
    cochrane = cochrane_items(args.cochrane, args.count, demo_token_counter(args.models / "t5_base"))
    (PAYLOADS / "cochrane.json").write_text(json.dumps(cochrane, indent=1, ensure_ascii=False) + "\n")
    shutil.copyfile(args.cochrane / "LICENSE.md", PAYLOADS / "LICENSE.md")
    (PAYLOADS / "demo.json").write_text(json.dumps(demo_items(16), indent=1) + "\n")
    print(f"wrote {len(cochrane)} abstracts and 16 demo sentences to {PAYLOADS}")


if __name__ == "__main__":
    main()
