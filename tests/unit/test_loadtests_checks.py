"""The locust suite's answer checks (loadtests/checks.py): what a consistent generation,
evaluation and classification answer is, and the payloads it sends."""

from __future__ import annotations

import json

import pytest

from loadtests.checks import (
    MAX_INPUT_TOKENS,
    PAYLOADS,
    Text,
    check_classification,
    check_generation,
    check_generation_with_metrics,
    load_texts,
)

SHORT = Text("short", "The patient had a myocardial infarction.", "The patient had a heart attack.", 64)
LONG = Text("long", "x" * 4000, "y", 256)


def answer(**changes) -> dict:
    body = {"generated_pls": "The patient had a heart attack.", "generation_time": 0.1, "num_chunks": 1,
            "tokens_input": 20, "tokens_output": 9, "skipped": False}
    return {**body, **changes}


def test_a_consistent_generation_passes():
    assert check_generation(answer(), SHORT) is None
    assert check_generation(answer(num_chunks=3, tokens_input=1400, tokens_output=300), LONG) is None


@pytest.mark.parametrize("changes, text, reason", [
    ({"num_chunks": 2, "tokens_input": 600}, SHORT, "num_chunks 2 for a short text, expected 1"),
    ({"num_chunks": 1, "tokens_input": 500}, LONG, "num_chunks 1 for a long text, expected at least 2"),
    ({"num_chunks": 2, "tokens_input": 1500}, LONG, "num_chunks 2 inconsistent with tokens_input 1500"),
    ({"tokens_output": 65}, SHORT, "tokens_output 65 outside"),
    ({"tokens_output": 0}, SHORT, "tokens_output 0 outside"),
    ({"generated_pls": "  "}, SHORT, "generated_pls is empty"),
    ({"skipped": True}, SHORT, "skipped although"),
    ({"num_chunks": "1"}, SHORT, "field 'num_chunks' has type str"),
])
def test_an_inconsistent_generation_is_named(changes, text, reason):
    assert reason in check_generation(answer(**changes), text)


def test_a_missing_field_is_named():
    body = answer()
    del body["tokens_input"]
    assert check_generation(body, SHORT) == "field 'tokens_input' missing"


def test_generation_with_metrics_needs_reference_metrics_in_range():
    metrics = {"flesch_reading_ease": 80.0, "compression_ratio": 0.9, "rouge1": 0.5, "rouge2": 0.2,
               "rougeL": 0.4, "bleu": 0.3, "sari": 0.4}
    assert check_generation_with_metrics(answer(metrics=metrics), SHORT) is None
    out_of_range = answer(metrics={**metrics, "bleu": 30.0})
    assert check_generation_with_metrics(out_of_range, SHORT) == "metrics outside 0..1: bleu"
    assert "'sari' missing" in check_generation_with_metrics(
        answer(metrics={k: v for k, v in metrics.items() if k != "sari"}), SHORT)
    assert check_generation_with_metrics(answer(), SHORT) == "field 'metrics' missing"


def test_classification_checks():
    good = {"is_pls": True, "confidence": 0.9, "flesch_reading_ease": 70.0, "flesch_kincaid_grade": 6.0,
            "reasoning": "plain"}
    assert check_classification(good) is None
    assert "contradicts" in check_classification({**good, "is_pls": False})
    assert "outside 0..1" in check_classification({**good, "confidence": 1.5})
    assert check_classification({**good, "is_pls": 1}) == "field 'is_pls' has type int"


def test_payloads_ship_small_with_their_attribution():
    texts = load_texts()
    assert {size: len(items) >= 8 for size, items in texts.items()} == {"short": True, "medium": True, "long": True}
    # Long texts must be cut into chunks by any T5 tokenizer (several characters per token at most).
    assert min(len(t.text) for t in texts["long"]) > 4 * MAX_INPUT_TOKENS
    assert max(len(t.text) for t in texts["medium"]) <= 1600
    assert sum(p.stat().st_size for p in PAYLOADS.glob("*.json")) < 64_000
    assert "Attribution 4.0 International" in (PAYLOADS / "LICENSE.md").read_text()
    attribution = (PAYLOADS / "ATTRIBUTION.md").read_text()
    assert "Devaraj" in attribution
    dois = [item["doi"] for item in json.loads((PAYLOADS / "cochrane.json").read_text())]
    assert all(doi.startswith("10.1002/14651858.") for doi in dois)
