"""Every service setting in one place, each overridable by an environment variable.

The README's configuration table lists the same settings; tests/test_config.py keeps the two
in step. Defaults suit a 2 vCPU / 4 GB Fargate task.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields

from pls_core.model_layout import CLASSIFIER_MODEL_NAME, SIMPLIFIER_MODEL_NAME

# Fixed by the image and the Terraform module: not settings.
SERVICE_PORT = 3000
HEALTH_PATH = "/readyz"


class ConfigError(ValueError):
    """A setting in the environment has a value the service cannot use."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


# name -> (environment variable, default, meaning). Order is the README table's order.
SETTINGS: dict[str, Setting] = {
    "simplifier_tag": Setting("PLS_SIMPLIFIER_TAG", f"{SIMPLIFIER_MODEL_NAME}:latest",
                              "BentoML model tag of the T5 simplifier"),
    "classifier_tag": Setting("PLS_CLASSIFIER_TAG", f"{CLASSIFIER_MODEL_NAME}:latest",
                              "BentoML model tag of the PLS classifier"),
    "device": Setting("PLS_DEVICE", "auto",
                      "`auto` (CUDA when available, else CPU), `cpu` or `cuda`"),
    "simplifier_backend": Setting("PLS_SIMPLIFIER_BACKEND", "ctranslate2",
                                  "`ctranslate2` (converted at import, several times faster on CPU) or `transformers`"),
    "ct2_compute_type": Setting("PLS_CT2_COMPUTE_TYPE", "auto",
                                "CTranslate2 compute type: `auto` (`int8` on CPU, `float16` on CUDA), `int8`, "
                                "`int8_float32`, `int8_float16`, `float16`, `bfloat16` or `float32`"),
    "max_batch_size": Setting("PLS_MAX_BATCH_SIZE", "16",
                              "Largest adaptive batch a runner forms (chunks or texts); 1 turns batching off"),
    "max_latency_ms": Setting("PLS_MAX_LATENCY_MS", "10000",
                              "Latency budget of a runner batch; requests beyond it are refused with 503"),
    "simplifier_workers": Setting("PLS_SIMPLIFIER_WORKERS", "1", "Worker processes of the simplifier runner"),
    "classifier_workers": Setting("PLS_CLASSIFIER_WORKERS", "1", "Worker processes of the classifier runner"),
    "api_workers": Setting("PLS_API_WORKERS", "1", "Worker processes of the HTTP API service"),
    "torch_threads": Setting("PLS_TORCH_THREADS", "0",
                             "Intra-op threads per simplifier worker (torch or CTranslate2); 0 = CPU share / workers"),
    "request_timeout_s": Setting("PLS_REQUEST_TIMEOUT_S", "120",
                                 "Seconds a request may take before BentoML answers 504/503"),
    "max_text_chars": Setting("PLS_MAX_TEXT_CHARS", "20000", "Longest text accepted by any endpoint"),
    "min_text_chars": Setting("PLS_MIN_TEXT_CHARS", "10", "Shortest text accepted by /generate and /classify"),
    "cors_origins": Setting("PLS_CORS_ORIGINS", "",
                            "Comma-separated origins (`https://host[:port]`) whose pages may call the API "
                            "from the browser; empty = same origin only"),
    "generation_token_budget": Setting(
        "PLS_GENERATION_TOKEN_BUDGET", "16384",
        "Most chunks x beams x (input tokens + `max_length`) one `generate` call holds; bounds the "
        "simplifier's memory (16384 keeps a T5-base within a 4 GB task)"),
    "confidence_threshold": Setting(
        "PLS_CONFIDENCE_THRESHOLD", "model",
        "Summaries whose confidence (per chunk, 0-1) is below this are marked `low_confidence`; "
        "`model` = the threshold calibrated into the model's metrics.json (none there: nothing is marked)"),
    # Access control and request limits (pls_core/http_guard.py).
    "api_keys": Setting("PLS_API_KEYS", "",
                        "Comma-separated API keys (16+ characters each); set = every endpoint except the "
                        "page, the probes and the docs needs `Authorization: Bearer KEY` or `X-API-Key: KEY`"),
    "api_keys_file": Setting("PLS_API_KEYS_FILE", "",
                             "File with more API keys, one a line (`#` comments); keys from both are accepted"),
    "max_body_bytes": Setting("PLS_MAX_BODY_BYTES", "1048576",
                              "Largest request body; a bigger one is refused with 413 before it is read"),
    "max_inflight_generations": Setting("PLS_MAX_INFLIGHT_GENERATIONS", "16",
                                        "Generation requests (/generate, /generate-with-metrics) one API worker "
                                        "runs at once; more are refused at once with 503 and Retry-After; 0 = no cap"),
    "retry_after_s": Setting("PLS_RETRY_AFTER_S", "5", "Seconds a refused client is told to wait (Retry-After)"),
}

_INT_SETTINGS = {
    "max_batch_size": (1, 256),
    "max_latency_ms": (1, 600_000),
    "simplifier_workers": (1, 64),
    "classifier_workers": (1, 64),
    "api_workers": (1, 64),
    "torch_threads": (0, 256),
    "request_timeout_s": (1, 3600),
    "max_text_chars": (100, 1_000_000),
    "min_text_chars": (1, 1000),
    "generation_token_budget": (256, 100_000_000),
    "max_body_bytes": (1024, 100_000_000),
    "max_inflight_generations": (0, 10_000),
    "retry_after_s": (1, 3600),
}
_DEVICES = ("auto", "cpu", "cuda")
# An origin as browsers send it: scheme and host, an optional port, no path, no trailing slash.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _parse_origins(env: str, raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"{env}: {origin!r} is not an origin like https://example.org or http://host:8080")
    return origins
_CHOICES = {
    "device": _DEVICES,
    "simplifier_backend": ("ctranslate2", "transformers"),
    "ct2_compute_type": ("auto", "int8", "int8_float32", "int8_float16", "float16", "bfloat16", "float32"),
}


@dataclass(frozen=True)
class Config:
    simplifier_tag: str
    classifier_tag: str
    device: str
    simplifier_backend: str
    ct2_compute_type: str
    max_batch_size: int
    max_latency_ms: int
    simplifier_workers: int
    classifier_workers: int
    api_workers: int
    torch_threads: int
    request_timeout_s: int
    max_text_chars: int
    min_text_chars: int
    cors_origins: tuple[str, ...]
    generation_token_budget: int
    confidence_threshold: float | None  # None: take the model's calibrated threshold
    api_keys: tuple[str, ...] = field(repr=False)  # secrets: never in a log line or traceback
    api_keys_file: str
    max_body_bytes: int
    max_inflight_generations: int
    retry_after_s: int


def _parse_threshold(env: str, raw: str) -> float | None:
    if raw == "model":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} must be `model` or a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{env}={value} is outside 0..1")
    return value


MIN_API_KEY_CHARS = 16


def parse_api_keys(source: str, raw: str) -> tuple[str, ...]:
    """Keys separated by commas or new lines; `#` starts a comment line. Short keys are refused."""
    keys = []
    for line in raw.splitlines():
        if line.strip().startswith("#"):
            continue
        keys.extend(key.strip() for key in line.split(",") if key.strip())
    for number, key in enumerate(keys, start=1):
        # The key itself is never echoed: the message names only its position.
        if len(key) < MIN_API_KEY_CHARS:
            raise ConfigError(f"{source}: key {number} is shorter than {MIN_API_KEY_CHARS} characters")
        if not key.isascii() or not key.isprintable():
            raise ConfigError(f"{source}: key {number} must be printable ASCII")
    return tuple(keys)


def _parse(name: str, raw: str) -> object:
    env = SETTINGS[name].env
    if name in _INT_SETTINGS:
        low, high = _INT_SETTINGS[name]
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{env}={raw!r} is not an integer") from None
        if not low <= value <= high:
            raise ConfigError(f"{env}={value} is outside {low}..{high}")
        return value
    if name == "cors_origins":
        return _parse_origins(env, raw)
    if name == "confidence_threshold":
        return _parse_threshold(env, raw)
    if name == "api_keys":
        return parse_api_keys(env, raw)
    if name == "api_keys_file":
        return raw.strip()
    if name in _CHOICES:
        if raw not in _CHOICES[name]:
            raise ConfigError(f"{env}={raw!r} must be one of {', '.join(_CHOICES[name])}")
        return raw
    if not raw.strip():
        raise ConfigError(f"{env} must not be empty")
    return raw


def load_config(environ: dict[str, str] | None = None) -> Config:
    """Read the settings from `environ` (default: the process environment), validated."""
    environ = os.environ if environ is None else environ
    values = {
        f.name: _parse(f.name, environ.get(SETTINGS[f.name].env, SETTINGS[f.name].default))
        for f in fields(Config)
    }
    config = Config(**values)
    if config.min_text_chars >= config.max_text_chars:
        raise ConfigError("PLS_MIN_TEXT_CHARS must be smaller than PLS_MAX_TEXT_CHARS")
    return config
