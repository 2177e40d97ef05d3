#!/usr/bin/env python3
"""Peak memory of the simplifier's generation, one padded batch vs memory sub-batches.

    python -m benchmarks.generation_memory [--jobs 16] [--tokens 512] [--beams 10] [--new-tokens 8]

Builds a T5 with t5-base's shape (random weights: memory depends on the shape, not the
values) and the demo model's tokenizer, then runs `runners.simplifier.simplify_jobs` on
`--jobs` chunks of `--tokens` input tokens in a fresh process per variant: the whole group in
one `generate` (the budget set out of reach, as before sub-batching) and the default
PLS_GENERATION_TOKEN_BUDGET. Prints peak RSS (the process's ru_maxrss) and time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_model(folder: Path) -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    # t5-base: 12+12 layers, d_model 768, 12 heads, d_ff 3072, vocabulary 32128.
    config = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                      num_decoder_layers=12, num_heads=12, decoder_start_token_id=0,
                      eos_token_id=1, pad_token_id=0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model"):
        source = REPO / "models" / "t5_base" / name
        if source.is_file():
            shutil.copy(source, folder / name)


def measure(folder: str, jobs: int, tokens: int, beams: int, new_tokens: int, budget: int) -> dict:
    """Run in a child process: one variant, so ru_maxrss is this variant's own peak."""
    import torch

    from pls_core.schemas import SimplifyJob
    from runners.simplifier import memory_sub_batches, simplify_jobs
    from runners.transformers_backend import TransformersBackend

    torch.manual_seed(0)
    backend = TransformersBackend(folder, "cpu")
    words = ["patients", "myocardial", "infarction", "randomised", "placebo", "outcome"]
    text = " ".join(words[i % len(words)] for i in range(tokens))
    ids = backend.tokenizer(text).input_ids
    while len(ids) > tokens - 12:  # task prefix + EOS included, about `tokens` in all
        text = text.rsplit(" ", 8)[0]
        ids = backend.tokenizer(text).input_ids
    batch = [SimplifyJob(text=text, max_new_tokens=new_tokens, num_beams=beams) for _ in range(jobs)]
    lengths = backend.input_lengths([job.text for job in batch])
    generates = len(memory_sub_batches(lengths, new_tokens, beams, budget))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    results = simplify_jobs(backend, batch, budget)
    elapsed = time.perf_counter() - started
    assert not any(result.error for result in results), results[0].error
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"loaded_mb": before / 1024, "peak_mb": peak / 1024, "seconds": elapsed,
            "generates": generates, "input_tokens": lengths[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--beams", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, budget = args.child.rsplit(",", 1)
        print(json.dumps(measure(folder, args.jobs, args.tokens, args.beams, args.new_tokens, int(budget))))
        return 0

    from pls_core.config import load_config

    default_budget = load_config({}).generation_token_budget
    variants = {"one generate (before)": 10**12, f"sub-batches, budget {default_budget}": default_budget}
    with tempfile.TemporaryDirectory() as folder:
        make_model(Path(folder))
        rows = {}
        for name, budget in variants.items():
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.generation_memory", "--jobs", str(args.jobs),
                 "--tokens", str(args.tokens), "--beams", str(args.beams), "--new-tokens", str(args.new_tokens),
                 "--child", f"{folder},{budget}"],
                capture_output=True, text=True, cwd=REPO, check=True)
            rows[name] = json.loads(child.stdout.strip().splitlines()[-1])
            print(name, rows[name], flush=True)  # a long run still shows what it has
    print(f"t5-base shape, {args.jobs} chunks x {args.tokens} input tokens, num_beams={args.beams}, "
          f"max_new_tokens={args.new_tokens}")
    print("| variant | generate calls | model loaded | peak RSS | time |\n|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['generates']} | {row['loaded_mb']:.0f} MB | {row['peak_mb']:.0f} MB "
              f"| {row['seconds']:.1f} s |")
    first, second = rows.values()
    print(f"peak RSS ratio (sub-batches / one generate): {second['peak_mb'] / first['peak_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
