"""The demo model build (scripts/models/make_demo_models.py): what the session's one full build
wrote (the `demo_models` fixture, which the test command makes before pytest starts), checked with
the same libraries the service uses; a second run that does nothing; and a quick build on a
corpus of line files (which is also what --quick alone exercises)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from demo import classifier as demo_classifier
from demo import corpus as demo_corpus
from demo.parallel_corpus import real_pairs_split
from pls_core.lexicon import find_terms
from pls_core.model_layout import (
    CLASSIFIER_DIRNAME,
    LABEL_PLAIN,
    LABEL_TECHNICAL,
    MAX_INPUT_TOKENS,
    SIMPLIFIER_DIRNAME,
    TASK_PREFIX,
    missing_classifier_files,
    missing_simplifier_files,
)
from tests.support.processes import REPO

ROOT = REPO
SCRIPT = ROOT / "scripts" / "models" / "make_demo_models.py"


def run_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


# ----------------------------------------------------------------------------- the full build


def test_build_writes_every_required_file(demo_models):
    assert missing_simplifier_files(demo_models / SIMPLIFIER_DIRNAME) == []
    assert missing_classifier_files(demo_models / CLASSIFIER_DIRNAME) == []
    assert (demo_models / SIMPLIFIER_DIRNAME / "metrics.json").is_file()
    # The temporary build folder next to DIR is gone.
    assert not [p for p in demo_models.parent.iterdir() if p.name.startswith(".models.")]


def test_metrics_are_recorded(demo_models):
    metrics = json.loads((demo_models / SIMPLIFIER_DIRNAME / "metrics.json").read_text())
    for key in ("parameters", "training_steps", "seed", "build_seconds", "heldout_combinations",
                "heldout_templates"):
        assert key in metrics
    assert metrics["seed"] == 0 and metrics["quick"] is False
    assert 0 <= metrics["heldout_combinations"]["bleu"] <= 100
    classifier = json.loads((demo_models / CLASSIFIER_DIRNAME / "metrics.json").read_text())
    assert classifier["heldout_accuracy"] >= 0.9


@pytest.fixture(scope="module")
def simplifier(demo_models):
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    folder = demo_models / SIMPLIFIER_DIRNAME
    return AutoTokenizer.from_pretrained(folder), T5ForConditionalGeneration.from_pretrained(folder)


def test_tokenizer_reloads_and_round_trips(simplifier, demo_models):
    tokenizer, _ = simplifier
    assert tokenizer.model_max_length == MAX_INPUT_TOKENS
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
    text = "Patients with hypertension were administered an analgesic orally (n = 12; ≥ 5 µg)."
    ids = tokenizer(TASK_PREFIX + text).input_ids
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == TASK_PREFIX + text
    config = json.loads((demo_models / SIMPLIFIER_DIRNAME / "generation_config.json").read_text())
    assert config["no_repeat_ngram_size"] == 3
    assert config["max_length"] >= 64


def test_greedy_generation_replaces_common_terms(simplifier):
    """The demo model replaces the commonest terms in the training templates' sentence shapes."""
    tokenizer, model = simplifier
    sentences = [
        "Patients with hypertension were administered an analgesic orally.",
        "Hypertension was exacerbated by myocardial infarction.",
        "The patient presented with pyrexia and dyspnea.",
        "Take the analgesic orally twice a day.",
        "Symptoms include dyspnea, pyrexia and edema.",
        "Is an anticoagulant safe for people with hypertension?",
    ]
    encoded = tokenizer([TASK_PREFIX + s for s in sentences], return_tensors="pt", padding=True)
    outputs = tokenizer.batch_decode(model.generate(**encoded, max_new_tokens=48),
                                     skip_special_tokens=True)
    assert "high blood pressure" in outputs[0].lower(), outputs
    replaced, total = demo_corpus.term_replacement([(s, "") for s in sentences], outputs)
    assert replaced / total >= 0.6, list(zip(sentences, outputs))
    # Technical terms are gone from most outputs.
    assert sum(bool(find_terms(out)) for out in outputs) <= 2, outputs


def test_classifier_predicts_register(demo_models):
    import joblib

    folder = demo_models / CLASSIFIER_DIRNAME
    classifier = joblib.load(folder / "classifier.pkl")
    vectorizer = joblib.load(folder / "vectorizer.pkl")
    assert list(classifier.classes_) == [LABEL_TECHNICAL, LABEL_PLAIN]
    texts = ["The patient presented with dyspnea, pyrexia and tachycardia after myocardial infarction.",
             "The patient came in with shortness of breath, fever and a fast heartbeat after a heart attack."]
    assert list(classifier.predict(vectorizer.transform(texts))) == [LABEL_TECHNICAL, LABEL_PLAIN]


def test_second_run_is_skipped_as_up_to_date(demo_models):
    started = time.monotonic()
    result = run_script("--out", str(demo_models))
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert time.monotonic() - started < 30
    # Other arguments do not count as up to date.
    stamp = json.loads((demo_models / ".demo_models_stamp.json").read_text())
    assert stamp["arguments"]["quick"] is False and stamp["arguments"]["seed"] == 0


# ----------------------------------------------------------------------------- --corpus, errors


def test_corpus_option_trains_on_line_files(tmp_path):
    pairs = demo_corpus.build_corpus(1, per_template=2, n_freeform=20).train[:60]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.source").write_text("\n".join(src for src, _ in pairs) + "\n")
    (data / "train.target").write_text("\n".join(tgt for _, tgt in pairs) + "\n")
    out = tmp_path / "models"
    result = run_script("--out", str(out), "--quick", "--corpus", str(data), "--steps", "10")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert missing_simplifier_files(out / SIMPLIFIER_DIRNAME) == []
    assert missing_classifier_files(out / CLASSIFIER_DIRNAME) == []
    metrics = json.loads((out / SIMPLIFIER_DIRNAME / "metrics.json").read_text())
    assert metrics["training_steps"] == 10
    assert metrics["heldout_split"]["pairs"] == 6
    assert "bleu" in metrics["heldout_split"]
    assert "heldout_accuracy" in json.loads((out / CLASSIFIER_DIRNAME / "metrics.json").read_text())


def test_classifier_judges_held_out_real_text(demo_models):
    """The full demo classifier on real abstracts vs their real summaries it never saw."""
    import joblib

    folder = demo_models / CLASSIFIER_DIRNAME
    classifier = joblib.load(folder / "classifier.pkl")
    vectorizer = joblib.load(folder / "vectorizer.pkl")
    _, heldout = real_pairs_split()
    real_accuracy = demo_classifier.classifier_accuracy(classifier, vectorizer, heldout)
    # The target. Measured 0.91 on this split (the build is deterministic); settings
    # chosen by cross-validation over the training pairs (demo/classifier_variants.py). Before:
    # 0.885 (all generated pairs, word n-grams), 0.56-0.59 (generated corpus only).
    assert real_accuracy >= 0.90
    corpus = demo_corpus.build_corpus(0, per_template=150, n_freeform=6000)
    generated = corpus.heldout_combinations + corpus.heldout_templates + corpus.heldout_freeform
    assert demo_classifier.classifier_accuracy(classifier, vectorizer, generated) >= 0.95
    recorded = json.loads((folder / "metrics.json").read_text())
    assert recorded["real_heldout_accuracy"] == real_accuracy
    assert recorded["real_heldout_texts"] == 2 * len(heldout)
    assert recorded["heldout_accuracy"] >= 0.95
