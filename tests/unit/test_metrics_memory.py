"""ROUGE and evaluation_metrics in linear memory (issue 25, finding 2): texts at the 20,000-character
limit, ~10,000 tokens a side, within a bound of memory and time."""

from __future__ import annotations

import itertools
import random
import string
import time
import tracemalloc

from pls_core.metrics import evaluation_metrics, rouge


def _three_letter_tokens(count: int) -> list[str]:
    """`count` distinct tokens of 3 characters (the stemmer leaves them alone)."""
    return ["".join(t) for t in itertools.islice(itertools.product(string.ascii_lowercase, repeat=3), count)]


def _traced_peak(function, *args) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        function(*args)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# Measured on 2 cores: 9 MiB and 0.08 s at worst (distinct tokens); the n × m table peaked at 1 GiB
# (evaluation_metrics, below) and took 25 s. The time bound is loose: timing belongs to benchmarks.
PEAK_BOUND = 50 * 2**20
TIME_BOUND_S = 5.0


def test_rouge_of_two_10000_token_texts_stays_in_linear_memory():
    """10,000 tokens a side, the most the 20,000-character limit allows (one-letter words), and
    the worst case for the bit masks (past the limit: 40,000 characters): 10,000 distinct tokens
    a side, shuffled (every mask long, the LCS short)."""
    rng = random.Random(25)
    tokens = _three_letter_tokens(10_000)
    shuffled = rng.sample(tokens, len(tokens))
    letters, other_letters = (" ".join(rng.choice("abcdefghij") for _ in range(10_000)) for _ in range(2))
    rouge("warm up", "the tokenizer")
    for prediction, reference, check in (
            (" ".join(tokens), " ".join(shuffled), lambda s: s["rouge1"] == 1.0 and 0 < s["rougeL"] < 0.1),
            (letters, other_letters, lambda s: s["rouge1"] > 0.9 and 0.3 < s["rougeL"] < 1)):
        assert len(prediction.split()) == len(reference.split()) == 10_000
        started = time.perf_counter()
        scores = rouge(prediction, reference)
        elapsed = time.perf_counter() - started
        assert check(scores), scores
        assert elapsed < TIME_BOUND_S, elapsed
        peak = _traced_peak(rouge, prediction, reference)
        assert peak < PEAK_BOUND, f"ROUGE of 10,000 x 10,000 tokens peaked at {peak / 2**20:.1f} MiB"


def test_evaluation_metrics_of_the_longest_texts_stay_in_linear_memory():
    """/evaluate and /generate-with-metrics both call evaluation_metrics: three texts at the
    20,000-character limit, ~10,000 tokens each."""
    rng = random.Random(2)
    original, generated, reference = (" ".join(rng.choice("abcdefghij") for _ in range(10_000)) for _ in range(3))
    evaluation_metrics("warm up the", "tokenizers", "and caches")
    peak = _traced_peak(evaluation_metrics, original, generated, reference)
    assert peak < PEAK_BOUND, f"evaluation_metrics peaked at {peak / 2**20:.1f} MiB"
