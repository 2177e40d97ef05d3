"""What a model folder must hold, and the names the models get in the BentoML store.

The users' DVC pipeline and the demo build both write this layout; the importer and the
runners read it. Nothing here differs between demo and real models.
"""

from __future__ import annotations

import json
from pathlib import Path

# Input prefix the simplifier was trained with; every request is sent with it.
TASK_PREFIX = "simplify medical text into plain language: "
# The simplifier's maximum input length in tokens, task prefix and EOS included.
MAX_INPUT_TOKENS = 512

SIMPLIFIER_DIRNAME = "t5_base"
CLASSIFIER_DIRNAME = "baseline_classifier"

# Names in the BentoML model store.
SIMPLIFIER_MODEL_NAME = "pls-simplifier"
CLASSIFIER_MODEL_NAME = "pls-classifier"

# Classifier labels, as the users' training pipeline writes them.
LABEL_PLAIN = "pls"
LABEL_TECHNICAL = "non_pls"

SIMPLIFIER_REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
# The fast tokenizer (what the API counts tokens with) and the sentencepiece model it can be
# converted from; at least one of them must be present.
TOKENIZER_FILE = "tokenizer.json"
SENTENCEPIECE_FILE = "spiece.model"
SIMPLIFIER_TOKENIZER_FILES = (TOKENIZER_FILE, SENTENCEPIECE_FILE)

# The classifier folder: two joblib pickles and the figures of its training.
CLASSIFIER_FILE = "classifier.pkl"
VECTORIZER_FILE = "vectorizer.pkl"
# Both folders: the build's figures (the simplifier's holds its calibrated confidence threshold).
METRICS_FILE = "metrics.json"
CLASSIFIER_REQUIRED_FILES = (CLASSIFIER_FILE, VECTORIZER_FILE, METRICS_FILE)


def missing_simplifier_files(folder: Path) -> list[str]:
    """Names of the files the simplifier folder lacks (empty when complete)."""
    missing = [name for name in SIMPLIFIER_REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in SIMPLIFIER_TOKENIZER_FILES):
        missing.append(" or ".join(SIMPLIFIER_TOKENIZER_FILES))
    return missing


def missing_classifier_files(folder: Path) -> list[str]:
    """Names of the files the classifier folder lacks (empty when complete)."""
    return [name for name in CLASSIFIER_REQUIRED_FILES if not (folder / name).is_file()]


def max_input_tokens(folder: str | Path) -> int:
    """The simplifier's input limit in tokens (task prefix and EOS included): the one limit the
    chunker cuts at and both backends truncate at. `model_max_length` of tokenizer_config.json
    when it names a positive integer, at most MAX_INPUT_TOKENS; MAX_INPUT_TOKENS when it is
    missing or absurd (a real T5's config may carry none: transformers then uses 10**30, which
    no tokenizer can truncate at)."""
    try:
        configured = json.loads((Path(folder) / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        configured = None
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return min(MAX_INPUT_TOKENS, configured)
    return MAX_INPUT_TOKENS
