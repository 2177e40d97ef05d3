"""How many tokens of beam-search cache one `generate` call may hold, from the model's shape.

Beam search keeps, per beam, keys and values for every decoder position and every input token in
every decoder layer, so its memory grows with chunks x beams x (input tokens + new tokens) times
the model's cache width (decoder layers x heads x head size). PLS_GENERATION_TOKEN_BUDGET bounds
the first factor; `auto` (0) scales it with the second, so that every model gets the cache memory
that 16,384 tokens take in a T5-base (which keeps a T5-base within a 4 GB task) and a smaller
model is not cut into sub-batches it does not need: on a t5-small-shaped model, 16 chunks of 256
tokens with 4 beams and 64 new tokens fit in one batch instead of 12 + 4.
"""

from __future__ import annotations

import json
from pathlib import Path

REFERENCE_TOKENS = 16384
REFERENCE_CACHE_WIDTH = 12 * 12 * 64  # T5-base: 12 decoder layers x 12 heads x 64 per head
SMALLEST_BUDGET = 256


def cache_width(model_config: dict) -> int:
    """Decoder layers x heads x head size of a T5 config.json (what one cached token costs)."""
    missing = [key for key in ("num_layers", "num_heads", "d_kv") if not model_config.get(key)]
    if missing:
        raise ValueError(f"the model's config.json lacks {', '.join(missing)}: cannot size the generation "
                         "budget from it; set PLS_GENERATION_TOKEN_BUDGET to a number of tokens")
    layers = model_config.get("num_decoder_layers") or model_config["num_layers"]
    return layers * model_config["num_heads"] * model_config["d_kv"]


def auto_token_budget(model_config: dict) -> int:
    return max(SMALLEST_BUDGET, REFERENCE_TOKENS * REFERENCE_CACHE_WIDTH // cache_width(model_config))


def token_budget(setting: int, model_folder: str | Path) -> int:
    """The setting when it is a number; for 0 (`auto`) the budget scaled to the model's shape."""
    if setting:
        return setting
    return auto_token_budget(json.loads((Path(model_folder) / "config.json").read_text()))
