"""Chunking: every sentence lands in exactly one chunk, in order, and every chunk fits."""

import random

import pytest

from pls_core.chunking import chunk_text, split_sentences


def count_words(text: str) -> int:
    return len(text.split())


def split_words(sentence: str, budget: int) -> list[str]:
    words = sentence.split()
    return [" ".join(words[i:i + budget]) for i in range(0, len(words), budget)]


def test_split_sentences_keeps_abbreviations_decimals_and_order():
    text = ("Smith et al. enrolled 1.5 times more patients, e.g. adults. Mortality fell (RR 0.8). "
            "Was it real? Yes!  The trial ended.")
    assert split_sentences(text) == [
        "Smith et al. enrolled 1.5 times more patients, e.g. adults.",
        "Mortality fell (RR 0.8).",
        "Was it real?",
        "Yes!",
        "The trial ended.",
    ]


def test_split_sentences_of_blank_text_is_empty():
    assert split_sentences("   \n ") == []


def test_split_sentences_loses_no_characters():
    text = "A b c. D e f! G h? I j. K"
    assert "".join(split_sentences(text)).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("seed", range(20))
def test_chunks_fit_budget_and_keep_every_sentence_once_in_order(seed):
    rng = random.Random(seed)
    sentences = [
        " ".join(f"W{seed}x{i}y{j}" for j in range(rng.randint(1, 30))) + "."
        for i in range(rng.randint(1, 40))
    ]
    budget = rng.randint(8, 60)
    chunks = chunk_text(" ".join(sentences), count_words, budget, split_words)

    assert all(count_words(chunk) <= budget for chunk in chunks)
    # Re-joining the chunks gives back the text word for word: nothing lost, moved or repeated.
    assert " ".join(chunks).split() == " ".join(sentences).split()
    # A sentence that fits the budget is never cut across chunks.
    for sentence in sentences:
        if count_words(sentence) <= budget:
            assert sum(sentence in chunk for chunk in chunks) == 1


def test_short_text_is_one_chunk():
    assert chunk_text("One short sentence. Another one.", count_words, 50, split_words) == [
        "One short sentence. Another one."
    ]


def test_oversized_sentence_is_split_at_token_level():
    long_sentence = " ".join(f"T{i}" for i in range(25)) + "."
    chunks = chunk_text(f"Before it. {long_sentence} After it.", count_words, 10, split_words)
    assert chunks[0] == "Before it."
    assert chunks[-1] == "After it."
    assert " ".join(chunks[1:-1]).split() == long_sentence.split()
    assert all(count_words(chunk) <= 10 for chunk in chunks)


def test_a_splitter_that_breaks_the_budget_is_caught():
    with pytest.raises(ValueError, match="does not fit"):
        chunk_text("a b c d e f g h.", count_words, 3, lambda s, b: [s])


def test_budget_must_be_positive():
    with pytest.raises(ValueError):
        chunk_text("text.", count_words, 0, split_words)
