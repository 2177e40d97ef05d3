"""What a correct answer of each endpoint looks like, and the texts the load test sends.

Plain Python with no locust import (locust patches the standard library with gevent when it is
imported), so the unit tests and the runner can use it too.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parent / "payloads"
MAX_INPUT_TOKENS = 512  # the simplifier's input limit per chunk, task prefix and EOS included
LONG_TEXT_ABSTRACTS = 3  # abstracts joined into one long text: always more than one chunk


@dataclass(frozen=True)
class Text:
    """One input: its size class, the text, a plain reference, and the generation budget."""

    size: str  # short | medium | long
    text: str
    reference: str
    max_length: int

    def chunk_bounds(self) -> tuple[int, int | None]:
        """How many chunks the service may cut this text into: (least, most or None)."""
        if self.size == "long":
            return 2, None
        return 1, 1


# Most tokens generated per chunk for each size: a sentence needs few, an abstract more.
MAX_LENGTH = {"short": 64, "medium": 256, "long": 256}


def load_texts(folder: Path = PAYLOADS) -> dict[str, list[Text]]:
    """The shipped payloads as texts by size: demo sentences, abstracts, joined abstracts."""
    demo = json.loads((folder / "demo.json").read_text())
    cochrane = json.loads((folder / "cochrane.json").read_text())
    short = [Text("short", item["technical"], item["plain"], MAX_LENGTH["short"]) for item in demo]
    medium = [Text("medium", item["opening"], item["plain_summary"], MAX_LENGTH["medium"]) for item in cochrane]
    long = []
    for start in range(len(cochrane)):
        picked = [cochrane[(start + k) % len(cochrane)] for k in range(LONG_TEXT_ABSTRACTS)]
        long.append(Text("long", "\n\n".join(item["abstract"] for item in picked),
                         " ".join(item["plain_summary"] for item in picked), MAX_LENGTH["long"]))
    return {"short": short, "medium": medium, "long": long}


def pick(texts: dict[str, list[Text]], weights: dict[str, int], rng: random.Random) -> Text:
    size = rng.choices(list(weights), weights=list(weights.values()))[0]
    return rng.choice(texts[size])


def _missing(body: dict, fields: dict[str, type | tuple[type, ...]]) -> str | None:
    for name, kind in fields.items():
        if name not in body:
            return f"field {name!r} missing"
        value = body[name]
        if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
            return f"field {name!r} has type {type(value).__name__}"
    return None


GENERATE_FIELDS = {"generated_pls": str, "generation_time": (int, float), "num_chunks": int,
                   "tokens_input": int, "tokens_output": int}
CLASSIFY_FIELDS = {"is_pls": bool, "confidence": (int, float), "flesch_reading_ease": (int, float),
                   "flesch_kincaid_grade": (int, float), "reasoning": str}
METRIC_FIELDS = {"flesch_reading_ease": (int, float), "compression_ratio": (int, float)}
REFERENCE_METRICS = ("rouge1", "rouge2", "rougeL", "bleu", "sari")


def check_generation(body: dict, text: Text) -> str | None:
    """None if a /generate or /generate-with-metrics answer is consistent with its request."""
    problem = _missing(body, GENERATE_FIELDS)
    if problem:
        return problem
    if body.get("skipped"):
        return "skipped although skip_if_plain was not asked for"
    if not body["generated_pls"].strip():
        return "generated_pls is empty"
    chunks, tokens_in, tokens_out = body["num_chunks"], body["tokens_input"], body["tokens_output"]
    least, most = text.chunk_bounds()
    if chunks < least or (most is not None and chunks > most):
        expected = f"{least}" if least == most else f"at least {least}"
        return f"num_chunks {chunks} for a {text.size} text, expected {expected}"
    # Each chunk is at most MAX_INPUT_TOKENS and at least one token, so the counts bound each other.
    if not math.ceil(tokens_in / MAX_INPUT_TOKENS) <= chunks <= tokens_in:
        return f"num_chunks {chunks} inconsistent with tokens_input {tokens_in}"
    if not chunks <= tokens_out <= chunks * text.max_length:
        return f"tokens_output {tokens_out} outside 1..max_length per chunk ({chunks} x {text.max_length})"
    return None


def check_generation_with_metrics(body: dict, text: Text) -> str | None:
    problem = check_generation(body, text)
    if problem:
        return problem
    metrics = body.get("metrics")
    if not isinstance(metrics, dict):
        return "field 'metrics' missing"
    problem = _missing(metrics, {**METRIC_FIELDS, **dict.fromkeys(REFERENCE_METRICS, (int, float))})
    if problem:
        return "metrics: " + problem
    outside = [name for name in REFERENCE_METRICS if not 0 <= metrics[name] <= 1]
    return f"metrics outside 0..1: {', '.join(outside)}" if outside else None


def check_classification(body: dict) -> str | None:
    problem = _missing(body, CLASSIFY_FIELDS)
    if problem:
        return problem
    if not 0 <= body["confidence"] <= 1:
        return f"confidence {body['confidence']} outside 0..1"
    # The service rounds confidence to 4 places; right at the threshold either answer is right.
    if abs(body["confidence"] - 0.5) > 1e-3 and body["is_pls"] != (body["confidence"] >= 0.5):
        return f"is_pls {body['is_pls']} contradicts confidence {body['confidence']}"
    return None


def describe_failure(status: int, body_text: str) -> str:
    """A short failure message for locust's report: status and the start of the body."""
    return f"HTTP {status}: {' '.join(body_text.split())[:160]}"
