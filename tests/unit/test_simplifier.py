"""The simplifier's batching logic (grouping, memory sub-batches, per-job failure isolation) and
the transformers backend's counts, in-process on the demo model."""

from __future__ import annotations

import random

import pytest

from pls_core.schemas import SimplifyJob
from runners.simplifier import memory_sub_batches, settings_groups
from runners.transformers_backend import count_until_eos

# --- counting (issue 15 items 1 and 10) ----------------------------------------------------------

def test_count_until_eos_stops_at_the_first_eos_and_ignores_padding():
    assert count_until_eos([5, 6, 1, 1, 1], eos_id=1) == 3
    assert count_until_eos([5, 6, 1, 0, 0], eos_id=1) == 3
    assert count_until_eos([5, 6, 7], eos_id=1) == 3


# --- grouping and memory sub-batches (item 6) ----------------------------------------------------

def test_settings_groups_keep_job_order_within_a_group():
    jobs = [SimplifyJob(text=str(i), max_new_tokens=50 + 10 * (i % 2), num_beams=1 + (i % 3 == 0))
            for i in range(12)]
    groups = settings_groups(jobs)
    assert sorted(i for group in groups for i in group) == list(range(12))
    for group in groups:
        assert group == sorted(group)
        assert len({(jobs[i].max_new_tokens, jobs[i].num_beams) for i in group}) == 1


@pytest.mark.parametrize("seed", range(30))
def test_sub_batches_stay_under_the_budget_and_cover_every_job_once(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(5, 512) for _ in range(rng.randint(1, 40))]
    beams, new_tokens, budget = rng.randint(1, 10), rng.randint(50, 512), rng.choice([2048, 16384, 65536])
    batches = memory_sub_batches(lengths, new_tokens, beams, budget)
    assert sorted(p for batch in batches for p in batch) == list(range(len(lengths)))
    for batch in batches:
        footprint = len(batch) * beams * (max(lengths[p] for p in batch) + new_tokens)
        assert footprint <= budget or len(batch) == 1


def test_ten_beams_of_full_chunks_split_into_small_sub_batches_at_the_default_budget(tmp_path):
    import json

    from pls_core.config import load_config
    from pls_core.generation_memory import token_budget

    # The default budget as a T5-base gets it (its config.json: 12 decoder layers, 12 heads of 64).
    (tmp_path / "config.json").write_text(json.dumps({"num_layers": 12, "num_heads": 12, "d_kv": 64}))
    budget = token_budget(load_config({}).generation_token_budget, tmp_path)
    assert budget == 16384
    batches = memory_sub_batches([512] * 16, 256, 10, budget)
    assert all(len(batch) * 10 * (512 + 256) <= budget for batch in batches)
    assert sum(map(len, batches)) == 16
    assert len(memory_sub_batches([512] * 16, 256, 1, budget)) < len(batches)
