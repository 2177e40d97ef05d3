"""SARI in pls_core.metrics against hand-worked examples: its tokenisation, each order's ADD, KEEP
and DEL, several references, and the edge cases.

Notation in the worked examples: I = source n-grams, O = prediction n-grams, R = reference
n-grams, w(g) = share of references containing g. Per order n the score is
(F_add + F_keep + P_del) / 3 and SARI is the mean over the orders present.
"""

from __future__ import annotations

import pytest

from pls_core.metrics import sari, sari_orders, sari_tokenize


def test_sari_tokenize_lowercases_and_splits_punctuation():
    assert sari_tokenize("Heart-attack, RISK.") == ["heart", "-", "attack", ",", "risk", "."]
    assert sari_tokenize("  two   spaces\nand\ttabs ") == ["two", "spaces", "and", "tabs"]
    assert sari_tokenize("") == []
    assert sari_tokenize("?!") == ["?", "!"]


SOURCE = "patients had a myocardial infarction"
REFERENCE = "patients had a heart attack"


def test_sari_copying_the_source_scores_low_when_the_reference_simplifies():
    # Prediction = source. w = 1 for n-grams the reference shares, else 0.
    # n=1: I = O = {patients, had, a, myocardial, infarction}; R adds {heart, attack}.
    #   ADD: nothing added, reference adds 2 -> p = r = 0, F_add = 0.
    #   KEEP: kept = all 5, weights 1,1,1,0,0 -> p = 3/5, r = 3/3 = 1, F = 2*.6/1.6 = 0.75.
    #   DEL: nothing deleted, reference deletes 2 -> P_del = 0.       score = 0.75/3 = 1/4
    # n=2: I = {patients had, had a, a myocardial, myocardial infarction}, weights 1,1,0,0
    #   KEEP p = 2/4, r = 2/2 -> F = 2/3; ADD 0; DEL 0.               score = 2/9
    # n=3: I = {patients had a, had a myocardial, a myocardial infarction}, weights 1,0,0
    #   KEEP p = 1/3, r = 1 -> F = 1/2; ADD 0; DEL 0.                 score = 1/6
    # n=4: I = {patients had a myocardial, had a myocardial infarction}, weights 0,0
    #   KEEP p = 0/2 = 0, the reference keeps nothing but the prediction keeps 2 -> r = 0,
    #   F = 0; ADD 0; DEL 0.                                           score = 0
    # SARI = (1/4 + 2/9 + 1/6 + 0) / 4 = (9 + 8 + 6)/36/4 = 23/144 = 0.15972...
    orders = sari_orders(SOURCE, SOURCE, [REFERENCE])
    assert [o.n for o in orders] == [1, 2, 3, 4]
    assert orders[0].add_f1 == 0.0 and orders[0].del_precision == 0.0
    assert orders[0].keep_precision == pytest.approx(0.6)
    assert orders[0].keep_recall == pytest.approx(1.0)
    assert orders[0].keep_f1 == pytest.approx(0.75)
    assert orders[1].keep_f1 == pytest.approx(2 / 3)
    assert orders[2].keep_f1 == pytest.approx(0.5)
    assert orders[3].keep_f1 == 0.0
    assert sari(SOURCE, SOURCE, [REFERENCE]) == pytest.approx(23 / 144)
    assert sari(SOURCE, SOURCE, [REFERENCE]) < 0.2


def test_sari_prediction_equal_to_the_single_reference_scores_one():
    # Every order: ADD adds exactly what R adds (p = r = 1); KEEP keeps exactly the
    # w=1 n-grams (p = r = 1; at n=4 nothing is kept and R keeps nothing -> 1 by the
    # "both did nothing" convention); DEL deletes only w=0 n-grams (P_del = 1).
    orders = sari_orders(SOURCE, REFERENCE, [REFERENCE])
    for o in orders:
        assert (o.add_f1, o.keep_f1, o.del_precision) == (1.0, 1.0, 1.0)
    assert sari(SOURCE, REFERENCE, [REFERENCE]) == 1.0


def test_sari_deleting_exactly_what_the_reference_deletes_worked_example():
    source = "the drug clearly lowered blood pressure in adults"
    reference = "the drug lowered blood pressure"
    prediction = "the drug lowered blood pressure a lot"
    # n=1: I = {the, drug, clearly, lowered, blood, pressure, in, adults}
    #      O = {the, drug, lowered, blood, pressure, a, lot}; R = {the, drug, lowered,
    #      blood, pressure}.
    #   DEL: D = {clearly, in, adults}, all w=0 -> P_del = 3/3 = 1.
    #   KEEP: K = {the, drug, lowered, blood, pressure}, all w=1 -> p = 1, r = 5/5 -> 1.
    #   ADD: A = {a, lot}, none in R; R adds nothing -> p = 0/2, r = 0 -> F_add = 0.
    #   score = (0 + 1 + 1)/3 = 2/3
    # n=2: I = {the drug, drug clearly, clearly lowered, lowered blood, blood pressure,
    #      pressure in, in adults}; O = {the drug, drug lowered, lowered blood,
    #      blood pressure, pressure a, a lot}; R = {the drug, drug lowered, lowered blood,
    #      blood pressure}.
    #   ADD: A = {drug lowered, pressure a, a lot}, R adds {drug lowered} -> p = 1/3,
    #        r = 1/1, F = 2*(1/3)/(4/3) = 1/2.
    #   KEEP: K = {the drug, lowered blood, blood pressure}, w=1; sum_I w = 3 -> F = 1.
    #   DEL: D = the 4 other source bigrams, all w=0 -> 1.   score = (1/2 + 2)/3 = 5/6
    # n=3: A = {the drug lowered, drug lowered blood, blood pressure a, pressure a lot},
    #      R adds the first two -> p = 2/4, r = 2/2, F = 2/3.
    #   KEEP: K = {lowered blood pressure} (w=1), sum_I w = 1 -> F = 1.
    #   DEL: 5 deleted trigrams, all w=0 -> 1.              score = (2/3 + 2)/3 = 8/9
    # n=4: A = all 4 prediction 4-grams, R adds 2 of them -> F = 2/3.
    #   KEEP: nothing kept, R keeps nothing -> 1 (both did nothing).
    #   DEL: all 5 source 4-grams deleted, w=0 -> 1.         score = 8/9
    # SARI = (2/3 + 5/6 + 8/9 + 8/9)/4 = (24 + 30 + 32 + 32)/36/4 = 118/144 = 59/72
    orders = sari_orders(source, prediction, [reference])
    assert orders[0].del_precision == 1.0
    assert orders[0].keep_f1 == 1.0
    assert orders[0].add_precision == 0.0 and orders[0].add_f1 == 0.0
    assert orders[1].add_precision == pytest.approx(1 / 3)
    assert orders[1].add_recall == 1.0
    assert orders[1].add_f1 == pytest.approx(0.5)
    assert orders[2].add_f1 == pytest.approx(2 / 3)
    assert orders[3].keep_f1 == 1.0
    assert [o.score for o in orders] == pytest.approx([2 / 3, 5 / 6, 8 / 9, 8 / 9])
    assert sari(source, prediction, [reference]) == pytest.approx(59 / 72)


def test_sari_deleting_something_the_reference_keeps_lowers_p_del():
    # Unigrams: source {the, drug, clearly, lowered, blood, pressure, in, adults},
    # prediction drops {drug, clearly, in, adults}; the reference keeps "drug" (w=1), so
    # P_del = (0 + 1 + 1 + 1)/4 = 3/4.
    orders = sari_orders("the drug clearly lowered blood pressure in adults",
                         "the lowered blood pressure",
                         ["the drug lowered blood pressure"])
    assert orders[0].del_precision == pytest.approx(0.75)


def test_sari_multiple_references_weight_keep_and_delete_fractionally():
    source = "the drug lowered high blood pressure"
    prediction = "the drug lowered blood pressure"
    one_ref = ["the drug lowered blood pressure"]
    two_refs = ["the drug lowered blood pressure", "the medicine lowered high blood pressure"]
    # One reference = the prediction: unigram KEEP p = r = 1, P_del = 1 (drops "high", w=0).
    single = sari_orders(source, prediction, one_ref)[0]
    assert (single.keep_precision, single.keep_recall, single.del_precision) == (1.0, 1.0, 1.0)
    # Two references, unigram weights w = #refs containing g / 2:
    #   the 1, drug 1/2 (only ref 1), lowered 1, high 1/2 (only ref 2), blood 1, pressure 1.
    # KEEP: K = {the, drug, lowered, blood, pressure}, sum_K w = 1 + .5 + 1 + 1 + 1 = 4.5
    #   p_keep = 4.5/|K| = 4.5/5 = 0.9; r_keep = 4.5 / sum_I w = 4.5/5.0 = 0.9; F = 0.9.
    # DEL: D = {high}, 1 - w = 1/2 -> P_del = 0.5 (only half the references delete it).
    double = sari_orders(source, prediction, two_refs)[0]
    assert double.keep_precision == pytest.approx(0.9)
    assert double.keep_recall == pytest.approx(0.9)
    assert double.keep_f1 == pytest.approx(0.9)
    assert double.del_precision == pytest.approx(0.5)
    # ADD is judged against the union of the references: "medicine" (only in ref 2) is a
    # good addition. A = {medicine}, R adds {medicine} -> p = r = 1.
    swapped = sari_orders(source, "the medicine lowered blood pressure", two_refs)[0]
    assert swapped.add_precision == 1.0 and swapped.add_recall == 1.0


def test_sari_matches_the_published_multi_reference_example():
    # The worked example of HF evaluate's SARI card (also in EASSE's README):
    # 26.953601953601954 on a 0-100 scale.
    score = sari("About 95 species are currently accepted.", "About 95 you now get in.",
                 ["About 95 species are currently known.",
                  "About 95 species are now accepted.",
                  "95 species are now accepted."])
    assert score == pytest.approx(0.26953601953601954, abs=1e-12)


def test_sari_orders_with_no_ngrams_anywhere_are_left_out():
    # Source "a b", prediction "x y", reference "c d": orders 3 and 4 have no n-grams
    # on any side and are skipped. n=1 and n=2 alike: ADD adds {x, y} / {x y}, R adds
    # other things -> F_add = 0; nothing kept and R keeps nothing -> F_keep = 1; every
    # source n-gram deleted and R deletes them too -> P_del = 1. score = 2/3 each.
    orders = sari_orders("a b", "x y", ["c d"])
    assert [o.n for o in orders] == [1, 2]
    assert sari("a b", "x y", ["c d"]) == pytest.approx(2 / 3)


def test_sari_is_case_and_spacing_insensitive_and_bounded():
    assert sari(SOURCE, "PATIENTS  had a Heart attack", [REFERENCE]) == 1.0
    for pred in ["", "!!!", "totally unrelated words here", SOURCE + " " + SOURCE]:
        assert 0.0 <= sari(SOURCE, pred, [REFERENCE]) <= 1.0


def test_sari_empty_everything_is_one_and_bad_references_raise():
    assert sari("", "", [""]) == 1.0
    assert sari("   ", "", ["\n"]) == 1.0
    with pytest.raises(ValueError, match="SARI needs at least one reference"):
        sari(SOURCE, SOURCE, [])
    with pytest.raises(TypeError):
        sari(SOURCE, SOURCE, REFERENCE)  # type: ignore[arg-type]


def test_sari_empty_prediction_with_real_source():
    # Prediction empty: n=1: ADD: nothing added but R adds {heart, attack} -> 0.
    # KEEP: nothing kept, R keeps 3 -> 0. DEL: all 5 deleted, 2 of them w=0 -> P_del = 2/5.
    orders = sari_orders(SOURCE, "", [REFERENCE])
    assert orders[0].add_f1 == 0.0 and orders[0].keep_f1 == 0.0
    assert orders[0].del_precision == pytest.approx(0.4)
