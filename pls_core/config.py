"""Every service setting in one table, each overridable by an environment variable.

`SETTINGS` is the one list: name, environment variable, type, default, what is allowed and
what it means. The `Config` object is generated from it, `load_config` parses and validates an
environment against it, and `current()` is the process's configuration, read once on first use.
The configuration table of docs/configuration.md is printed from it (`python -m pls_core.config --markdown`)
and tests/unit/test_config.py checks the two are equal. Defaults suit a 2 vCPU / 4 GB Fargate task.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, make_dataclass

from pls_core.model_layout import CLASSIFIER_MODEL_NAME, SIMPLIFIER_MODEL_NAME

MIN_API_KEY_CHARS = 16


class ConfigError(ValueError):
    """A setting in the environment has a value the service cannot use."""


@dataclass(frozen=True)
class Kind:
    """How a setting's text becomes a value: `parse(env, raw)` returns it or raises ConfigError
    saying what is allowed."""
    type_name: str  # the table's Type column
    python_type: object  # the Config field's type
    allowed: str  # the table's Allowed column
    parse: Callable[[str, str], object]


@dataclass(frozen=True)
class Setting:
    name: str  # attribute of the Config object
    env: str  # environment variable
    kind: Kind
    default: str  # as it would be written in the environment
    meaning: str
    secret: bool = False  # never in a repr, a log line or an error message

    def parse(self, raw: str) -> object:
        return self.kind.parse(self.env, raw)


# --- kinds -----------------------------------------------------------------------------------

def integer(low: int, high: int) -> Kind:
    def parse(env: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{env}={raw!r} is not an integer (allowed: {low}..{high})") from None
        if not low <= value <= high:
            raise ConfigError(f"{env}={value} is outside {low}..{high}")
        return value

    return Kind("integer", int, f"{low}..{high}", parse)


def choice(*options: str) -> Kind:
    def parse(env: str, raw: str) -> str:
        if raw not in options:
            raise ConfigError(f"{env}={raw!r} must be one of {', '.join(options)}")
        return raw

    return Kind("choice", str, ", ".join(f"`{option}`" for option in options), parse)


def _non_empty_text(env: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{env} must not be empty")
    return raw


# An origin as browsers send it: scheme and host, an optional port, no path, no trailing slash.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _parse_origins(env: str, raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"{env}: {origin!r} is not an origin like https://example.org or http://host:8080")
    return origins


def _parse_threshold(env: str, raw: str) -> float | None:
    if raw == "model":
        return None  # the threshold calibrated into the model
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} must be `model` or a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{env}={value} is outside 0..1")
    return value


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


def _parse_bool(env: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ConfigError(f"{env}={raw!r} is not `true` or `false`")


TEXT = Kind("text", str, "not empty", _non_empty_text)
BOOL = Kind("boolean", bool, "`true` or `false`", _parse_bool)


def _parse_url(env: str, raw: str) -> str:
    value = raw.strip()
    if value and not (value.startswith(("http://", "https://")) and len(value) > len("https://")):
        raise ConfigError(f"{env}={raw!r} is not an http:// or https:// URL")
    return value


URL = Kind("url", str, "`http(s)://...`, or empty", _parse_url)
PATH = Kind("path", str, "a file, or empty", lambda env, raw: raw.strip())
ORIGINS = Kind("list", tuple[str, ...], "`https://host[:port]`, comma-separated; `*`; or empty", _parse_origins)
API_KEYS = Kind("list", tuple[str, ...], f"keys of {MIN_API_KEY_CHARS}+ printable ASCII characters, "
                "comma-separated; or empty", parse_api_keys)
THRESHOLD = Kind("number", float | None, "`model` or 0..1", _parse_threshold)


# --- the table -------------------------------------------------------------------------------
# Order is the table's order (docs/configuration.md).
_TABLE = (
    Setting("simplifier_tag", "PLS_SIMPLIFIER_TAG", TEXT, f"{SIMPLIFIER_MODEL_NAME}:latest",
            "BentoML model tag of the T5 simplifier"),
    Setting("classifier_tag", "PLS_CLASSIFIER_TAG", TEXT, f"{CLASSIFIER_MODEL_NAME}:latest",
            "BentoML model tag of the PLS classifier"),
    Setting("device", "PLS_DEVICE", choice("auto", "cpu", "cuda"), "auto",
            "Where the simplifier runs: `auto` = CUDA when available, else CPU"),
    Setting("simplifier_backend", "PLS_SIMPLIFIER_BACKEND", choice("ctranslate2", "transformers"), "ctranslate2",
            "Generation engine of the simplifier: `ctranslate2` (converted at import, several times faster "
            "on CPU) or `transformers`"),
    Setting("ct2_compute_type", "PLS_CT2_COMPUTE_TYPE",
            choice("auto", "int8", "int8_float32", "int8_float16", "float16", "bfloat16", "float32"), "auto",
            "CTranslate2 compute type; `auto` = `int8` on CPU, `float16` on CUDA"),
    Setting("ct2_inter_threads", "PLS_CT2_INTER_THREADS", integer(0, 64), "0",
            "CTranslate2 on CPU: replicas per simplifier worker (one copy of the weights), each running a "
            "sub-batch in parallel with `PLS_TORCH_THREADS` threads; 0 = the worker's CPU share / those threads "
            "(2 replicas of 1 thread on a 2-vCPU task)"),
    Setting("ct2_sub_batch", "PLS_CT2_SUB_BATCH", integer(0, 256), "0",
            "CTranslate2: most rows in one sub-batch of a runner batch; 0 = the batch split evenly over the replicas"),
    Setting("max_batch_size", "PLS_MAX_BATCH_SIZE", integer(0, 256), "0",
            "Largest adaptive batch a runner forms (chunks or texts); 1 turns batching off; 0 = the best "
            "measured on 2 vCPUs: 16 for the classifier and the CTranslate2 simplifier, 8 for the "
            "transformers simplifier"),
    Setting("max_latency_ms", "PLS_MAX_LATENCY_MS", integer(1, 600_000), "10000",
            "Latency budget of a runner batch; requests beyond it are refused with 503 and `Retry-After` (a "
            "queued generation starts within 10 s or is refused; raise it for a model whose batches take longer)"),
    Setting("simplifier_workers", "PLS_SIMPLIFIER_WORKERS", integer(1, 64), "1",
            "Worker processes of the simplifier runner"),
    Setting("classifier_workers", "PLS_CLASSIFIER_WORKERS", integer(1, 64), "1",
            "Worker processes of the classifier runner"),
    Setting("api_workers", "PLS_API_WORKERS", integer(1, 64), "1", "Worker processes of the HTTP API service"),
    Setting("torch_threads", "PLS_TORCH_THREADS", integer(0, 256), "0",
            "Intra-op threads per simplifier worker (torch), or per CTranslate2 replica; 0 = CPU share / workers "
            "(torch), 1 (CTranslate2 on CPU)"),
    Setting("request_timeout_s", "PLS_REQUEST_TIMEOUT_S", integer(1, 3600), "120",
            "Seconds a request may take before BentoML answers 504/503"),
    Setting("max_text_chars", "PLS_MAX_TEXT_CHARS", integer(100, 1_000_000), "20000",
            "Longest text accepted by any endpoint"),
    Setting("min_text_chars", "PLS_MIN_TEXT_CHARS", integer(1, 1000), "10",
            "Shortest text accepted by /generate and /classify (below `PLS_MAX_TEXT_CHARS`)"),
    Setting("cors_origins", "PLS_CORS_ORIGINS", ORIGINS, "",
            "Origins whose pages may call the API from a browser; empty = same origin only"),
    Setting("generation_token_budget", "PLS_GENERATION_TOKEN_BUDGET", integer(0, 100_000_000), "0",
            "Most chunks × beams × (input tokens + `max_length`) in one `generate` call: bounds the "
            "simplifier's memory; a bigger group runs in sub-batches. `0` scales it to the model's shape "
            "(decoder layers × heads × head size): 16384 for a T5-base, which stays within a 4 GB task, "
            "49152 for a t5-small"),
    Setting("confidence_threshold", "PLS_CONFIDENCE_THRESHOLD", THRESHOLD, "model",
            "Summaries with a chunk whose confidence (0-1) is below this are marked `low_confidence`; "
            "`model` = the threshold calibrated into the simplifier's `metrics.json` at build time (a model "
            "without one marks nothing)"),
    # Access control and request limits (pls_core/http_guard.py).
    Setting("api_keys", "PLS_API_KEYS", API_KEYS, "",
            "API keys; set = every endpoint except the page, the probes and the docs needs a key "
            "(see [Access control](#access-control))", secret=True),
    Setting("api_keys_file", "PLS_API_KEYS_FILE", PATH, "",
            "File with more API keys, one a line (`#` comments); keys from both are accepted"),
    Setting("max_body_bytes", "PLS_MAX_BODY_BYTES", integer(1024, 100_000_000), "1048576",
            "Largest request body; a bigger one is refused with 413 before it is read"),
    Setting("max_inflight_generations", "PLS_MAX_INFLIGHT_GENERATIONS", integer(0, 10_000), "32",
            "Work one API worker admits at once, in standard generations (1 chunk × 4 beams × 256 tokens): a "
            "generation counts chunks × `num_beams` × `max_length` / 1024, `/classify` and `/evaluate` a small "
            "share by their length; a request that does not fit is refused at once with 503 and `Retry-After`, "
            "one bigger than the whole runs alone; 0 = no cap. 32 holds the locust steady profile's 16 users at "
            "their costliest (see [Errors between services under load](#errors-between-services-under-load))"),
    Setting("chunks_in_flight", "PLS_CHUNKS_IN_FLIGHT", integer(0, 1024), "8",
            "Most chunks of one request queued or generating in the simplifier at once; the next goes when one "
            "is done, so a short request waits behind at most this many chunks of each long one; 0 = all at once"),
    Setting("retry_after_s", "PLS_RETRY_AFTER_S", integer(1, 3600), "5",
            "Seconds a refused client is told to wait (`Retry-After`)"),
    Setting("warmup", "PLS_WARMUP", BOOL, "true",
            "Before `/readyz` first says ready, each runner serves a few small generations and "
            "classifications, so a new task's first users do not pay the first-call costs"),
    # Observability (runners/emf.py, runners/tracing.py).
    Setting("emf_metrics", "PLS_EMF_METRICS", BOOL, "false",
            "Write the service's own metrics as CloudWatch Embedded Metric Format records on stdout "
            "(Terraform turns it on on ECS)"),
    Setting("metrics_namespace", "PLS_METRICS_NAMESPACE", TEXT, "PLS/Service",
            "CloudWatch namespace of those metrics"),
    Setting("metrics_service", "PLS_METRICS_SERVICE", TEXT, "pls-service",
            "Value of their `Service` dimension (Terraform sets the stack name)"),
    Setting("emf_flush_s", "PLS_EMF_FLUSH_S", integer(1, 3600), "60",
            "Seconds between two metric records of one process (one record per dimension set)"),
    Setting("otlp_endpoint", "PLS_OTLP_ENDPOINT", URL, "",
            "OTLP/HTTP endpoint (e.g. `http://localhost:4318/v1/traces`) that receives BentoML's "
            "OpenTelemetry traces; empty = tracing off"),
)
SETTINGS: dict[str, Setting] = {setting.name: setting for setting in _TABLE}

Config = make_dataclass(
    "Config",
    # Secrets stay out of the repr, so never in a log line or a traceback.
    [(s.name, s.kind.python_type, field(repr=not s.secret)) for s in _TABLE],
    frozen=True,
    namespace={"__doc__": "The service's settings, one attribute per entry of SETTINGS, parsed and validated."},
)
Config.__module__ = __name__


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the settings from `environ` (default: the process environment), validated."""
    environ = os.environ if environ is None else environ
    config = Config(**{s.name: s.parse(environ.get(s.env, s.default)) for s in _TABLE})
    if config.min_text_chars >= config.max_text_chars:
        raise ConfigError(f"PLS_MIN_TEXT_CHARS={config.min_text_chars} must be smaller than "
                          f"PLS_MAX_TEXT_CHARS={config.max_text_chars}")
    return config


@functools.cache
def current() -> Config:
    """This process's configuration: read from the environment on first use, then kept.
    A test that changes the environment calls `current.cache_clear()`."""
    return load_config()


# PLS_MAX_BATCH_SIZE=0: the batch with the best throughput measured on 2 vCPUs (docs/BENCHMARKS.md):
# CTranslate2 kept gaining up to 16; transformers peaked at 8 with 4 beams and lost half its
# throughput at 16 (beam-search caches outgrow the CPU caches).
AUTO_BATCH_SIZE = 16
AUTO_SIMPLIFIER_BATCH_SIZE = {"ctranslate2": 16, "transformers": 8}


def simplifier_batch_size(config: Config) -> int:
    return config.max_batch_size or AUTO_SIMPLIFIER_BATCH_SIZE[config.simplifier_backend]


def runner_batching(config: Config, max_batch_size: int | None = None) -> dict:
    """`@bentoml.api` options of a runner's batched method: adaptive batching up to
    `max_batch_size` (default PLS_MAX_BATCH_SIZE, 0 = AUTO_BATCH_SIZE) within PLS_MAX_LATENCY_MS;
    a batch size of 1 turns it off."""
    size = max_batch_size or config.max_batch_size or AUTO_BATCH_SIZE
    if size <= 1:
        return {"batchable": False}
    return {"batchable": True, "max_batch_size": size, "max_latency_ms": config.max_latency_ms}


def service_traffic(config: Config) -> dict:
    """`@bentoml.service(traffic=...)` of every service: one request timeout for all three."""
    return {"timeout": config.request_timeout_s}


# --- the table of docs/configuration.md ----------------------------------------------------------------------

def _code(text: str) -> str:
    return "`` `` (empty)" if text == "" else f"`{text}`"


def markdown_table() -> str:
    """The configuration table of docs/configuration.md, one row per setting."""
    rows = ["| Variable | Type | Default | Allowed | Meaning |", "|---|---|---|---|---|"]
    for s in _TABLE:
        rows.append(f"| `{s.env}` | {s.kind.type_name} | {_code(s.default)} | {s.kind.allowed} | {s.meaning} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The service's settings (pls_core/config.py).")
    parser.add_argument("--markdown", action="store_true", help="print the configuration table (docs/configuration.md)")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
        return 0
    try:
        config = load_config()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
