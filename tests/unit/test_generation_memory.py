"""The simplifier's generation budget scales with the model's shape (pls_core/generation_memory.py)."""

from __future__ import annotations

import json

from pls_core.generation_memory import auto_token_budget, token_budget
from runners.simplifier import memory_sub_batches

T5_BASE = {"num_layers": 12, "num_decoder_layers": 12, "num_heads": 12, "d_kv": 64}
T5_SMALL = {"num_layers": 6, "num_decoder_layers": 6, "num_heads": 8, "d_kv": 64}


def test_auto_budget_keeps_t5_base_at_the_reference_and_scales_smaller_models_up():
    assert auto_token_budget(T5_BASE) == 16384
    assert auto_token_budget(T5_SMALL) == 49152  # a third of the cache per token
    # An older config without num_decoder_layers uses num_layers for the decoder too.
    assert auto_token_budget({"num_layers": 6, "num_heads": 8, "d_kv": 64}) == 49152


def test_a_number_wins_over_the_model_and_zero_reads_the_models_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(T5_SMALL))
    assert token_budget(4096, tmp_path) == 4096
    assert token_budget(0, tmp_path) == 49152


def test_auto_budget_runs_16_long_chunks_with_4_beams_of_a_t5_small_in_one_batch():
    lengths, new_tokens, beams = [256] * 16, 64, 4
    assert len(memory_sub_batches(lengths, new_tokens, beams, auto_token_budget(T5_SMALL))) == 1
    # The fixed T5-base budget cut the same batch in two (12 + 4): a quarter of the throughput lost.
    assert [len(b) for b in memory_sub_batches(lengths, new_tokens, beams, 16384)] == [12, 4]


def test_a_config_without_the_shape_is_refused_with_what_to_set_instead():
    import pytest

    with pytest.raises(ValueError, match=r"lacks num_heads, d_kv.*PLS_GENERATION_TOKEN_BUDGET"):
        auto_token_budget({"num_layers": 6})
