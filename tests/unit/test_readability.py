"""Tests of pls_core.readability: technical-term counting, Flesch figures, reasoning."""

from __future__ import annotations

import math

import pytest

from pls_core.readability import (
    avg_word_length,
    classification_reasoning,
    count_technical_terms,
    reading_ease_band,
    sentence_count,
    text_figures,
    word_count,
)
from tests.support.samples import COCHRANE_SOURCE, LEX

# -------------------------------------------------------------------- term counting
# The matching rule itself is tested in tests/unit/test_lexicon.py (pls_core.lexicon.find_terms).


def test_term_count_uses_the_passed_lexicon_or_the_project_one():
    assert count_technical_terms("She had a myocardial infarction; a second INFARCTION followed.", LEX) == 2
    assert count_technical_terms("a beta-blocker or a beta blocker", LEX) == 2
    assert count_technical_terms("a beta-blocker or a beta blocker") == 0  # not a project term
    assert count_technical_terms("Acute myocardial infarction, hypertension.") == 3
    assert count_technical_terms("", LEX) == 0


# --------------------------------------------------------------- words and sentences


def test_word_and_sentence_counts():
    assert word_count("COVID-19 can't stop us, right?") == 5
    assert word_count(" ... !? -- ") == 0
    assert sentence_count("Hello there. Is it? Yes!") == 3
    assert sentence_count("No terminator at all") == 1
    # Decimals and thousands separators neither split words nor end sentences.
    assert word_count("The risk fell from 0.82 to 1,000.5 units.") == 8
    assert sentence_count("The dose was 2.5 mg (p < 0.05). It worked.") == 2
    assert sentence_count('He said "stop." Then he left!') == 2
    assert sentence_count("...") == 0
    assert sentence_count("") == 0


def test_avg_word_length_counts_letters_only():
    # "COVID-19" -> 7 letters/digits, "can't" -> 4: (7 + 4)/2 = 5.5
    assert avg_word_length("COVID-19 can't.") == 5.5
    assert avg_word_length("?!") == 0.0


# ------------------------------------------------------------------------- figures


def test_text_figures_hand_computed():
    # 6 one-syllable words, 2 sentences -> 3 words/sentence, 1 syllable/word.
    # FRE  = 206.835 - 1.015*3 - 84.6*1 = 119.19
    # FKGL = 0.39*3 + 11.8*1 - 15.59 = -2.62
    figures = text_figures("The cat sat. The dog ran.", LEX)
    assert figures == {
        "flesch_reading_ease": 119.19,
        "flesch_kincaid_grade": -2.62,
        "avg_word_length": 3.0,
        "technical_terms_count": 0,
    }


def test_text_figures_technical_text_is_harder_than_plain_text():
    technical = text_figures(
        "Administration of beta-blocker therapy following myocardial infarction "
        "significantly reduced cardiovascular mortality in hypertensive populations.", LEX)
    plain = text_figures("After a heart attack, a pill that slows the heart helped people live.",
                         LEX)
    assert technical["technical_terms_count"] == 2
    assert plain["technical_terms_count"] == 0
    assert technical["flesch_reading_ease"] < plain["flesch_reading_ease"]
    assert technical["flesch_kincaid_grade"] > plain["flesch_kincaid_grade"]
    assert technical["avg_word_length"] > plain["avg_word_length"]


def test_text_figures_of_punctuation_only_text():
    assert text_figures("?!... --", LEX) == {
        "flesch_reading_ease": None,
        "flesch_kincaid_grade": None,
        "avg_word_length": 0.0,
        "technical_terms_count": 0,
    }


@pytest.mark.parametrize("score, band", [
    (95, "very easy"), (90, "very easy"), (85, "easy"), (72, "fairly easy"),
    (68.2, "standard"), (55, "fairly difficult"), (40, "difficult"), (12, "very difficult"),
    (-20, "very difficult"), (None, "not measurable"),
])
def test_reading_ease_band(score, band):
    assert reading_ease_band(score) == band


# ----------------------------------------------------------------------- reasoning


def test_reasoning_for_a_plain_language_verdict():
    figures = {"flesch_reading_ease": 68.24, "flesch_kincaid_grade": 7.91,
               "avg_word_length": 4.56, "technical_terms_count": 1}
    text = classification_reasoning(True, 0.82, figures)
    assert text.startswith("Judged plain language (82% confidence)")
    for piece in ("68.2", "(standard)", "7.9", "4.6", "1 technical term."):
        assert piece in text, piece
    assert "not plain" not in text


def test_reasoning_for_a_technical_verdict_pluralises():
    figures = {"flesch_reading_ease": 21.5, "flesch_kincaid_grade": 16.04,
               "avg_word_length": 6.1, "technical_terms_count": 3}
    text = classification_reasoning(False, 0.975, figures)
    assert "not plain language" in text
    assert "98% confidence" in text
    for piece in ("21.5", "very difficult", "16.0", "3 technical terms"):
        assert piece in text, piece


def test_reasoning_from_real_figures_and_missing_values():
    figures = text_figures("?!", LEX)
    text = classification_reasoning(False, 0.5, figures)
    assert "n/a" in text and "0 technical terms" in text and "50% confidence" in text
    assert classification_reasoning(True, 1.0, {}).startswith("Judged plain language (100%")


@pytest.mark.parametrize("bad", [-0.01, 1.01, 82, math.nan, math.inf, "high", None])
def test_reasoning_rejects_confidence_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"confidence must be a number in \[0, 1\]"):
        classification_reasoning(True, bad, {"technical_terms_count": 0})


# ------------------------------------------------- syllables and sentences (issue 15 item 4)


from pls_core.chunking import split_sentences  # noqa: E402
from pls_core.readability import (  # noqa: E402
    fallback_rule_agreement,
    load_syllable_dictionary,
    rule_syllables,
    word_syllables,
)


@pytest.mark.parametrize("word, syllables", [
    # Counts from the CMU pronouncing dictionary; pyphen gave 1, 1, 2, 2 for the first four.
    ("area", 3), ("idea", 3), ("placebo", 3), ("variable", 4),
    ("patients", 2), ("randomized", 3), ("cardiovascular", 6), ("the", 1),
])
def test_syllables_of_common_words_are_the_dictionary_counts(word, syllables):
    assert load_syllable_dictionary()[word] == syllables
    assert word_syllables(word) == syllables


@pytest.mark.parametrize("word, syllables", [
    # Not in the dictionary: British spellings and compounds fall back to the rule, per part.
    ("randomised", 3), ("haemoglobin", 4), ("beta-blocker", 4), ("COVID-19", 3),
])
def test_words_missing_from_the_dictionary_use_the_rule(word, syllables):
    assert word_syllables(word) == syllables


def test_rule_alone_on_words_it_was_not_tuned_for():
    words = ("rate", "wanted", "used", "doses", "trial", "ratio", "table")
    assert [rule_syllables(w) for w in words] == [1, 2, 1, 2, 2, 3, 2]


def test_fallback_rule_agrees_with_the_dictionary_on_most_words():
    compared, exact, mean_error = fallback_rule_agreement()
    assert compared > 100_000
    assert exact > 0.85 and mean_error < 0.2


def test_abbreviations_do_not_end_sentences_for_readability_either():
    text = "Smith et al. compared drug A vs. placebo, e.g. in adults. It worked."
    assert sentence_count(text) == 2 == len(split_sentences(text))


def test_readability_counts_sentences_as_the_chunker_splits_them():
    if COCHRANE_SOURCE.is_file():
        texts = COCHRANE_SOURCE.read_text().splitlines()
    else:  # ../shared absent: abstract-like text written here
        texts = ["Trials (Jones et al. 2019; n = 40) compared drug A vs. placebo. Outcomes, e.g. mortality, "
                 "fell (RR 0.8, 95% CI 0.6 to 0.9). Further trials are needed. Is it safe? Yes."] * 3
    for text in texts:
        assert sentence_count(text) == len([s for s in split_sentences(text) if word_count(s)])


# ------------------------------------------------------ the syllable cache's bytes (issue 25, finding 4)

import tracemalloc  # noqa: E402

from pls_core.readability import CACHED_WORD_CHARS, CACHED_WORDS, flesch_scores  # noqa: E402

ASTRAL_A = 0x1D41A  # MATHEMATICAL BOLD SMALL A: a letter (a word character) of four bytes


def _astral_word(index: int, length: int) -> str:
    """A distinct word of `length` astral-plane letters for each `index` (base 26 in its head)."""
    head = []
    for _ in range(4):
        index, digit = divmod(index, 26)
        head.append(chr(ASTRAL_A + digit))
    return "".join(head) + chr(ASTRAL_A) * (length - 4)


def _kept_bytes(words) -> int:
    """Bytes still allocated after counting the syllables of every word (built one at a time,
    so only what the cache keeps is left)."""
    load_syllable_dictionary()  # loaded once for good: not the cache's
    word_syllables.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for word in words:
            word_syllables(word)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_huge_words_are_counted_but_not_cached():
    """Before: every word was kept, 80 KB for a 20,000-letter astral word; 50,000 of them ~4 GB."""
    assert word_syllables(_astral_word(0, 20_000)) == 1
    kept = _kept_bytes(_astral_word(i, 20_000) for i in range(100))  # 8 MB if kept
    assert kept < 2**20, f"the cache kept {kept / 2**20:.1f} MiB for 100 huge words"
    assert word_syllables.cache_info().currsize == 0
    # Through the public path too: one 20,000-character word in a text.
    word_syllables.cache_clear()
    assert flesch_scores(_astral_word(7, 20_000)) is not None
    assert word_syllables.cache_info().currsize == 0


def test_the_cache_is_bounded_in_bytes_and_keeps_normal_words():
    # The worst case: the cache full of the longest words it keeps, all astral.
    kept = _kept_bytes(_astral_word(i, CACHED_WORD_CHARS) for i in range(CACHED_WORDS + 5_000))
    assert word_syllables.cache_info().currsize == CACHED_WORDS
    assert kept < 16 * 2**20, f"a full cache kept {kept / 2**20:.1f} MiB"
    # Real words are cached: the second text is all hits.
    word_syllables.cache_clear()
    text = "Patients randomised to beta-blockers had fewer heart attacks than those given placebo."
    flesch_scores(text)
    misses = word_syllables.cache_info().misses
    flesch_scores(text)
    info = word_syllables.cache_info()
    assert info.misses == misses and info.hits >= 12 and info.currsize == misses
