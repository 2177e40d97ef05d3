"""The simplifier's confidence threshold, calibrated on the built model: its scores (the serving
backend's own code, at the API's default settings) on sentences like its training and on real
abstract sentences it was never trained on, and the threshold that separates them."""

from __future__ import annotations

import random
from pathlib import Path

from demo.parallel_corpus import REAL_SPLIT_SEED
from pls_core import confidence
from pls_core.chunking import split_sentences

# Calibration texts: in-domain, the first held-out sentences of the training templates (new slot
# combinations, never trained on; the rest of them stay for tests); out-of-domain, real
# sentences from the classifier's training abstracts (the simplifier never sees real text; the
# held-out real pairs stay for tests). The 12 templates held out whole are scored too and
# recorded, not used for the threshold: the model is visibly less sure of them (BLEU ~70).
CALIBRATION_TEXTS = 150
# The API's defaults, under which most requests run.
CALIBRATION_SETTINGS = {"max_new_tokens": 256, "num_beams": 4}


def real_sentences(pairs, limit: int, seed: int = REAL_SPLIT_SEED) -> list[str]:
    """Up to `limit` sentences of 5-60 words from the abstracts of `pairs`, in a seeded order."""
    sentences = [s for source, _ in pairs for s in split_sentences(source) if 5 <= len(s.split()) <= 60]
    random.Random(seed).shuffle(sentences)
    return sentences[:limit]


def mean_logprobs(model_folder: Path, texts: list[str], batch_size: int = 32) -> list[float]:
    """The serving backend's own scores for `texts`, at the API's default settings."""
    from runners.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(model_folder), "cpu")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
    scores: dict[int, float] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        generations = backend.generate([texts[i] for i in batch], **CALIBRATION_SETTINGS)
        scores.update({i: g.mean_logprob for i, g in zip(batch, generations)})
    return [scores[i] for i in range(len(texts))]


def calibrate_confidence(model_folder: Path, in_domain: list[str], out_of_domain: list[str]) -> dict:
    """Confidence of the built model on both sets and the threshold that separates them."""
    to_confidence = lambda texts: [confidence.chunk_confidence(lp)  # noqa: E731
                                   for lp in mean_logprobs(model_folder, texts)]
    result = confidence.calibrate(to_confidence(in_domain), to_confidence(out_of_domain))
    result["in_domain"] = "held-out sentences of the training templates (generated corpus)"
    result["out_of_domain"] = "sentences of real abstracts (data/cochrane, classifier training part)"
    result["settings"] = dict(CALIBRATION_SETTINGS)
    return result
