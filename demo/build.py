"""Build small demo models in the layout the service expects, from scratch, on CPU.

    python scripts/models/make_demo_models.py [--out DIR] [--quick] [--seed N] [--corpus DIR] [--force]

Writes DIR/t5_base (a T5ForConditionalGeneration with its own sentencepiece-unigram tokenizer,
trained on a generated technical -> plain corpus, or on a real parallel corpus with --corpus)
and DIR/baseline_classifier (TF-IDF + logistic regression, technical = non_pls, plain = pls).

This module ties the steps together: the arguments, the build stamp, the build and its
metrics.json, the install into DIR. The steps live beside it: demo.corpus (the generated corpus),
demo.parallel_corpus (line files and the real sample), demo.tokenizer, demo.t5_training,
demo.calibration (the confidence threshold) and demo.classifier.

The build is deterministic for a given seed: a fixed number of training steps, seeded
initialisation and a seeded data order. A stamp in DIR records the sources and arguments of
the last build; when it matches and every file is in place nothing is redone (--force
rebuilds). Outputs are written to a temporary folder next to DIR and renamed into place at the
end, so an interrupted build never leaves a half-written model folder.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from demo import corpus as demo_corpus
from demo.calibration import CALIBRATION_TEXTS, calibrate_confidence, mean_logprobs, real_sentences
from demo.classifier import GENERATED_CLASSIFIER_PAIRS, generated_share, train_classifier
from demo.parallel_corpus import REAL_CORPUS_DIR, ROOT, UsageError, read_corpus_dir, real_pairs_split
from demo.t5_training import (
    CORPUS_FULL_STEPS,
    CORPUS_QUICK_STEPS,
    FULL,
    QUICK,
    encode_pairs,
    evaluate,
    make_model,
    train_model,
)
from demo.tokenizer import check_tokenizer, train_tokenizer
from pls_core import confidence
from pls_core.model_layout import (
    CLASSIFIER_DIRNAME,
    METRICS_FILE,
    SIMPLIFIER_DIRNAME,
    TASK_PREFIX,
    missing_classifier_files,
    missing_simplifier_files,
)

STAMP_NAME = ".demo_models_stamp.json"
STAMP_VERSION = 2
# Every source that shapes the models, hashed into the stamp: a change in any of them rebuilds.
# The demo modules this build uses (this one too), the pls_core modules they take the layout, the
# lexicon and the confidence from, and the serving backend with which the calibration scores
# (read as a file: importing it would load torch just to check the stamp).
STAMPED_MODULES = ("demo.corpus", "demo.parallel_corpus", "demo.tokenizer", "demo.t5_training",
                   "demo.calibration", "demo.classifier", "pls_core.lexicon", "pls_core.model_layout",
                   "pls_core.confidence", "pls_core.chunking")
STAMPED_FILES = (Path(__file__).resolve(), ROOT / "runners" / "transformers_backend.py")


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the demo T5 simplifier and PLS classifier into DIR/t5_base and "
        "DIR/baseline_classifier.")
    parser.add_argument("--out", default="models", metavar="DIR",
                        help="folder that receives t5_base/ and baseline_classifier/ (default: models)")
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast build for tests (about a minute)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--corpus", metavar="DIR",
                        help="train on a real parallel corpus: *.source / *.target line files in DIR")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="override the number of training steps")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    return parser.parse_args(argv)


def validate(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    if args.seed < 0:
        raise UsageError("--seed must be 0 or more")
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    return read_corpus_dir(Path(args.corpus)) if args.corpus else None


# ----------------------------------------------------------------------------- stamp


def stamped_sources() -> list[Path]:
    """The files whose bytes the stamp hashes, in a fixed order."""
    modules = [Path(importlib.import_module(name).__file__).resolve() for name in STAMPED_MODULES]
    return modules + list(STAMPED_FILES)


def build_stamp(args: argparse.Namespace, corpus_pairs: list[tuple[str, str]] | None) -> dict:
    digest = hashlib.sha256()
    for path in stamped_sources():
        digest.update(path.read_bytes())
    for name in ("val.source", "val.target"):
        path = REAL_CORPUS_DIR / name
        digest.update(path.read_bytes() if path.is_file() else b"absent")
    if corpus_pairs is not None:
        for src, tgt in corpus_pairs:
            digest.update(src.encode() + b"\0" + tgt.encode() + b"\n")
    versions = {}
    for package in ("torch", "transformers", "tokenizers", "sentencepiece", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "version": STAMP_VERSION,
        "sources_sha256": digest.hexdigest(),
        "arguments": {"quick": args.quick, "seed": args.seed, "steps": args.steps,
                      "corpus": str(Path(args.corpus).resolve()) if args.corpus else None},
        "packages": versions,
    }


def up_to_date(out: Path, stamp: dict) -> bool:
    try:
        previous = json.loads((out / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    simplifier, classifier = out / SIMPLIFIER_DIRNAME, out / CLASSIFIER_DIRNAME
    return (previous == stamp
            and not missing_simplifier_files(simplifier)
            and (simplifier / METRICS_FILE).is_file()
            and not missing_classifier_files(classifier))


# ----------------------------------------------------------------------------- build


def build(args: argparse.Namespace, corpus_pairs, work: Path) -> dict:
    import torch

    started = time.monotonic()
    # One thread: on a shared 2-core machine, two threads fighting other processes for the
    # cores ran 8x slower per step than one (measured); the result does not depend on it.
    torch.set_num_threads(1)
    random.seed(args.seed)
    recipe = QUICK if args.quick else FULL
    simplifier_dir, classifier_dir = work / SIMPLIFIER_DIRNAME, work / CLASSIFIER_DIRNAME

    if corpus_pairs is None:
        corpus = demo_corpus.build_corpus(
            args.seed, per_template=recipe.per_template, n_freeform=recipe.n_freeform,
            n_heldout_combinations=recipe.eval_combinations,
            n_heldout_templates=recipe.eval_templates, n_heldout_freeform=recipe.eval_freeform,
            max_terms_per_category=recipe.max_terms_per_category)
        train_pairs = corpus.train
        copy_pairs = corpus.train_freeform
        heldout = {"heldout_combinations": corpus.heldout_combinations,
                   "heldout_templates": corpus.heldout_templates,
                   "heldout_freeform": corpus.heldout_freeform}
        steps = args.steps or recipe.steps
        data_description = "generated demo corpus (demo.corpus)"
    else:
        shuffled = list(corpus_pairs)
        random.Random(args.seed).shuffle(shuffled)
        n_heldout = min(200, max(1, len(shuffled) // 10))
        heldout = {"heldout_split": shuffled[:n_heldout]}
        train_pairs = shuffled[n_heldout:]
        copy_pairs = []
        steps = args.steps or (CORPUS_QUICK_STEPS if args.quick else CORPUS_FULL_STEPS)
        data_description = f"parallel corpus {Path(args.corpus).resolve()}"
    print(f"data: {len(train_pairs)} training pairs; held out: "
          + ", ".join(f"{name} {len(pairs)}" for name, pairs in heldout.items()), flush=True)

    # The texts as the model sees them: every input carries the task prefix, so its words
    # become whole pieces instead of being spelled out letter by letter.
    tokenizer_texts = [text for src, tgt in train_pairs for text in (TASK_PREFIX + src, tgt)]
    tokenizer = train_tokenizer(tokenizer_texts, recipe.vocab_size, simplifier_dir, args.seed)
    # Exact round trips are checked on training texts: a held-out text may hold a character
    # the tokenizer never saw.
    check_sample = [text for src, tgt in train_pairs[:300] for text in (TASK_PREFIX + src, tgt)]
    check_tokenizer(tokenizer, simplifier_dir, check_sample)
    print(f"tokenizer: {len(tokenizer)} pieces, reload checked", flush=True)

    model = make_model(recipe, len(tokenizer), args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    encoded = encode_pairs(tokenizer, train_pairs)
    train_started = time.monotonic()
    copy_encoded = encode_pairs(tokenizer, copy_pairs) if copy_pairs else None
    final_loss = train_model(model, encoded, recipe, steps, args.seed, quiet=False,
                             copy_phase=copy_encoded)
    train_seconds = time.monotonic() - train_started
    model.save_pretrained(simplifier_dir, safe_serialization=True)

    print("evaluating held-out sets...", flush=True)
    evaluation = {name: evaluate(model, tokenizer, pairs) for name, pairs in heldout.items()}
    # With --corpus the user's own pairs already train the classifier.
    real_train, real_heldout = real_pairs_split() if corpus_pairs is None else ([], [])
    calibration = None
    if corpus_pairs is None and real_train:
        print("calibrating the confidence threshold...", flush=True)
        calibration = calibrate_confidence(
            simplifier_dir, [src for src, _ in heldout["heldout_combinations"][:CALIBRATION_TEXTS]],
            real_sentences(real_train, CALIBRATION_TEXTS))
        unseen = [confidence.chunk_confidence(lp) for lp in mean_logprobs(
            simplifier_dir, [src for src, _ in heldout["heldout_templates"][:CALIBRATION_TEXTS]])]
        calibration["unseen_templates_flagged"] = round(
            sum(c < calibration["threshold"] for c in unseen) / len(unseen), 4)
    # A share of the generated pairs: all of them drown the real registers (see
    # GENERATED_CLASSIFIER_PAIRS); a user's own --corpus pairs are all used.
    classifier_pairs = (generated_share(train_pairs, GENERATED_CLASSIFIER_PAIRS)
                        if corpus_pairs is None else train_pairs)
    classifier_metrics = train_classifier(
        classifier_pairs, [p for pairs in heldout.values() for p in pairs], real_train,
        real_heldout, classifier_dir, args.seed)

    metrics = {
        "model": "T5ForConditionalGeneration trained from scratch (demo)",
        "data": data_description,
        "quick": args.quick,
        "seed": args.seed,
        "parameters": parameters,
        "training_steps": steps,
        "copy_phase_steps": recipe.copy_phase_steps if copy_pairs else 0,
        "learning_rate": recipe.learning_rate,
        "batch_size": recipe.batch_size,
        "training_pairs": len(train_pairs),
        "final_train_loss": round(final_loss, 4),
        "train_seconds": round(train_seconds, 1),
        "decoding": "greedy with generation_config.json defaults (no_repeat_ngram_size=3)",
        **evaluation,
        "classifier_heldout_accuracy": classifier_metrics["heldout_accuracy"],
        "classifier_real_heldout_accuracy": classifier_metrics["real_heldout_accuracy"],
        "confidence": calibration,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (simplifier_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def install(work: Path, out: Path) -> None:
    """Move the freshly built folders from `work` into `out`, replacing older ones."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (SIMPLIFIER_DIRNAME, CLASSIFIER_DIRNAME):
        target = out / name
        if target.exists():
            target.rename(work / f"old-{name}")
        (work / name).rename(target)


def summary(metrics: dict) -> str:
    lines = [f"parameters {metrics['parameters']:,}, {metrics['training_steps']} steps, "
             f"final loss {metrics['final_train_loss']}, build {metrics['build_seconds']} s"]
    for name, value in metrics.items():
        if isinstance(value, dict) and "pairs" in value and value["pairs"]:
            lines.append(f"{name}: BLEU {value['bleu']}, exact {value['exact_match']}, "
                         f"term replacement {value['term_replacement']} ({value['terms']} terms)")
    if metrics.get("confidence"):
        c = metrics["confidence"]
        lines.append(f"confidence threshold {c['threshold']}: ROC AUC {c['roc_auc']}, flags "
                     f"{c['out_of_domain_flagged']:.0%} of real sentences, {c['in_domain_flagged']:.0%} of templates")
    lines.append(f"classifier held-out accuracy {metrics['classifier_heldout_accuracy']} "
                 f"(generated), {metrics['classifier_real_heldout_accuracy']} (real)")
    return "\n".join(lines)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        corpus_pairs = validate(args)
    except UsageError as error:
        print(f"make_demo_models: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    stamp = build_stamp(args, corpus_pairs)
    if not args.force and up_to_date(out, stamp):
        print(f"{out}: demo models are up to date (same sources and arguments); nothing to do. "
              "Use --force to rebuild.")
        return 0

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the temporary folder is removed.
    signal.signal(signal.SIGTERM, _terminate)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        metrics = build(args, corpus_pairs, work)
        (out / STAMP_NAME).unlink(missing_ok=True)
        install(work, out)
        (out / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
    except (KeyboardInterrupt, SystemExit):
        print("make_demo_models: interrupted; existing models left as they were", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(summary(metrics))
    print(f"wrote {out / SIMPLIFIER_DIRNAME} and {out / CLASSIFIER_DIRNAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
