"""Locust users for the PLS API: classify often, generate less, generate-with-metrics least.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:3000           # web UI
    python -m loadtests.run --host URL --profile smoke                        # headless, with SLO gates

Texts are short (one demo sentence), medium (one Cochrane abstract, one chunk) or long (three
abstracts, several chunks); generation alternates greedy and 4-beam search at random. Every
answer is checked (status, fields, num_chunks against the text's size and the token counts),
and a wrong answer counts as a failure with the reason, like an HTTP error.
Set PLS_LOADTEST_RECORD=FILE to write one JSON line per request (what `loadtests.run` reads).
A service with API keys on: PLS_API_KEY=KEY in the environment (`loadtests.run --api-key` sets
it); every request then carries `Authorization: Bearer KEY`. A 401 is a failure that says the key
is missing or wrong, and stops that user: one such failure per user, not thousands.
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import HttpUser, between, events, task
from locust.exception import StopUser

# Run as a plain file by locust: `loadtests` is the installed package (pyproject.toml).
from loadtests.checks import (
    Text,
    check_classification,
    check_generation,
    check_generation_with_metrics,
    describe_failure,
    load_texts,
    pick,
)

TEXTS = load_texts()
REQUEST_TIMEOUT_S = 300
BEAMS = (1, 4)
API_KEY = os.environ.get("PLS_API_KEY", "").strip()


def unauthorized_message() -> str:
    """What a 401 means here, without the key itself."""
    if API_KEY:
        return "HTTP 401: the service refused the API key in PLS_API_KEY (not one of its keys)"
    return "HTTP 401: the service needs an API key: set PLS_API_KEY (or loadtests.run --api-key)"


class PLSUser(HttpUser):
    abstract = True
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        self.rng = random.Random()
        if API_KEY:  # the session's headers go with every request of this user, whatever its path
            self.client.headers["Authorization"] = f"Bearer {API_KEY}"

    def post_checked(self, path: str, body: dict, check) -> None:
        with self.client.post(path, json=body, name=path, catch_response=True, timeout=REQUEST_TIMEOUT_S,
                              headers={"Content-Type": "application/json"}) as response:
            unauthorized = response.status_code == 401
            if response.status_code == 0:  # no HTTP answer at all: refused, reset, timed out
                response.failure(f"no answer: {response.error}")
            elif unauthorized:
                response.failure(unauthorized_message())
            elif response.status_code != 200:
                response.failure(describe_failure(response.status_code, response.text))
            else:
                try:
                    answer = response.json()
                except ValueError:
                    response.failure("answer is not JSON")
                else:
                    problem = check(answer)
                    if problem:
                        response.failure(f"{path}: {problem}")
        if unauthorized:
            # Every later request of this user would get the same 401: one failure saying why is enough.
            raise StopUser()


class ClassifyUser(PLSUser):
    """Checks whether a text already reads as a plain-language summary."""

    weight = 3

    @task
    def classify(self) -> None:
        text = pick(TEXTS, {"short": 2, "medium": 1}, self.rng)
        sample = self.rng.choice((text.text, text.reference))
        self.post_checked("/classify", {"text": sample}, check_classification)


class GenerateUser(PLSUser):
    """Asks for plain-language summaries of sentences, abstracts and whole sections."""

    weight = 2

    def generate(self, size: str) -> None:
        text = self.rng.choice(TEXTS[size])
        body = {"technical_text": text.text, "max_length": text.max_length, "num_beams": self.rng.choice(BEAMS)}
        self.post_checked("/generate", body, lambda answer: check_generation(answer, text))

    @task(6)
    def short(self) -> None:
        self.generate("short")

    @task(3)
    def medium(self) -> None:
        self.generate("medium")

    @task(1)
    def long(self) -> None:
        self.generate("long")


class GenerateWithMetricsUser(PLSUser):
    """Generates against a reference summary and reads the evaluation figures."""

    weight = 1

    @task
    def generate_with_metrics(self) -> None:
        text: Text = pick(TEXTS, {"short": 3, "medium": 1}, self.rng)
        body = {"technical_text": text.text, "reference_pls": text.reference,
                "max_length": text.max_length, "num_beams": self.rng.choice(BEAMS)}
        self.post_checked("/generate-with-metrics", body,
                          lambda answer: check_generation_with_metrics(answer, text))


# --- one record per request, for loadtests.run's gates, steps and capacity -------------------
RECORD_PATH = os.environ.get("PLS_LOADTEST_RECORD")
_records: list[dict] = []
_environment = None


@events.init.add_listener
def _keep_environment(environment, **_) -> None:
    global _environment
    _environment = environment


@events.test_start.add_listener
def _mark_start(environment, **_) -> None:
    _records.append({"event": "test_start", "time": time.time()})


@events.request.add_listener
def _record(request_type, name, response_time, exception, start_time=None, **_) -> None:
    if not RECORD_PATH:
        return
    runner = _environment.runner if _environment else None
    _records.append({
        "name": name,
        "start": start_time if start_time is not None else time.time() - response_time / 1000,
        "ms": response_time,
        "ok": exception is None,
        "error": None if exception is None else str(exception)[:200],
        "users": runner.user_count if runner else None,
    })


@events.quitting.add_listener
def _write_records(environment, **_) -> None:
    if RECORD_PATH:
        with open(RECORD_PATH, "w") as out:
            for record in _records:
                out.write(json.dumps(record) + "\n")
