"""Small inputs several test modules share: a word-per-token stand-in for a tokenizer, a small
lexicon, and where the real Cochrane abstracts lie when ../shared is beside the checkout."""

from __future__ import annotations

from tests.support.processes import REPO

# The real abstracts (CC BY 4.0, Devaraj et al. 2021); tests fall back to the demo corpus without them.
COCHRANE_SOURCE = REPO.parent / "shared" / "data" / "cochrane" / "val.source"

# A small lexicon for the term-matching rules: nested terms, abbreviations, apostrophes.
LEX = {
    "myocardial infarction": "heart attack",
    "infarction": "tissue death",
    "hypertension": "high blood pressure",
    "beta-blocker": "heart-slowing medicine",
    "congestive heart failure": "heart failure with fluid build-up",
    "heart failure": "weak heart",
    "ct": "scan",
    "crohn's disease": "a bowel disease",
    "c. difficile": "a gut germ",
}


# --- one token per word: chunking's rules without a real tokenizer -------------------------------

def count_words(text: str) -> int:
    return len(text.split())


def count_each(sentences: list[str]) -> list[int]:
    return [count_words(sentence) for sentence in sentences]


def split_words(sentence: str, budget: int) -> list[str]:
    words = sentence.split()
    return [" ".join(words[i:i + budget]) for i in range(0, len(words), budget)]
