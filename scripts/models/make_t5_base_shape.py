#!/usr/bin/env python3
"""A simplifier of T5-base's shape, with random seeded weights, in the demo models' layout.

    python scripts/models/make_t5_base_shape.py --out DIR [--seed 0]
    BENTOML_HOME=STORE python scripts/models/import_models.py --models-dir DIR

Writes DIR/t5_base (T5-base's architecture: 12 + 12 layers, d_model 768, d_ff 3072, 12 heads,
a vocabulary of 32,128 rows, about 223 M parameters, 0.9 GB in float32) with the demo model's
tokenizer, generation settings and calibration record, and DIR/baseline_classifier (the demo
classifier). Its summaries are nonsense; its cost per token is a real T5-base's, so capacity,
memory and cold-start figures measured with it are the ones a user's fine-tuned T5-base will show.
As in a real T5-base, the model's vocabulary is padded past the tokenizer's (32,128 rows against
the demo tokenizer's fewer tokens): the import and both backends must take that.
`--tiny` writes the same layout and vocabulary with 1 + 1 layers of width 64, for tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from pls_core.model_layout import CLASSIFIER_DIRNAME, SIMPLIFIER_DIRNAME

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models"
T5_BASE = {"d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12, "num_decoder_layers": 12, "num_heads": 12}
TINY = {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 4}
T5_VOCABULARY = 32_128  # t5-base's embedding rows: 32,100 tokens padded to a multiple of 128
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")


def build(out: Path, seed: int = 0, tiny: bool = False, demo: Path = DEMO) -> Path:
    """Write the two model folders into `out`; returns the simplifier's folder."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    source = demo / SIMPLIFIER_DIRNAME
    if not (source / "config.json").is_file():
        raise SystemExit(f"{source} is missing: build the demo models first (scripts/models/make_demo_models.py)")
    simplifier = out / SIMPLIFIER_DIRNAME
    shutil.copytree(source, simplifier, ignore=shutil.ignore_patterns(*WEIGHT_FILES, "ctranslate2"))
    demo_config = T5Config.from_pretrained(source)
    config = T5Config(vocab_size=T5_VOCABULARY, pad_token_id=demo_config.pad_token_id,
                      eos_token_id=demo_config.eos_token_id,
                      decoder_start_token_id=demo_config.decoder_start_token_id, **(TINY if tiny else T5_BASE))
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(simplifier, safe_serialization=True)
    shutil.copytree(demo / CLASSIFIER_DIRNAME, out / CLASSIFIER_DIRNAME)
    return simplifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write t5_base/ and baseline_classifier/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="the same layout with 1 + 1 narrow layers (tests)")
    args = parser.parse_args()
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"{args.out} is not an empty folder")
    # Built beside the target and moved in at the end: a failed build leaves nothing in --out.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".t5-base-shape-", dir=args.out.parent) as scratch:
        build(Path(scratch) / "models", args.seed, args.tiny)
        if args.out.exists():
            args.out.rmdir()
        os.replace(Path(scratch) / "models", args.out)
    simplifier = args.out / SIMPLIFIER_DIRNAME
    print(f"wrote {simplifier} and {args.out / CLASSIFIER_DIRNAME}; import them with "
          f"`python scripts/models/import_models.py --models-dir {args.out}`")


if __name__ == "__main__":
    main()
