#!/usr/bin/env python3
"""Rebuild the payload files the locust suite ships with (run once; the output is committed).

    python -m loadtests.make_payloads [--cochrane ../shared/data/cochrane] [--count 8]

- payloads/cochrane.json: abstracts from the Cochrane sample (CC BY 4.0, Devaraj et al. 2021)
  with their plain-language summaries and DOIs. Only abstracts of 900-1,600 characters are kept,
  so that one abstract is one chunk (well under 512 tokens) for any T5 tokenizer; the locustfile
  joins several of them into a "long" text that must be cut into chunks.
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


def cochrane_items(folder: Path, count: int) -> list[dict[str, str]]:
    sources = (folder / "val.source").read_text().splitlines()
    targets = (folder / "val.target").read_text().splitlines()
    dois = (folder / "val.doi").read_text().splitlines()
    items = []
    for source, target, doi in zip(sources, targets, dois):
        if MEDIUM_CHARS[0] <= len(source) <= MEDIUM_CHARS[1]:
            items.append({"doi": doi, "abstract": source.strip(), "plain_summary": target.strip()})
        if len(items) == count:
            break
    return items


def demo_items(count: int) -> list[dict[str, str]]:
    from pls_core.demo_corpus import build_corpus

    pairs = build_corpus(0).heldout_combinations[:count]
    return [{"technical": technical, "plain": plain} for technical, plain in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cochrane", type=Path, default=DEFAULT_COCHRANE)
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args()
    PAYLOADS.mkdir(exist_ok=True)
    cochrane = cochrane_items(args.cochrane, args.count)
    (PAYLOADS / "cochrane.json").write_text(json.dumps(cochrane, indent=1, ensure_ascii=False) + "\n")
    shutil.copyfile(args.cochrane / "LICENSE.md", PAYLOADS / "LICENSE.md")
    (PAYLOADS / "demo.json").write_text(json.dumps(demo_items(16), indent=1) + "\n")
    print(f"wrote {len(cochrane)} abstracts and 16 demo sentences to {PAYLOADS}")


if __name__ == "__main__":
    main()
