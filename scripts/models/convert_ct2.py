"""Convert a T5 model folder to CTranslate2 for the simplifier's `ctranslate2` backend.

    python scripts/models/convert_ct2.py MODEL_DIR OUTPUT_DIR

scripts/models/import_models.py calls `convert_t5` while it writes the simplifier into the BentoML
store, so the conversion travels inside the model (and so in the bento and the image). Weights
are kept in float32: the service picks the compute type when it loads them (int8 on CPU,
float16 on CUDA, float32 for exact comparisons), and quantizing at load takes a fraction of a
second for a model of this size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The folder inside the simplifier's BentoML model that holds the conversion; the backend
# (runners/ct2_backend.py) reads the same name.
CT2_SUBDIR = "ctranslate2"


def convert_t5(model_dir: Path, output_dir: Path) -> Path:
    """Write the CTranslate2 model of the T5 in `model_dir` into `output_dir` (must not exist)."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    TransformersConverter(str(model_dir)).convert(str(output_dir), quantization=None)
    # Record what made it, for anyone looking inside the store.
    (output_dir / "conversion.json").write_text(json.dumps(
        {"ctranslate2": ctranslate2.__version__, "quantization": "float32", "source": "transformers"},
        indent=2,
    ))
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    args = parser.parse_args(argv)
    convert_t5(args.model_dir, args.output_dir)
    print(f"converted {args.model_dir} to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
