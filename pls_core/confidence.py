"""How sure the simplifier is of a summary, from its own token probabilities.

A backend reports, per chunk, the mean log-probability of the tokens its search chose, EOS
included, taken from the search's own scores (no second pass over the output): each step's
distribution over the tokens the model's decoding rules allow, so a token they forbid (one that
would repeat a 3-gram) takes no probability. CTranslate2 (`return_scores`) and transformers
(runners/transformers_backend.py) agree on it within 1e-6 in float32. Its exponent, the geometric
mean of the token probabilities, is the chunk's confidence in 0-1.
A model that meets text unlike its training data spreads its probability over many tokens and
its confidence falls: on the demo model, held-out template sentences and real abstract
sentences separate with a ROC AUC above 0.99 (docs/models.md).

The threshold below which a summary is called unreliable is calibrated when a model is built
(`confidence` in its metrics.json) or set by the operator (PLS_CONFIDENCE_THRESHOLD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Confidence is reported with this many decimals: alone and inside a batch the model's scores
# differ only in the last float bits (padding changes the order of sums), not at this precision.
DECIMALS = 4


@dataclass(frozen=True)
class Assessment:
    confidence: float
    chunk_confidences: list[float]
    low_confidence: bool
    reason: str | None


def chunk_confidence(mean_logprob: float) -> float:
    return round(math.exp(mean_logprob), DECIMALS)


def assess(mean_logprobs: Sequence[float], tokens_output: Sequence[int],
           threshold: float | None) -> Assessment:
    """The request's confidence (token-weighted over its chunks) and whether any chunk falls
    below `threshold` (None: no threshold known, nothing is flagged)."""
    if len(mean_logprobs) != len(tokens_output) or not mean_logprobs:
        raise ValueError("one mean log-probability and one token count per chunk are needed")
    total_tokens = sum(max(1, n) for n in tokens_output)
    mean = sum(lp * max(1, n) for lp, n in zip(mean_logprobs, tokens_output)) / total_tokens
    chunks = [chunk_confidence(lp) for lp in mean_logprobs]
    confidence = chunk_confidence(mean)
    if threshold is None:
        return Assessment(confidence, chunks, False, None)
    below = [number for number, value in enumerate(chunks, 1) if value < threshold]
    if not below:
        return Assessment(confidence, chunks, False, None)
    where = ("the text" if len(chunks) == 1
             else f"{len(below)} of {len(chunks)} parts of the text (part {', '.join(map(str, below))})")
    reason = (f"The model was unsure of its output for {where}: confidence "
              f"{min(chunks[n - 1] for n in below):.2f} is below {threshold:.2f}. The text is "
              "probably unlike what the model was trained on; the summary may be wrong or "
              "garbled and should not be relied on.")
    return Assessment(confidence, chunks, True, reason)


def calibrate(in_domain: Sequence[float], out_of_domain: Sequence[float]) -> dict:
    """A threshold that separates in-domain from out-of-domain confidences, with its figures.

    The midpoint between the 90th percentile of the out-of-domain confidences and the 10th
    percentile of the in-domain ones when they do not overlap; otherwise the value that
    maximises (out-of-domain flagged - in-domain flagged).
    """
    if not in_domain or not out_of_domain:
        raise ValueError("both sets are needed to calibrate")
    low, high = _quantile(out_of_domain, 0.9), _quantile(in_domain, 0.1)
    if low < high:
        threshold = (low + high) / 2
    else:
        candidates = sorted(set(in_domain) | set(out_of_domain))
        threshold = max(candidates, key=lambda t: _share_below(out_of_domain, t) - _share_below(in_domain, t))
    threshold = round(threshold, DECIMALS)
    return {
        "threshold": threshold,
        "roc_auc": round(roc_auc(in_domain, out_of_domain), 4),
        "in_domain_flagged": round(_share_below(in_domain, threshold), 4),
        "out_of_domain_flagged": round(_share_below(out_of_domain, threshold), 4),
        "in_domain_texts": len(in_domain),
        "out_of_domain_texts": len(out_of_domain),
    }


def roc_auc(in_domain: Sequence[float], out_of_domain: Sequence[float]) -> float:
    """Probability that an in-domain text gets a higher confidence than an out-of-domain one
    (ties count half): the area under the ROC curve of "low confidence means out of domain"."""
    wins = sum((a > b) + 0.5 * (a == b) for a in in_domain for b in out_of_domain)
    return wins / (len(in_domain) * len(out_of_domain))


def _share_below(values: Sequence[float], threshold: float) -> float:
    return sum(v < threshold for v in values) / len(values)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
