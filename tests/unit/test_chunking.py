"""Chunking: every sentence lands in exactly one chunk, in order, and every chunk fits."""

import random
import re
import time
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pls_core.chunking as chunking
from pls_core.chunking import Chunker, chunk_text, split_sentences
from pls_core.model_layout import MAX_INPUT_TOKENS, TASK_PREFIX
from tests.support.processes import REPO
from tests.support.samples import COCHRANE_SOURCE, count_each, count_words, split_words
from tests.support.tiny_tokenizer import FOLDER as TINY_TOKENIZER


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
    chunks = chunk_text(" ".join(sentences), count_each, budget, split_words)

    assert all(count_words(chunk) <= budget for chunk in chunks)
    # Re-joining the chunks gives back the text word for word: nothing lost, moved or repeated.
    assert " ".join(chunks).split() == " ".join(sentences).split()
    # A sentence that fits the budget is never cut across chunks.
    for sentence in sentences:
        if count_words(sentence) <= budget:
            assert sum(sentence in chunk for chunk in chunks) == 1


def test_short_text_is_one_chunk():
    assert chunk_text("One short sentence. Another one.", count_each, 50, split_words) == [
        "One short sentence. Another one."
    ]


def test_oversized_sentence_is_split_at_token_level():
    long_sentence = " ".join(f"T{i}" for i in range(25)) + "."
    chunks = chunk_text(f"Before it. {long_sentence} After it.", count_each, 10, split_words)
    assert chunks[0] == "Before it."
    assert chunks[-1] == "After it."
    assert " ".join(chunks[1:-1]).split() == long_sentence.split()
    assert all(count_words(chunk) <= 10 for chunk in chunks)


def test_a_splitter_that_breaks_the_budget_is_caught():
    with pytest.raises(ValueError, match="does not fit"):
        chunk_text("a b c d e f g h.", count_each, 3, lambda s, b: [s])


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="token budget must be positive, got 0"):
        chunk_text("text.", count_each, 0, split_words)


# --- with a real T5 tokenizer (tokenizers library): the demo build's recipe, tiny (tests/fixtures) ---



# Long words the tiny tokenizer splits into many pieces, and characters it does not know.
HARD_WORDS = ["fluconazole", "bias", "pharmacokinetics", "immunohistochemistry", "≥5%", "(95% CI 0.61–0.89)",
              "methylprednisolone", "thrombocytopenia", "electroencephalography", "μg/kg", "Crohn’s"]


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker.from_model_folder(TINY_TOKENIZER)


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    """Real abstracts when ../shared is there, else the demo corpus's sentences run together."""
    if COCHRANE_SOURCE.is_file():
        return COCHRANE_SOURCE.read_text().splitlines()[:120]
    from demo.corpus import build_corpus

    pairs = build_corpus(0).heldout_combinations
    return [" ".join(technical for technical, _ in pairs[i:i + 40]) for i in range(0, 300, 40)]


def test_token_ids_equal_the_transformers_tokenizer(chunker, real_texts):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(TINY_TOKENIZER)
    for text in real_texts[:40] + [" ".join(HARD_WORDS)]:
        assert chunker.tokenizer.encode(TASK_PREFIX + text).ids == reference(TASK_PREFIX + text).input_ids


def test_every_chunk_fits_and_costs_the_sum_of_its_sentences(chunker, real_texts):
    for text in real_texts:
        chunks = chunker.chunks(text)
        assert " ".join(chunks).split() == text.split()
        for chunk in chunks:
            assert chunker.count_input_tokens(chunk) <= MAX_INPUT_TOKENS
            sentence_sum = sum(chunker.sentence_costs(split_sentences(chunk)))
            assert chunker.count_input_tokens(chunk) == chunker.prefix_tokens + sentence_sum + 1


@pytest.mark.parametrize("seed", range(5))
def test_an_over_long_sentence_is_cut_where_words_start_from_the_original_string(chunker, seed):
    rng = random.Random(seed)
    sentence = " ".join(rng.choice(HARD_WORDS) for _ in range(rng.randint(150, 400))) + "."
    budget = rng.randint(20, 120)
    pieces = chunker.split_oversized(sentence, budget)
    assert len(pieces) >= 2
    # Whole words only, in order, nothing lost or added; the text is the user's, not decoded ids.
    assert " ".join(pieces).split() == sentence.split()
    for piece in pieces:
        assert piece in sentence
        assert "<unk>" not in piece and "▁" not in piece
        assert chunker.sentence_costs([piece])[0] <= budget


def test_a_word_longer_than_the_budget_is_cut_inside_only_then(chunker):
    word = "immunohistochemistry" * 20
    pieces = chunker.split_oversized(f"short words {word} end", 10)
    assert "".join(pieces).replace(" ", "") == f"short words {word} end".replace(" ", "")
    assert all(chunker.sentence_costs([piece])[0] <= 10 for piece in pieces)


def test_a_long_text_goes_through_chunks_via_an_over_long_sentence(chunker):
    long_sentence = ", ".join(["the patient had a myocardial infarction"] * 150) + "."
    text = f"Before it. {long_sentence} After it."
    chunks = chunker.chunks(text)
    assert len(chunks) >= 3 and chunks[0].startswith("Before it.") and chunks[-1].endswith("After it.")
    assert " ".join(chunks).split() == text.split()
    assert all(chunker.count_input_tokens(chunk) <= MAX_INPUT_TOKENS for chunk in chunks)


def test_chunking_tokenizes_each_sentence_once(chunker):
    """Linear work: the characters tokenized equal the text's, however many chunks it makes
    (re-tokenizing the growing chunk for every sentence was quadratic and stalled the API)."""
    text = " ".join(f"The patient number {i} had a myocardial infarction." for i in range(1500))
    tokenized: list[int] = []
    original = chunker.sentence_costs

    def counting(sentences):
        tokenized.extend(len(s) for s in sentences)
        return original(sentences)

    chunker.sentence_costs = counting
    try:
        chunks = chunker.chunks(text)
    finally:
        del chunker.sentence_costs
    assert len(chunks) > 10
    assert sum(tokenized) <= len(text)


def test_a_model_folder_without_tokenizer_json_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"import_models\.py"):
        Chunker.from_model_folder(tmp_path)


# --- counting: what the model reads, and what a chunk's text may cost ---------------------------


def test_counts_equal_the_transformers_tokenizer(chunker, real_texts):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(TINY_TOKENIZER)
    sentences = [s for text in real_texts[:20] for s in split_sentences(text)] + HARD_WORDS
    # Inside a chunk a sentence costs its bare tokens; the model reads prefix + chunk + EOS.
    assert chunker.sentence_costs(sentences) == [
        len(reference(s, add_special_tokens=False).input_ids) for s in sentences]
    for text in real_texts[:20]:
        assert chunker.count_input_tokens(text) == len(reference(TASK_PREFIX + text).input_ids)
    assert chunker.prefix_tokens == len(reference(TASK_PREFIX, add_special_tokens=False).input_ids)
    assert chunker.text_budget == MAX_INPUT_TOKENS - chunker.prefix_tokens - 1


def test_a_text_at_the_budget_is_one_chunk_and_one_word_more_is_two(chunker):
    # Sentences of one word each: the longest run that fits the budget, then one sentence more.
    text = " ".join(["Placebo."] * (chunker.text_budget // chunker.sentence_costs(["Placebo."])[0]))
    assert chunker.chunks(text) == [text]
    assert chunker.count_input_tokens(text) <= MAX_INPUT_TOKENS
    assert chunker.count_input_tokens(text + " Placebo.") > MAX_INPUT_TOKENS
    assert len(chunker.chunks(text + " Placebo.")) == 2


def test_a_smaller_model_max_length_makes_smaller_chunks(tmp_path, real_texts):
    import json
    import shutil

    shutil.copy(TINY_TOKENIZER / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    small = Chunker.from_model_folder(tmp_path)
    assert small.max_input_tokens == 64
    for text in real_texts[:10]:
        chunks = small.chunks(text)
        assert " ".join(chunks).split() == text.split()
        assert all(small.count_input_tokens(chunk) <= 64 for chunk in chunks)


def test_a_model_too_short_for_the_task_prefix_is_refused(chunker):
    with pytest.raises(ValueError, match="no room"):
        Chunker(TINY_TOKENIZER / "tokenizer.json", chunker.prefix_tokens + 1)


# --- the boundary pattern is linear (issue 25, finding 3) -------------------------------------------

# The pattern before the fix, kept as the reference: it backtracked over a run of [.!?] (quadratic).
OLD_BOUNDARY = re.compile(r"[.!?]+[\"')\]\u201d\u2019]*\s+")


def _old_split(text: str) -> list[str]:
    with mock.patch.object(chunking, "_BOUNDARY", OLD_BOUNDARY):
        return split_sentences(text)


def _matches(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]


def test_boundaries_and_sentences_equal_the_old_patterns_on_the_cochrane_texts():
    texts = []
    for name in ("val.source", "val.target"):
        texts += (REPO / "data" / "cochrane" / name).read_text().splitlines()
    assert len(texts) == 822
    for text in texts:
        assert _matches(chunking._BOUNDARY, text) == _matches(OLD_BOUNDARY, text)
        assert split_sentences(text) == _old_split(text)


# Text where the pattern's parts meet: runs of terminators, closers, whitespace, abbreviations.
PUNCTUATION_HEAVY = st.text(alphabet=".!?\"')]\u201d\u2019 \n\t\u00a0aZ1(", max_size=300)
ABSTRACT_LIKE = st.lists(st.sampled_from(["Patients", "et", "al.", "vs.", "e.g.", "5.", "trial.", "Yes!", "Why?",
                                          "...", "?!", '"stop."', "(RR 0.8).", "\u201cend.\u201d", "\n\n", "a"]),
                         max_size=80).map(" ".join)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=PUNCTUATION_HEAVY | ABSTRACT_LIKE | st.text(max_size=300))
def test_boundaries_and_sentences_equal_the_old_patterns_on_generated_text(text):
    assert _matches(chunking._BOUNDARY, text) == _matches(OLD_BOUNDARY, text)
    assert split_sentences(text) == _old_split(text)


def _best_time(text: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        split_sentences(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["!", ".", "?", "!.?", "?!)\u201d", "! ", ". .", "!!!! ", "a. "])
def test_splitting_runs_of_terminators_is_linear(unit):
    """The old pattern took 4-5 s on 20,000 "!" (quadratic). Linear: 20,000 characters cost at
    most 4x what 5,000 cost, plus a small constant for noise; and well under a second."""
    short = "A" + unit * (5_000 // len(unit))
    long = "A" + unit * (20_000 // len(unit))
    short_s, long_s = _best_time(short), _best_time(long)
    assert long_s < 4 * short_s + 0.05, (short_s, long_s)
    assert long_s < 0.5, long_s
    assert "".join(split_sentences(long)).replace(" ", "") == long.replace(" ", "")
