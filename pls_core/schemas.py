"""Request and response models of the HTTP API (pydantic, no BentoML).

Field names and defaults match the users' earlier FastAPI service, so existing clients work
unchanged. Types are strict: a string where a number belongs is a 400, not a silent coercion.
Text-length limits come from the configuration (PLS_MIN_TEXT_CHARS, PLS_MAX_TEXT_CHARS), read
once when the service starts. Unknown fields are refused (a misspelt "maxlength" would otherwise
be ignored silently and the default used).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pls_core import config

# The models are classes: their limits are fixed when this module is first imported.
MIN_TEXT_CHARS = config.current().min_text_chars
MAX_TEXT_CHARS = config.current().max_text_chars


def visible_chars(text: str) -> int:
    """Characters that show: not whitespace, not format characters such as zero-width spaces,
    joiners or a byte-order mark (Unicode category Cf)."""
    return sum(1 for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")


def _has_word_character(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _not_blank(min_chars: int, need_word: bool = False):
    def check(text: str) -> str:
        if visible_chars(text) < min_chars:
            raise ValueError(f"must contain at least {min_chars} non-blank characters")
        if need_word and not _has_word_character(text):
            raise ValueError("must contain at least one letter or digit")
        return text

    return check


def _blank_as_absent(value):
    # The users' earlier service treated an empty reference as no reference.
    if isinstance(value, str) and visible_chars(value) == 0:
        return None
    return value


InputText = Annotated[
    str,
    Field(min_length=MIN_TEXT_CHARS, max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank(MIN_TEXT_CHARS, need_word=True)),
]
AnyText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_not_blank(1))]
OptionalReference = Annotated[AnyText | None, BeforeValidator(_blank_as_absent)]
MaxLength = Annotated[int, Field(
    ge=50, le=512,
    description="Most tokens generated per chunk (EOS included), passed to the model as max_new_tokens",
)]
NumBeams = Annotated[int, Field(ge=1, le=10, description="Beam-search width; 1 is greedy")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class GenerateRequest(_Strict):
    technical_text: InputText = Field(description="Technical medical text to rewrite in plain language")
    max_length: MaxLength = 256
    num_beams: NumBeams = 4
    skip_if_plain: bool = Field(False, description="Return text the classifier judges plain unchanged")


CONFIDENCE_HELP = ("How sure the model is of its output, 0-1: the geometric mean of the probabilities it gave "
                   "to the tokens it generated, over all chunks; null when nothing was generated")
LOW_CONFIDENCE_HELP = ("True when a chunk's confidence is below the model's calibrated threshold "
                       "(PLS_CONFIDENCE_THRESHOLD): the summary is probably unreliable")


class _Generated(BaseModel):
    """What /generate and /generate-with-metrics both answer about the summary."""

    generated_pls: str
    generation_time: float = Field(description="Seconds spent in the model")
    num_chunks: int
    tokens_input: int = Field(description="Tokens the model read: per chunk the task prefix, the chunk and EOS, summed")
    tokens_output: int = Field(description="Tokens the model generated: per chunk up to and including EOS, summed")
    confidence: float | None = Field(None, description=CONFIDENCE_HELP)
    chunk_confidences: list[float] = Field(default_factory=list, description="The confidence of each chunk, in order")
    low_confidence: bool = Field(False, description=LOW_CONFIDENCE_HELP)
    low_confidence_reason: str | None = Field(None, description="Why the summary is marked unreliable, in plain words")


class GenerateResponse(_Generated):
    skipped: bool = Field(False, description="True when skip_if_plain returned the text unchanged")


class ClassifyRequest(_Strict):
    text: InputText


class ClassifyResponse(BaseModel):
    is_pls: bool
    confidence: float = Field(description="Probability that the text is a plain-language summary, 0-1")
    flesch_reading_ease: float | None = Field(description="Flesch reading ease; null for a text with no words")
    flesch_kincaid_grade: float | None = Field(description="Flesch-Kincaid grade level; null for a text with no words")
    avg_word_length: float
    technical_terms_count: int
    reasoning: str


class EvaluateRequest(_Strict):
    original_text: AnyText
    generated_pls: AnyText
    reference_pls: OptionalReference = None


class EvaluateResponse(BaseModel):
    flesch_reading_ease: float | None = Field(description="Of the generated text; null when it has no words")
    flesch_kincaid_grade: float | None = Field(description="Of the generated text; null when it has no words")
    compression_ratio: float | None = Field(
        description="Generated words / original words; null when the original has none")
    word_length: int = Field(description="Words in the generated text")
    original_word_length: int = Field(description="Words in the original text")
    rouge1: float | None = Field(None, description="ROUGE-1 F-measure; only with a reference")
    rouge2: float | None = Field(None, description="ROUGE-2 F-measure; only with a reference")
    rougeL: float | None = Field(None, description="ROUGE-L F-measure; only with a reference")
    bleu: float | None = Field(None, description="sacrebleu sentence BLEU / 100; only with a reference")
    sari: float | None = Field(None, description="SARI (Xu et al. 2016), 0-1; only with a reference")


class GenerateWithMetricsRequest(_Strict):
    technical_text: InputText
    reference_pls: OptionalReference = None
    max_length: MaxLength = 256
    num_beams: NumBeams = 4


class GenerateWithMetricsResponse(_Generated):
    metrics: EvaluateResponse


class HealthResponse(BaseModel):
    status: str
    model_loaded: bool
    classifier_loaded: bool
    device: str
    model_path: str = Field(description="BentoML tag of the simplifier model being served")


# Between the API service and the simplifier runner: one chunk to simplify, and its result.
class SimplifyJob(BaseModel):
    text: str
    max_new_tokens: int
    num_beams: int
    # Which API request the chunk belongs to (a random id, nothing of the client's), and when the
    # API stops waiting for it (wall-clock seconds): the simplifier skips chunks nobody awaits.
    request_id: str | None = None
    deadline: float | None = None
    # Wall-clock seconds when the API sent the chunk: the simplifier reports its time queued.
    sent_at: float | None = None


class SimplifyResult(BaseModel):
    text: str
    tokens_input: int
    tokens_output: int
    mean_logprob: float = Field(0.0, description="Mean log-probability of the generated tokens (pls_core.confidence)")
    error: str | None = Field(None, description="Why this job failed; the other jobs of its batch are unaffected")
