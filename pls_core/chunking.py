"""Split long text into chunks that each fit the simplifier's input budget.

Sentences are kept whole where they fit, packed greedily in order; a sentence too long for
any chunk is cut at token level by a caller-supplied splitter. The token counter is passed in
so this module needs no tokenizer and is tested with a toy one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Abbreviations common in medical and scientific abstracts that end in a period but do not
# end a sentence ("e.g. aspirin", "Smith et al. reported", "vs. placebo").
_ABBREVIATIONS = {
    "al", "e.g", "i.e", "vs", "etc", "approx", "fig", "figs", "no", "dr", "mr", "mrs", "ms",
    "prof", "st", "ca", "cf", "resp", "incl", "min", "max", "mg", "ml", "kg", "wk", "wks",
    "yr", "yrs", "mo", "mos", "hr", "hrs", "vol", "ref", "refs", "approx", "est", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
# A candidate boundary: sentence-ending punctuation (optionally closed by a quote or bracket)
# followed by whitespace.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences, stripped, in order; no text is dropped or duplicated."""
    text = text.strip()
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if _is_false_boundary(text, match.start(), end):
            continue
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_false_boundary(text: str, punct_start: int, next_start: int) -> bool:
    # "et al. reported": the word before the period is a known abbreviation.
    word = re.search(r"([A-Za-z.]+)$", text[:punct_start])
    if word and text[punct_start] == "." and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
        return True
    # "...was 5. the next": a sentence starts with an upper-case letter, digit, quote or bracket.
    following = text[next_start:next_start + 1]
    return bool(following) and following.islower()


def chunk_text(
    text: str,
    count_tokens: Callable[[str], int],
    budget: int,
    split_oversized: Callable[[str, int], list[str]],
) -> list[str]:
    """Pack the sentences of `text` into chunks of at most `budget` tokens, in order.

    `count_tokens(s)` is the number of tokens `s` costs (without prefix or EOS);
    `split_oversized(sentence, budget)` cuts one sentence that alone exceeds `budget` into
    pieces that each fit. Every sentence lands in exactly one chunk (or, when oversized, in
    consecutive pieces), and chunks keep the text's order.
    """
    if budget < 1:
        raise ValueError(f"token budget must be positive, got {budget}")
    chunks: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        if count_tokens(sentence) > budget:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_checked_pieces(sentence, budget, count_tokens, split_oversized))
            continue
        candidate = f"{current} {sentence}" if current else sentence
        if count_tokens(candidate) <= budget:
            current = candidate
        else:
            chunks.append(current)
            current = sentence
    if current:
        chunks.append(current)
    return chunks


def _checked_pieces(
    sentence: str,
    budget: int,
    count_tokens: Callable[[str], int],
    split_oversized: Callable[[str, int], list[str]],
) -> list[str]:
    pieces = [piece for piece in split_oversized(sentence, budget) if piece.strip()]
    too_long = [piece for piece in pieces if count_tokens(piece) > budget]
    if not pieces or too_long:
        raise ValueError("split_oversized returned a piece that does not fit the budget")
    return pieces
