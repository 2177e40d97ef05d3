"""The simplifier's batching logic (grouping, memory sub-batches, per-job failure isolation) and
the transformers backend's counts, in-process on the demo model."""

from __future__ import annotations

import pytest

from pls_core.schemas import SimplifyJob
from runners.simplifier import simplify_jobs
from runners.transformers_backend import Generation, TransformersBackend

pytestmark = pytest.mark.timeout(600)

PROBE = "The patient had a myocardial infarction."


@pytest.fixture(scope="module")
def backend(demo_models) -> TransformersBackend:
    import torch

    torch.set_num_threads(1)
    return TransformersBackend(str(demo_models / "t5_base"), "cpu")


@pytest.fixture(scope="module")
def others() -> list[str]:
    from demo.corpus import build_corpus

    pairs = build_corpus(0).heldout_combinations
    # Mixed lengths, some several sentences long, so that rows finish at different steps.
    return [" ".join(technical for technical, _ in pairs[i:i + 1 + i % 4]) for i in range(15)]


@pytest.mark.parametrize("num_beams", [1, 4])
def test_counts_and_text_of_a_job_do_not_depend_on_its_batch(backend, others, num_beams):
    alone = backend.generate([PROBE], 256, num_beams)[0]
    batched = backend.generate(others[:8] + [PROBE] + others[8:], 256, num_beams)[8]
    assert (batched.text, batched.tokens_input, batched.tokens_output) == \
        (alone.text, alone.tokens_input, alone.tokens_output)
    # Padding changes only the order of float sums: the score agrees far below the 4 decimals
    # the API reports.
    assert batched.mean_logprob == pytest.approx(alone.mean_logprob, abs=1e-5)
    # The output is "The patient had a heart attack." and EOS: a handful of tokens, not the
    # longest row's length.
    assert alone.tokens_output == len(backend.tokenizer(alone.text).input_ids)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_max_new_tokens_is_the_number_of_tokens_generated(backend, num_beams):
    # The demo model runs on past 50 tokens on this text; the cap is exactly 50 new tokens.
    long_text = " ".join(["The patient had a myocardial infarction and hypertension."] * 6)
    result = backend.generate([long_text], 50, num_beams)[0]
    assert result.tokens_output == 50


def test_input_count_is_prefix_text_and_eos(backend):
    from pls_core.chunking import Chunker
    from pls_core.model_layout import TASK_PREFIX

    result = backend.generate([PROBE], 60, 1)[0]
    assert result.tokens_input == len(backend.tokenizer(TASK_PREFIX + PROBE).input_ids)
    assert result.tokens_input == Chunker.from_model_folder(backend.model.name_or_path).count_input_tokens(PROBE)


def test_beam_search_stops_early_as_the_users_service_did(backend, others):
    import torch

    from pls_core.model_layout import TASK_PREFIX

    texts = others[:6]
    ours = backend.generate(texts, 128, 4)
    for text, result in zip(texts, ours):
        encoded = backend.tokenizer(TASK_PREFIX + text, return_tensors="pt")
        with torch.inference_mode():
            ids = backend.model.generate(**encoded, max_new_tokens=128, num_beams=4, early_stopping=True)
        assert result.text == backend.tokenizer.decode(ids[0], skip_special_tokens=True).strip()


def test_generate_is_asked_for_new_tokens_and_early_stopping(backend, monkeypatch):
    """The settings reach transformers as meant: the demo model gives the same beams with and
    without early stopping, so this checks the call itself."""
    seen = []
    real = backend.model.generate

    def spy(**kwargs):
        seen.append({k: kwargs.get(k) for k in ("max_new_tokens", "max_length", "num_beams", "early_stopping")})
        return real(**kwargs)

    monkeypatch.setattr(backend.model, "generate", spy)
    backend.generate([PROBE], 60, 4)
    backend.generate([PROBE], 60, 1)
    assert seen == [{"max_new_tokens": 60, "max_length": None, "num_beams": 4, "early_stopping": True},
                    {"max_new_tokens": 60, "max_length": None, "num_beams": 1, "early_stopping": False}]


def test_sub_batched_results_equal_one_big_batch(backend, others):
    jobs = [SimplifyJob(text=text, max_new_tokens=64, num_beams=10) for text in others[:10]]
    whole = simplify_jobs(backend, jobs, token_budget=10**8)
    split = simplify_jobs(backend, jobs, token_budget=2000)  # one or two jobs per generate
    assert [r.text for r in split] == [r.text for r in whole]
    assert [r.tokens_output for r in split] == [r.tokens_output for r in whole]


# --- failure isolation (item 5) ------------------------------------------------------------------

class PoisonedBackend:
    """The real backend, except that any batch containing POISON raises, as a bad input or a
    device error would."""

    def __init__(self, real: TransformersBackend) -> None:
        self.real, self.calls = real, []

    def input_lengths(self, texts):
        return self.real.input_lengths(texts)

    def generate(self, texts, max_new_tokens, num_beams) -> list[Generation]:
        self.calls.append(len(texts))
        if "POISON" in texts:
            raise RuntimeError("this input cannot be generated")
        return self.real.generate(texts, max_new_tokens, num_beams)


def test_one_failing_job_fails_alone_and_the_rest_of_its_batch_is_served(backend, others):
    texts = others[:5] + ["POISON"] + others[5:10]
    jobs = [SimplifyJob(text=text, max_new_tokens=64, num_beams=1) for text in texts]
    poisoned = PoisonedBackend(backend)
    results = simplify_jobs(poisoned, jobs, token_budget=10**8)

    assert [i for i, r in enumerate(results) if r.error] == [5]
    assert "RuntimeError: this input cannot be generated" in results[5].error
    alone = [backend.generate([text], 64, 1)[0].text for text in texts]
    assert [r.text for i, r in enumerate(results) if i != 5] == [t for i, t in enumerate(alone) if i != 5]
    assert poisoned.calls[0] == 11 and poisoned.calls[1:] == [1] * 11  # the batch, then one by one


def test_a_failing_group_does_not_touch_other_groups(backend):
    jobs = [SimplifyJob(text="POISON", max_new_tokens=64, num_beams=1),
            SimplifyJob(text=PROBE, max_new_tokens=64, num_beams=2)]
    results = simplify_jobs(PoisonedBackend(backend), jobs, token_budget=10**8)
    assert results[0].error and results[1].error is None and "heart attack" in results[1].text
