"""Evaluation of a generated plain-language summary (PLS): readability, length, and —
given a reference PLS — SARI, BLEU and ROUGE.

Plain Python; no BentoML, no torch. sacrebleu and rouge_score are imported lazily.

SARI
----
:func:`sari` implements Xu, Napoles, Pavlick, Chen & Callison-Burch (2016), "Optimizing
Statistical Machine Translation for Text Simplification", TACL 4. Notation: I = source
(input), O = prediction (output), R = the references, r = number of references. For each
n-gram order n = 1..4, with #g(.) a *binary* indicator (is g among the n-grams of that
text: repeated n-grams count once, as the paper's indicator does) and the reference-
weighted indicator ``#g(R') = (number of references containing g) / r``:

* ADD (F1). Added n-grams ``A = O \\ I``; n-grams the references add ``RA = (∪R) \\ I``;
  ``p_add = |A ∩ ∪R| / |A|``, ``r_add = |A ∩ ∪R| / |RA|``.
* KEEP (F1, fractional). For g in I: ``w(g) = #g(R')``. Kept ``K = I ∩ O``;
  ``p_keep = Σ_{g∈K} w(g) / |K|``, ``r_keep = Σ_{g∈K} w(g) / Σ_{g∈I} w(g)``
  (the paper's min(#g(I∩O), #g(I∩R')) over min(...) sums, with binary #g(I), #g(O)).
  A kept n-gram that only half the references keep earns half credit.
* DELETE (precision only). Deleted ``D = I \\ O``;
  ``p_del = Σ_{g∈D} (1 - w(g)) / |D|`` — deleting what every reference deletes scores
  1, deleting what every reference keeps scores 0.
* F1 = 2pr/(p+r), 0 when p + r = 0. Per order: ``(F_add + F_keep + P_del) / 3``;
  SARI = the mean over orders. (This averages F per order, as the authors' released
  script does; the paper's equations average P and R over orders before taking F. KEEP
  recall uses the paper's fractional weights in the denominator too; the authors'
  original script divides by the number of n-grams instead, so on several references
  its numbers can differ slightly. HF ``evaluate``'s SARI makes the same recall choice
  as here, and the worked example of its documentation gives the same 0.26954.)

Edge cases (the paper leaves 0/0 undefined; convention used here, documented and tested):

* an empty denominator means the operation had nothing to do on one side. If the
  prediction did nothing *and* the references did nothing (e.g. neither adds an n-gram),
  precision and recall are 1 — it agreed perfectly; otherwise the undefined side is 0
  (e.g. the references add words but the prediction adds none: ``p_add = r_add = 0``;
  the references delete something but the prediction deletes nothing: ``p_del = 0``);
* an order n at which source, prediction and every reference have no n-gram (all texts
  shorter than n tokens) is left out of the mean instead of scoring a free 1;
* if no order has any n-gram (all texts empty or whitespace only) SARI = 1.0
  (empty prediction equal to the empty reference). ``references`` must be non-empty.

Tokenisation (SARI): lowercase; every punctuation character (anything neither a letter,
digit, underscore nor whitespace) is separated into its own token; then split on
whitespace. ``"Heart-attack, risk."`` -> ``heart - attack , risk .``.

Like the original metric, SARI credits deletions on their own: an output that deletes
everything the references delete scores P_del = 1 even if it adds junk, so read it
together with BLEU/ROUGE and the readability figures.

BLEU is sacrebleu's sentence BLEU (13a tokeniser, case-sensitive, effective order) / 100;
ROUGE is rouge_score's rouge1/rouge2/rougeL F-measure with the Porter stemmer: its tokenizer,
its formulas, the same numbers (tested on the Cochrane texts and on generated ones), but not its
ROUGE-L code, whose longest-common-subsequence table is n × m Python integers (two texts of
~10,000 tokens each, what the 20,000-character limit allows, would need about 4 GB). ROUGE-L's
LCS length is computed here bit-parallel instead (:func:`lcs_length`): memory linear in the
texts, time n × m / 30 machine operations. No tokens are cut: a 10,000 × 10,000-token pair
takes well under a second and a few MB.
METEOR is deliberately omitted: it needs NLTK's WordNet data, which cannot be fetched
here (no network), and a METEOR without synonym matching would be a different metric.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pls_core.readability import flesch_scores, word_count

MAX_NGRAM = 4
DECIMALS = 4

_PUNCT_RE = re.compile(r"([^\w\s])")


# ------------------------------------------------------------------------------ SARI


def sari_tokenize(text: str) -> list[str]:
    """SARI tokenisation: lowercase, punctuation split off, split on whitespace."""
    return _PUNCT_RE.sub(r" \1 ", (text or "").lower()).split()


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def _ratio(num: float, den: float, *, vacuous: bool) -> float:
    """num/den; for den == 0, 1.0 when the other side also did nothing (``vacuous``)."""
    if den == 0:
        return 1.0 if vacuous else 0.0
    return num / den


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True)
class SariOrder:
    """SARI's operation scores for one n-gram order (unrounded)."""

    n: int
    add_precision: float
    add_recall: float
    add_f1: float
    keep_precision: float
    keep_recall: float
    keep_f1: float
    del_precision: float

    @property
    def score(self) -> float:
        return (self.add_f1 + self.keep_f1 + self.del_precision) / 3


def sari_orders(source: str, prediction: str, references: Sequence[str],
                max_n: int = MAX_NGRAM) -> list[SariOrder]:
    """Per-order SARI scores, for orders 1..max_n that have at least one n-gram in the
    source, prediction or a reference. See the module docstring for the definitions."""
    if isinstance(references, str):
        raise TypeError("references must be a list of strings, not a string")
    if len(references) == 0:
        raise ValueError("SARI needs at least one reference")
    src = sari_tokenize(source)
    out = sari_tokenize(prediction)
    refs = [sari_tokenize(ref) for ref in references]
    r = len(refs)

    orders: list[SariOrder] = []
    for n in range(1, max_n + 1):
        I = _ngrams(src, n)  # noqa: E741 (I, O, R: the SARI paper's names for input, output, references)
        O = _ngrams(out, n)  # noqa: E741
        ref_sets = [_ngrams(ref, n) for ref in refs]
        if not I and not O and not any(ref_sets):
            continue
        # c[g] = number of references containing g, so #g(R') = c[g] / r.
        c: Counter = Counter()
        for ref_set in ref_sets:
            c.update(ref_set)
        R_union = set(c)

        # ADD
        added = O - I
        ref_added = R_union - I
        good_add = len(added & R_union)
        nothing_to_add = not added and not ref_added
        p_add = _ratio(good_add, len(added), vacuous=nothing_to_add)
        r_add = _ratio(good_add, len(ref_added), vacuous=nothing_to_add)

        # KEEP — integer sums scaled by r, divided once, so the values are exact.
        kept = I & O
        keep_weight_kept = sum(c[g] for g in kept)          # r * Σ_{g∈K} w(g)
        keep_weight_all = sum(c[g] for g in I)              # r * Σ_{g∈I} w(g)
        nothing_to_keep = not kept and keep_weight_all == 0
        p_keep = _ratio(keep_weight_kept, r * len(kept), vacuous=nothing_to_keep)
        r_keep = _ratio(keep_weight_kept, keep_weight_all, vacuous=nothing_to_keep)

        # DELETE (precision only)
        deleted = I - O
        del_weight = sum(r - c[g] for g in deleted)         # r * Σ_{g∈D} (1 - w(g))
        refs_delete_nothing = all(c[g] == r for g in I)
        p_del = _ratio(del_weight, r * len(deleted),
                       vacuous=not deleted and refs_delete_nothing)

        orders.append(SariOrder(n, p_add, r_add, _f1(p_add, r_add),
                                p_keep, r_keep, _f1(p_keep, r_keep), p_del))
    return orders


def sari(source: str, prediction: str, references: list[str]) -> float:
    """SARI (Xu et al. 2016) of ``prediction`` as a simplification of ``source`` against
    ``references``, in [0, 1] (unrounded). See the module docstring."""
    orders = sari_orders(source, prediction, references)
    if not orders:
        return 1.0
    return sum(o.score for o in orders) / len(orders)


# ------------------------------------------------------------------------- BLEU/ROUGE


@functools.lru_cache(maxsize=1)
def _bleu_metric():
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)


@functools.lru_cache(maxsize=1)
def _rouge_tokenizer():
    from rouge_score import tokenizers

    return tokenizers.DefaultTokenizer(use_stemmer=True)


def bleu(prediction: str, reference: str) -> float:
    """sacrebleu sentence BLEU with effective order, divided by 100, in [0, 1]
    (unrounded). 0.0 when either side has no tokens."""
    score = _bleu_metric().sentence_score(prediction or "", [reference or ""]).score / 100.0
    return min(1.0, max(0.0, score))  # sacrebleu can return 100.00000000000004


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's tokens: lowercase ASCII letters/digits, Porter-stemmed above 3 letters."""
    return _rouge_tokenizer().tokenize(text or "")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel (Allison & Dix 1986; the form of Hyyrö 2004): one row of the LCS table is a
    bit vector ``v`` over the shorter sequence (a zero bit where the row steps up), advanced
    for each token of the longer one by ``u = v & match; v = (v + u) | (v - u)``; the LCS
    length is the number of zero bits. Memory: one match mask per token the two sequences
    share (at most the shorter one's length in bits each, a few MB at 10,000 tokens) and the
    vector; time: len(a) × len(b) / 30 word operations of Python's big integers.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    shared = set(a)
    masks: dict[str, int] = {}
    for i, token in enumerate(b):
        if token in shared:
            masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        match = masks.get(token)
        if match is not None:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(zip(*(tokens[i:] for i in range(n))))


def _fmeasure(precision: float, recall: float) -> float:
    # rouge_score.scoring.fmeasure, the same expression.
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _rouge_n(target: Sequence[str], prediction: Sequence[str], n: int) -> float:
    target_ngrams = _ngram_counts(target, n)
    prediction_ngrams = _ngram_counts(prediction, n)
    overlap = sum(min(count, prediction_ngrams[g]) for g, count in target_ngrams.items())
    precision = overlap / max(sum(prediction_ngrams.values()), 1)
    recall = overlap / max(sum(target_ngrams.values()), 1)
    return _fmeasure(precision, recall)


def _rouge_l(target: Sequence[str], prediction: Sequence[str]) -> float:
    if not target or not prediction:
        return 0.0
    common = lcs_length(target, prediction)
    return _fmeasure(common / len(prediction), common / len(target))


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measures, unrounded: rouge_score's (Porter stemming) values, ROUGE-L in
    linear memory (see the module docstring). Texts without ASCII letters/digits have no
    ROUGE tokens and score 0.0."""
    target, predicted = rouge_tokens(reference), rouge_tokens(prediction)
    return {"rouge1": float(_rouge_n(target, predicted, 1)),
            "rouge2": float(_rouge_n(target, predicted, 2)),
            "rougeL": float(_rouge_l(target, predicted))}


# ------------------------------------------------------------------------- all metrics


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)


def evaluation_metrics(original_text: str, generated_pls: str,
                       reference_pls: str | None = None) -> dict:
    """Metrics of ``generated_pls`` as a plain-language summary of ``original_text``.

    Always: ``flesch_reading_ease``, ``flesch_kincaid_grade`` (of the generated text;
    ``None`` when it has no words, e.g. only punctuation), ``compression_ratio``
    (generated words / original words; ``None`` when the original has no words),
    ``word_length`` and ``original_word_length`` (word counts, ints; words as defined
    in :mod:`pls_core.readability`, so punctuation is not counted).

    With a reference (``reference_pls`` not None and not blank): also ``rouge1``,
    ``rouge2``, ``rougeL``, ``bleu`` and ``sari`` (source = ``original_text``), all in
    [0, 1]. Floats are rounded to 4 decimals. No METEOR (see the module docstring).
    """
    original_text = original_text or ""
    generated_pls = generated_pls or ""
    ease, grade = flesch_scores(generated_pls)
    n_generated = word_count(generated_pls)
    n_original = word_count(original_text)
    result: dict = {
        "flesch_reading_ease": _round(ease),
        "flesch_kincaid_grade": _round(grade),
        "compression_ratio": _round(n_generated / n_original) if n_original else None,
        "word_length": n_generated,
        "original_word_length": n_original,
    }
    if reference_pls is not None and reference_pls.strip():
        result.update({k: _round(v) for k, v in rouge(generated_pls, reference_pls).items()})
        result["bleu"] = _round(bleu(generated_pls, reference_pls))
        result["sari"] = _round(sari(original_text, generated_pls, [reference_pls]))
    return result
