"""Property-based tests (hypothesis): the text metrics take any text, and chunking keeps every word.

Written against the public contracts (`evaluation_metrics`, `text_figures`, `chunk_text`), not
the implementations, so they hold across rewrites of those modules.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pls_core.chunking import chunk_text
from pls_core.metrics import evaluation_metrics
from pls_core.readability import text_figures
from tests.support.samples import count_each, count_words, split_words

# Any Unicode (control, right-to-left, zero-width, surrogate-free), plus text that looks like
# abstracts, where sentence and abbreviation rules do their work.
MEDICAL_WORDS = ["Patients", "et", "al.", "vs.", "e.g.", "hypertension", "5.", "mg.", "(95%", "CI)",
                 "trial.", "Results:", "i.e.", "\u200b", "\u202e", "placebo?", "!", "x" * 40]
any_text = st.text(max_size=400)
abstract_like = st.lists(st.sampled_from(MEDICAL_WORDS) | st.text(min_size=1, max_size=12),
                         max_size=120).map(" ".join)
texts = any_text | abstract_like
CI = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCORES_0_1 = ("rouge1", "rouge2", "rougeL", "bleu", "sari")


@CI
@given(original=texts, generated=texts, reference=st.none() | texts)
def test_metrics_take_any_text_and_stay_in_bounds(original: str, generated: str, reference: str | None) -> None:
    result = evaluation_metrics(original, generated, reference)
    assert result["word_length"] >= 0 and result["original_word_length"] >= 0
    if result["compression_ratio"] is not None:
        assert result["compression_ratio"] >= 0 and result["original_word_length"] > 0
    for name in ("flesch_reading_ease", "flesch_kincaid_grade"):
        assert result[name] is None or math.isfinite(result[name])
    assert (result["flesch_reading_ease"] is None) == (result["word_length"] == 0)
    has_reference = reference is not None and reference.strip() != ""
    for name in SCORES_0_1:
        if has_reference:
            assert 0.0 <= result[name] <= 1.0, (name, result[name])
        else:
            assert result.get(name) is None


@CI
@given(text=texts)
def test_a_summary_identical_to_its_reference_scores_top_rouge(text: str) -> None:
    result = evaluation_metrics(text, text, text)
    if result["word_length"] > 0 and any(ch.isalnum() for ch in text):
        assert result["rouge1"] in (0.0, 1.0)  # 0.0 only where rouge's own tokenizer finds no token


@CI
@given(text=texts)
def test_classify_figures_take_any_text(text: str) -> None:
    figures = text_figures(text)
    assert figures["avg_word_length"] >= 0
    assert figures["technical_terms_count"] >= 0
    assert figures["flesch_reading_ease"] is None or math.isfinite(figures["flesch_reading_ease"])


# --- chunking, with a word-per-token stand-in for a tokenizer (tests/support/samples.py) ---


@CI
@given(text=texts, budget=st.integers(min_value=1, max_value=40))
def test_every_word_lands_in_exactly_one_chunk_in_order(text: str, budget: int) -> None:
    chunks = chunk_text(text, count_tokens=count_each, budget=budget, split_oversized=split_words)
    assert [word for chunk in chunks for word in chunk.split()] == text.split()


@CI
@given(text=texts, budget=st.integers(min_value=1, max_value=40))
def test_every_chunk_fits_the_budget_and_none_is_empty(text: str, budget: int) -> None:
    chunks = chunk_text(text, count_tokens=count_each, budget=budget, split_oversized=split_words)
    assert all(1 <= count_words(chunk) <= budget for chunk in chunks)


@CI
@given(text=texts)
def test_text_that_fits_is_one_chunk_or_none(text: str) -> None:
    chunks = chunk_text(text, count_tokens=count_each, budget=10_000, split_oversized=split_words)
    assert len(chunks) == (1 if text.split() else 0)
