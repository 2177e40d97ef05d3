"""Sustained load with no think time: any answer but 200 is a failure.

    locust -f loadtests/locust_no_errors.py --headless -u 16 -r 4 -t 10m --host http://127.0.0.1:3000

Mostly /generate on the first 80 words of real abstracts (200-350 tokens with the task prefix,
64 new tokens, 4 beams), with /classify and /generate-with-metrics mixed in so the API process's
own CPU work (tokenizing, metrics) runs alongside generation. PLS_API_KEY=KEY in the environment
sends `Authorization: Bearer KEY` (a service with API keys on).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import FastHttpUser, constant, task

COCHRANE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cochrane" / "val.source"
FALLBACK = ["The patient had a myocardial infarction and was administered an analgesic orally. " * 8]
ABSTRACTS = ([" ".join(line.split()[:80]) for line in COCHRANE.read_text().splitlines()]
             if COCHRANE.is_file() else FALLBACK)
TIMEOUT_S = 300
API_KEY = os.environ.get("PLS_API_KEY", "").strip()
HEADERS = {"Content-Type": "application/json", **({"Authorization": f"Bearer {API_KEY}"} if API_KEY else {})}


class SustainedUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def _post(self, path: str, body: dict) -> None:
        with self.client.post(path, json=body, name=path, catch_response=True, headers=HEADERS) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")

    @task(6)
    def generate(self) -> None:
        self._post("/generate", {"technical_text": random.choice(ABSTRACTS), "max_length": 64, "num_beams": 4})

    @task(2)
    def classify(self) -> None:
        self._post("/classify", {"text": random.choice(ABSTRACTS)})

    @task(1)
    def generate_with_metrics(self) -> None:
        text = random.choice(ABSTRACTS)
        self._post("/generate-with-metrics",
                   {"technical_text": text, "reference_pls": text[:200], "max_length": 64, "num_beams": 4})
