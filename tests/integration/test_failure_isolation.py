"""One failing job fails alone: the other requests of its batch are served (the shared
`bentoml serve`, whose simplifier backend fails any batch holding the word POISON)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from demo.corpus import build_corpus
from tests.support.shared_server import POISON

pytestmark = pytest.mark.timeout(900)

# At most the default admission cap (16 generations in flight): all admitted, batched together.
CONCURRENT = 16


def test_one_failing_job_fails_only_its_own_request(server: str) -> None:
    texts = [technical for technical, _ in build_corpus(0).heldout_combinations[:30]]
    poison = f"The patient had a {POISON} infarction."
    bodies = [{"technical_text": text, "num_beams": 1} for text in texts[:15]] + \
             [{"technical_text": poison, "num_beams": 1}] + \
             [{"technical_text": text, "num_beams": 1} for text in texts[15:]]

    def generate(body: dict) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=300) as own:
            return own.post("/generate", json=body)

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        responses = list(pool.map(generate, bodies))

    failed = [i for i, response in enumerate(responses) if response.status_code != 200]
    assert failed == [15], [(i, responses[i].status_code, responses[i].text[:200]) for i in failed]
    error = responses[15].json()["error"]
    assert responses[15].status_code == 500
    # Which chunk failed, never the backend's message (the log has it: tests/integration/test_hostile_input.py).
    assert error == "chunk 1 of 1 could not be simplified"
    assert all(response.json()["generated_pls"] for i, response in enumerate(responses) if i != 15)
