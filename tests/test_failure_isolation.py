"""One failing job fails alone: the other requests of its batch are served (a real
`bentoml serve`, with a backend that fails on one input)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from loadtests.server import bentoml_serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def faulty_server(bento_home, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("faulty") / "bentoml.log"
    # 41 generations at once, all admitted (the default cap of 16 would refuse the rest with 503).
    with bentoml_serve(bento_home, log_path, arguments=("serve", "tests.fault_service:PLSService"),
                       PLS_MAX_LATENCY_MS="120000", PLS_MAX_INFLIGHT_GENERATIONS="0") as url:
        yield url


def test_one_failing_job_fails_only_its_own_request(faulty_server):
    from demo.corpus import build_corpus

    texts = [technical for technical, _ in build_corpus(0).heldout_combinations[:40]]
    poison = "The patient had a POISON infarction."
    bodies = [{"technical_text": text, "num_beams": 1} for text in texts[:20]] + \
             [{"technical_text": poison, "num_beams": 1}] + \
             [{"technical_text": text, "num_beams": 1} for text in texts[20:]]

    def generate(body: dict) -> httpx.Response:
        with httpx.Client(base_url=faulty_server, timeout=300) as own:
            return own.post("/generate", json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(generate, bodies))

    failed = [i for i, response in enumerate(responses) if response.status_code != 200]
    assert failed == [20], [(i, responses[i].text) for i in failed]
    error = responses[20].json()["error"]
    assert responses[20].status_code == 500
    assert "chunk 1 of 1 could not be simplified" in error and "injected failure" in error
    assert all(response.json()["generated_pls"] for i, response in enumerate(responses) if i != 20)
