"""BLEU and ROUGE in pls_core.metrics: identity, range and stemming, ROUGE equal to the rouge-score
package's on the Cochrane texts and on generated ones, and the longest common subsequence it uses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pls_core.metrics import bleu, lcs_length, rouge
from tests.support.processes import REPO


def test_bleu_identity_disjoint_and_range():
    text = "The medicine lowered blood pressure in most adults."
    assert bleu(text, text) == 1.0
    assert bleu("cats purr loudly", "dogs bark") == 0.0
    partial = bleu("the medicine lowered blood pressure", text)
    assert 0.0 < partial < 1.0
    assert bleu("", text) == 0.0
    assert bleu("", "") == 0.0


def test_rouge_identity_stemming_and_range():
    text = "The medicine lowered blood pressure."
    assert rouge(text, text) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    # Porter stemming: "lowers"/"lowered" -> "lower", "pressures" -> "pressur".
    assert rouge("medicine lowers pressures", "medicine lowered pressure")["rouge1"] == 1.0
    # Bigrams shared: "the medicin", "medicin lower"; "lower pressur" is not in the text.
    scores = rouge("the medicine lowered pressure", text)
    assert set(scores) == {"rouge1", "rouge2", "rougeL"}
    assert all(0.0 < v < 1.0 for v in scores.values())
    assert rouge("", text) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


COCHRANE = REPO / "data" / "cochrane"


def _rouge_score_package(prediction: str, reference: str) -> dict[str, float]:
    """The rouge-score package itself, as pls_core.metrics used it before: the reference values."""
    from rouge_score import rouge_scorer

    scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(reference, prediction)
    return {name: scores[name].fmeasure for name in ("rouge1", "rouge2", "rougeL")}


def _lcs_table(a, b) -> int:
    """The textbook n × m table: the reference for lcs_length."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            rows[i][j] = rows[i - 1][j - 1] + 1 if x == y else max(rows[i - 1][j], rows[i][j - 1])
    return rows[-1][-1]


def test_rouge_equals_the_rouge_score_package_on_the_cochrane_texts():
    sources = (COCHRANE / "val.source").read_text().splitlines()
    targets = (COCHRANE / "val.target").read_text().splitlines()
    assert len(sources) == len(targets) == 411
    # Every 10th pair: the summary against its abstract, and against the next review's abstract.
    for i in range(0, 411, 10):
        for prediction, reference in ((targets[i], sources[i]), (targets[i], sources[(i + 1) % 411])):
            assert rouge(prediction, reference) == _rouge_score_package(prediction, reference), i


WORDS = ["the", "patients", "patient", "had", "a", "heart", "attack", "attacks", "lowered", "lowers", "trial",
         "trials", "blood", "pressure", "of", "and", "COVID-19", "beta-blocker", "95%", "é", "ß"]
ROUGE_TEXT = (st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=60).map(" ".join)
              | st.text(max_size=200))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prediction=ROUGE_TEXT, reference=ROUGE_TEXT)
def test_rouge_equals_the_rouge_score_package_on_generated_texts(prediction, reference):
    assert rouge(prediction, reference) == _rouge_score_package(prediction, reference)


@settings(deadline=None)
@given(a=st.lists(st.sampled_from("abcd"), max_size=80), b=st.lists(st.sampled_from("abcde"), max_size=80))
def test_lcs_length_equals_the_table(a, b):
    assert lcs_length(a, b) == lcs_length(b, a) == _lcs_table(a, b)


def test_lcs_length_edges():
    assert lcs_length([], []) == lcs_length(["a"], []) == lcs_length([], ["a"]) == 0
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4  # CLRS's example: "bcba"
    assert lcs_length(["x"] * 300, ["x"] * 200) == 200
    tokens = [f"t{i}" for i in range(500)]
    assert lcs_length(tokens, tokens[::-1]) == 1 and lcs_length(tokens, tokens) == 500
