#!/usr/bin/env python3
"""In-process throughput of the simplifier's backends, side by side in one run.

    python -m benchmarks.backends [--model t5-small-shape|demo] [--batches 1,4,8,16]
        [--beams 4] [--input-tokens 256] [--output-tokens 64] [--requests 32] [--threads 0]

Each backend is the one the service runs (runners/transformers' generate, runners/ct2_backend.py
at float32 and int8), fed the same texts at each batch size, with the output length forced
(min_new_tokens in the model's generation config) so every variant does the same work.
`t5-small-shape` is t5-small's architecture with random weights and the demo tokenizer.
Variants alternate per batch size, so machine noise (other processes) hits all of them alike;
the table gives req/s and the ratio to transformers one request at a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import DEMO_MODELS, REPO, build_t5_small_shape, force_output_length
from pls_core.model_layout import TASK_PREFIX
from pls_core.resources import torch_threads
from runners.ct2_backend import CT2_SUBDIR

COCHRANE = REPO.parent / "shared" / "data" / "cochrane" / "val.source"


def build_model(kind: str, out: Path, output_tokens: int) -> Path:
    demo = DEMO_MODELS / "t5_base"
    if kind == "t5-small-shape":
        build_t5_small_shape(demo, out)
    else:
        shutil.copytree(demo, out)
    force_output_length(out, output_tokens)  # equal work: no early EOS in any backend
    subprocess.run([sys.executable, "scripts/models/convert_ct2.py", str(out), str(out / CT2_SUBDIR)],
                   cwd=REPO, check=True, capture_output=True)
    return out


def input_texts(model_dir: Path, tokens: int, count: int = 32) -> list[str]:
    """`count` texts of `tokens` tokens each (prefix and EOS included), from real abstracts."""
    from transformers import AutoTokenizer

    from demo.corpus import build_corpus

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if COCHRANE.is_file():
        sources = COCHRANE.read_text().splitlines()
    else:  # ../shared absent: long runs of demo sentences instead
        sentences = [s for s, _ in build_corpus(0).heldout_freeform]
        sources = [" ".join(sentences[i:] + sentences[:i]) for i in range(count)]
    room = tokens - len(tokenizer(TASK_PREFIX).input_ids)
    texts = []
    for source in sources:
        ids = tokenizer(source, add_special_tokens=False).input_ids
        if len(ids) >= room:
            texts.append(tokenizer.decode(ids[:room]).strip())
        if len(texts) == count:
            break
    return texts


class TransformersGenerate:
    """transformers' generate as the transformers backend runs it (padded batch, fp32)."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()

    def generate(self, texts, max_new_tokens, num_beams):
        import torch

        encoded = self.tokenizer([TASK_PREFIX + t for t in texts], padding=True, return_tensors="pt")
        with torch.inference_mode():
            output = self.model.generate(**encoded, max_new_tokens=max_new_tokens, num_beams=num_beams,
                                         early_stopping=num_beams > 1)
        return [(row != self.tokenizer.pad_token_id).sum().item() for row in output[:, 1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    listed = lambda value: [int(v) for v in value.split(",")]  # noqa: E731
    parser.add_argument("--model", choices=("t5-small-shape", "demo"), default="t5-small-shape")
    parser.add_argument("--batches", type=listed, default=[1, 4, 8, 16])
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--input-tokens", type=int, default=256)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=32, help="texts per batch size and variant")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: CPU share)")
    parser.add_argument("--variants", default="transformers,ct2-float32,ct2-int8")
    parser.add_argument("--save-models", type=Path, metavar="DIR",
                        help="only write the model folders (t5_base/ + the demo classifier) into DIR, "
                             "for `scripts/models/import_models.py --models-dir DIR` and a load test")
    args = parser.parse_args()
    if args.save_models:
        build_model(args.model, args.save_models / "t5_base", args.output_tokens)
        shutil.rmtree(args.save_models / "t5_base" / CT2_SUBDIR)  # the importer converts
        shutil.copytree(DEMO_MODELS / "baseline_classifier", args.save_models / "baseline_classifier")
        print(f"wrote {args.save_models}")
        return

    import torch

    from runners.ct2_backend import CTranslate2Backend

    threads = torch_threads(args.threads, 1)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as scratch:
        model_dir = build_model(args.model, Path(scratch) / "model", args.output_tokens)
        texts = input_texts(model_dir, args.input_tokens, args.requests)
        engines = {}
        for name in args.variants.split(","):
            if name == "transformers":
                engines[name] = TransformersGenerate(model_dir)
            else:
                engines[name] = CTranslate2Backend(str(model_dir), "cpu", name.split("-", 1)[1], threads)
        results: dict[tuple[str, int], tuple[float, float]] = {}
        for batch in args.batches:
            for name, engine in engines.items():
                engine.generate(texts[:batch], args.output_tokens, args.beams)  # warm up
                started, tokens = time.perf_counter(), []
                for start in range(0, len(texts) - batch + 1, batch):
                    out = engine.generate(texts[start:start + batch], args.output_tokens, args.beams)
                    tokens += [o if isinstance(o, int) else o.tokens_output for o in out]
                done = len(tokens)
                results[name, batch] = (done / (time.perf_counter() - started), statistics.mean(tokens))
                print(f"{name:14s} batch {batch:3d}: {results[name, batch][0]:.2f} req/s, "
                      f"{results[name, batch][1]:.1f} tokens out", flush=True)
    base = results.get(("transformers", 1), (None,))[0]
    print(f"\n- model {args.model}, {len(texts)} inputs of {args.input_tokens} tokens, {args.output_tokens} out, "
          f"beams {args.beams}, {threads} threads, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| backend | " + " | ".join(f"batch {b}" for b in args.batches) + " |")
    print("|---|" + "---|" * len(args.batches))
    for name in engines:
        cells = []
        for batch in args.batches:
            rps = results[name, batch][0]
            cells.append(f"{rps:.2f}" + (f" ({rps / base:.1f}x)" if base else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
