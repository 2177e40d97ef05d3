"""Split long text into chunks that each fit the simplifier's input budget.

Sentences are kept whole where they fit, packed greedily in order; a sentence too long for
any chunk is cut between words. `chunk_text` takes the token counter and the splitter as
arguments, so it is tested with a toy tokenizer; `Chunker` supplies both from the model's own
`tokenizer.json` through the `tokenizers` library (no torch, no transformers).

Work is linear in the text: each sentence is tokenized once, and a chunk's cost is the sum of
its sentences' costs. That sum is exact for SentencePiece tokenizers such as T5's, whose
pieces never span whitespace: "A. B." costs what "A." and "B." cost apart.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

from pls_core.model_layout import MAX_INPUT_TOKENS, TASK_PREFIX, TOKENIZER_FILE, max_input_tokens

# Abbreviations common in medical and scientific abstracts that end in a period but do not
# end a sentence ("e.g. aspirin", "Smith et al. reported", "vs. placebo").
_ABBREVIATIONS = {
    "al", "e.g", "i.e", "vs", "etc", "approx", "fig", "figs", "no", "dr", "mr", "mrs", "ms",
    "prof", "st", "ca", "cf", "resp", "incl", "min", "max", "mg", "ml", "kg", "wk", "wks",
    "yr", "yrs", "mo", "mos", "hr", "hrs", "vol", "ref", "refs", "est", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
# A candidate boundary: sentence-ending punctuation (optionally closed by a quote or bracket)
# followed by whitespace. Linear in the text: it starts only where a run of [.!?] starts (the
# look-behind) and never backtracks into the run or its closers (possessive quantifiers: giving
# characters back could never let whitespace follow). Without both, a run of 20,000 "!" with no
# space after it was tried from each of its characters and back: 4-5 s holding the interpreter
# lock. The matches are those of the old pattern, r"[.!?]+[\"')\]\u201d\u2019]*\s+" (tests).
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]++[\"')\]\u201d\u2019]*+\s+")
# The word (letters and inner periods) just before a period; looked for in a short window so
# that finding it costs the same wherever the period is.
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)$")
_LOOKBEHIND_CHARS = 16


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences, stripped, in order; no text is dropped or duplicated.

    The one sentence splitter of the project: chunking and the readability figures use it.
    """
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
    word = _WORD_BEFORE.search(text, max(0, punct_start - _LOOKBEHIND_CHARS), punct_start)
    if word and text[punct_start] == "." and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
        return True
    # "...was 5. the next": a sentence starts with an upper-case letter, digit, quote or bracket.
    following = text[next_start:next_start + 1]
    return bool(following) and following.islower()


def chunk_text(
    text: str,
    count_tokens: Callable[[list[str]], list[int]],
    budget: int,
    split_oversized: Callable[[str, int], list[str]],
) -> list[str]:
    """Pack the sentences of `text` into chunks of at most `budget` tokens, in order.

    `count_tokens(sentences)` is called with a list of bare sentences (no task prefix, no EOS)
    and returns the token cost of each, in order, all in one call: each sentence is counted
    once, and a chunk costs the sum of its sentences (`Chunker.sentence_costs`).
    `split_oversized(sentence, budget)` cuts one sentence that alone exceeds `budget` into
    pieces that each fit (`Chunker.split_oversized`). `budget` is what a chunk's text may
    cost (`Chunker.text_budget`: the model's input less the task prefix and EOS). Every
    sentence lands in exactly one chunk (or, when oversized, in consecutive pieces), and chunks
    keep the text's order.
    """
    if budget < 1:
        raise ValueError(f"token budget must be positive, got {budget}")
    sentences = split_sentences(text)
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for sentence, cost in zip(sentences, count_tokens(sentences)):
        if cost > budget:
            if current:
                chunks.append(" ".join(current))
                current, used = [], 0
            chunks.extend(_checked_pieces(sentence, budget, count_tokens, split_oversized))
            continue
        if current and used + cost > budget:
            chunks.append(" ".join(current))
            current, used = [], 0
        current.append(sentence)
        used += cost
    if current:
        chunks.append(" ".join(current))
    return chunks


def _checked_pieces(
    sentence: str,
    budget: int,
    count_tokens: Callable[[list[str]], list[int]],
    split_oversized: Callable[[str, int], list[str]],
) -> list[str]:
    pieces = [piece for piece in split_oversized(sentence, budget) if piece.strip()]
    if not pieces or any(cost > budget for cost in count_tokens(pieces)):
        raise ValueError("split_oversized returned a piece that does not fit the budget")
    return pieces


class Chunker:
    """Counts tokens and cuts text into chunks with the simplifier's own tokenizer.json."""

    def __init__(self, tokenizer_file: str | Path, model_max_length: int = MAX_INPUT_TOKENS) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.max_input_tokens = min(MAX_INPUT_TOKENS, model_max_length)
        self.prefix_tokens = len(self._encode(TASK_PREFIX).ids)
        # What each chunk leaves for its text: the task prefix and EOS come with every chunk.
        self.text_budget = self.max_input_tokens - self.prefix_tokens - 1
        if self.text_budget < 1:
            raise ValueError("the task prefix leaves no room for text")

    @classmethod
    def from_model_folder(cls, folder: str | Path) -> Chunker:
        """The chunker of a simplifier model folder (tokenizer.json, tokenizer_config.json)."""
        folder = Path(folder)
        tokenizer_file = folder / TOKENIZER_FILE
        if not tokenizer_file.is_file():
            raise FileNotFoundError(
                f"{tokenizer_file} is missing: import the model again with "
                "`python scripts/models/import_models.py`, which writes it from spiece.model")
        max_length = max_input_tokens(folder)
        return cls(tokenizer_file, max_length)

    def _encode(self, text: str):
        return self.tokenizer.encode(text, add_special_tokens=False)

    def count_input_tokens(self, text: str) -> int:
        """Tokens the model reads for `text` as one chunk: task prefix + text + EOS."""
        return len(self.tokenizer.encode(TASK_PREFIX + text).ids)

    def sentence_costs(self, sentences: list[str]) -> list[int]:
        """Tokens each sentence costs inside a chunk (no prefix, no EOS), in one batch call."""
        return [len(enc.ids) for enc in self.tokenizer.encode_batch(sentences, add_special_tokens=False)]

    def split_oversized(self, sentence: str, budget: int) -> list[str]:
        """Cut one sentence into pieces of at most `budget` tokens, each cut where a word
        starts, slicing the original string (so no word is broken and no `<unk>` appears).
        Only a single word longer than `budget` is cut inside, at a token boundary."""
        encoding = self._encode(sentence)
        offsets, word_ids, total = encoding.offsets, encoding.word_ids, len(encoding.ids)
        word_starts = [i for i in range(total) if i == 0 or word_ids[i] != word_ids[i - 1]]
        pieces: list[str] = []
        begin = 0
        while begin < total:
            end = min(begin + budget, total)
            if end < total:
                # The last word start within reach; none means one word longer than the budget.
                last = word_starts[bisect_right(word_starts, end) - 1]
                if last > begin:
                    end = last
            while True:
                stop = offsets[end][0] if end < total else len(sentence)
                piece = sentence[offsets[begin][0]:stop].strip()
                # A cut inside a word can re-tokenize one token longer: shrink until it fits.
                if end - begin <= 1 or self.sentence_costs([piece])[0] <= budget:
                    break
                end -= 1
            if piece:
                pieces.append(piece)
            begin = end
        return pieces

    def chunks(self, text: str) -> list[str]:
        """`text` as chunks that each fit the model's input with the task prefix and EOS."""
        return chunk_text(text, self.sentence_costs, self.text_budget, self.split_oversized)
