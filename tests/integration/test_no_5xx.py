"""No 5xx under sustained concurrent load, and a lost runner connection is a 503, not a 500.

BentoML 1.4.40's inter-service client replaced its connection session every 100 requests while
requests were in flight on it: under concurrent load the API answered 500
(`ServerDisconnectedError`) to a burst of requests each time either runner passed another 100
calls. The load test below sends well over 100 requests to each runner, 16 at a time.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

USERS = 16
REQUESTS_PER_RUNNER = 160  # > the 100 at which BentoML's default recycles the session


def _load(server: str) -> tuple[Counter, list]:
    """REQUESTS_PER_RUNNER calls through each runner, USERS at a time; status codes counted."""
    bodies = [("/generate", {"technical_text": f"The patient had a myocardial infarction {i}.",
                             "num_beams": 1, "max_length": 50}) for i in range(REQUESTS_PER_RUNNER)]
    bodies += [("/classify", {"text": f"The patient had a heart attack {i}."}) for i in range(REQUESTS_PER_RUNNER)]
    bodies = bodies[::2] + bodies[1::2]  # both runners busy at the same time

    def send(chunk):
        statuses = []
        with httpx.Client(base_url=server, timeout=300) as client:
            for path, body in chunk:
                response = client.post(path, json=body)
                failed = response.status_code >= 500
                statuses.append((path, response.status_code, response.text[:200] if failed else ""))
        return statuses

    chunks = [bodies[i::USERS] for i in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        results = [item for statuses in pool.map(send, chunks) for item in statuses]
    return Counter((path, status) for path, status, _ in results), [r for r in results if r[1] >= 500]


@pytest.mark.timeout(600)
def test_sustained_concurrent_load_gets_no_5xx(server):
    counts, failures = _load(server)
    assert not failures, f"{len(failures)} answers were 5xx: {counts}; first: {failures[:3]}"
    assert counts[("/generate", 200)] == REQUESTS_PER_RUNNER
    assert counts[("/classify", 200)] == REQUESTS_PER_RUNNER
