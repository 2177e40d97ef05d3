"""pls_core.metrics.evaluation_metrics, the dict /evaluate and /generate-with-metrics answer with:
its fields, rounding and edge cases; and the metric modules stay free of BentoML and torch."""

from __future__ import annotations

import math
import subprocess
import sys

from pls_core.metrics import bleu, evaluation_metrics, sari

ORIGINAL = ("Patients with a myocardial infarction received beta-blockers, which reduced "
            "mortality. Adverse events were rare.")
GENERATED = "People who had a heart attack got a medicine. Fewer of them died."
REFERENCE_PLS = "People who had a heart attack were given a medicine. Fewer of them died."


def test_evaluation_metrics_without_reference():
    m = evaluation_metrics(ORIGINAL, GENERATED)
    assert set(m) == {"flesch_reading_ease", "flesch_kincaid_grade", "compression_ratio",
                      "word_length", "original_word_length"}
    # Words: punctuation is not counted, "beta-blockers" is one word.
    assert m["original_word_length"] == 14  # 10 + 4 words
    assert m["word_length"] == 13  # 9 + 4 words
    assert m["compression_ratio"] == round(13 / 14, 4) == 0.9286
    assert isinstance(m["word_length"], int)
    assert m["flesch_reading_ease"] > 60  # short words, short sentences
    assert m["flesch_kincaid_grade"] < 8


def test_evaluation_metrics_with_reference_has_all_scores_rounded():
    m = evaluation_metrics(ORIGINAL, GENERATED, REFERENCE_PLS)
    assert set(m) == {"flesch_reading_ease", "flesch_kincaid_grade", "compression_ratio",
                      "word_length", "original_word_length",
                      "rouge1", "rouge2", "rougeL", "bleu", "sari"}
    assert "meteor" not in m
    for key in ("rouge1", "rouge2", "rougeL", "bleu", "sari"):
        assert 0.0 < m[key] < 1.0, key
    for key, value in m.items():
        if isinstance(value, float):
            assert value == round(value, 4), key
    assert m["sari"] == round(sari(ORIGINAL, GENERATED, [REFERENCE_PLS]), 4)
    assert m["bleu"] == round(bleu(GENERATED, REFERENCE_PLS), 4)


def test_evaluation_metrics_identity_with_reference():
    m = evaluation_metrics(ORIGINAL, REFERENCE_PLS, REFERENCE_PLS)
    assert (m["rouge1"], m["rouge2"], m["rougeL"], m["bleu"], m["sari"]) == (1.0,) * 5


def test_evaluation_metrics_compression_ratio():
    m = evaluation_metrics("one two three four, five six seven eight.", "one two; three four!")
    assert (m["word_length"], m["original_word_length"], m["compression_ratio"]) == (4, 8, 0.5)
    longer = evaluation_metrics("a b", "a b c")
    assert longer["compression_ratio"] == 1.5


def test_evaluation_metrics_punctuation_only_generation_is_defined():
    m = evaluation_metrics(ORIGINAL, " ?! ... ", REFERENCE_PLS)
    assert m["word_length"] == 0
    assert m["compression_ratio"] == 0.0
    assert m["flesch_reading_ease"] is None and m["flesch_kincaid_grade"] is None
    assert (m["rouge1"], m["rouge2"], m["rougeL"]) == (0.0, 0.0, 0.0)
    # sacrebleu counts punctuation tokens, so the "." shared with the reference gives a
    # tiny, non-zero BLEU.
    assert 0.0 <= m["bleu"] < 0.05
    # SARI still rewards the deletions (a known property of SARI, hence BLEU/ROUGE too):
    # tokens of the prediction: ? ! . . .  -> unigrams {?, !, .}
    # n=1: I = 18 distinct source tokens ("." twice); of them only {a, were, .} are in the
    #   reference (w=1), so sum_I w = 3.
    #   ADD: A = {?, !}, none in R -> F_add = 0.
    #   KEEP: K = {.} (w=1) -> p = 1/1, r = 1/3, F = 2*(1/3)/(4/3) = 1/2.
    #   DEL: 17 deleted, 2 of them ({a, were}) kept by R -> P_del = 15/17.
    # n=2..4: no source n-gram is in the reference (all w=0) and the prediction keeps
    #   none: KEEP = 1 (both keep nothing), P_del = 1, F_add = 0 -> 2/3 each.
    # SARI = ((1/2 + 15/17)/3 + 3 * 2/3) / 4 = 0.61520 -> 0.6152
    expected = ((1 / 2 + 15 / 17) / 3 + 2) / 4
    assert m["sari"] == round(expected, 4) == 0.6152
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in m.values())


def test_evaluation_metrics_empty_inputs_and_blank_reference():
    m = evaluation_metrics("", "")
    assert m == {"flesch_reading_ease": None, "flesch_kincaid_grade": None,
                 "compression_ratio": None, "word_length": 0, "original_word_length": 0}
    # A blank reference counts as no reference.
    assert "sari" not in evaluation_metrics(ORIGINAL, GENERATED, "   ")
    # Odd characters do not crash.
    odd = evaluation_metrics("\u00e9t\u00e9 \u2014 \u2603 \x00", "\u2603\u2603", "\u00e9t\u00e9")
    assert odd["word_length"] == 0 and 0.0 <= odd["sari"] <= 1.0


def test_pls_core_metric_modules_do_not_import_bentoml_or_torch():
    code = ("import sys, pls_core.metrics, pls_core.readability; "
            "bad = [m for m in ('torch', 'bentoml') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
