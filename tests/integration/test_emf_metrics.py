"""The service's own metrics leave the process as CloudWatch Embedded Metric Format records on
stdout (runners/emf.py), checked record by record against the requests a real `bentoml serve`
was sent: answered, refused (400), failed (500), shed (503 at capacity) and unavailable (503: the
simplifier's worker killed mid-request). Off by default: the shared server writes none."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from loadtests.server import bentoml_serve
from pls_core.metric_names import METRICS, NAMESPACE, OUTCOMES
from tests.support.shared_server import FAULTY_SERVICE

pytestmark = pytest.mark.timeout(600)

TEXT = "Patients with hypertension were administered an analgesic orally."
REAL = "The overall pooled effect size was small and not statistically significant (risk ratio 1.96)."
# About 27 chunks of up to 512 tokens with 2 beams: seconds in the simplifier (the gauges, sampled
# every second, see it), and far more than the capacity of 1 standard generation: it runs alone.
LONG = {"technical_text": ("x, " * 6667)[:20_000], "num_beams": 2, "max_length": 512}


def records(log: Path) -> list[dict]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if '"_aws"' in line:
            found.append(json.loads(line[line.index("{"):]))
    return found


def metric_values(record: dict) -> dict[str, list[float]]:
    names = [m["Name"] for block in record["_aws"]["CloudWatchMetrics"] for m in block["Metrics"]]
    return {name: record[name] if isinstance(record[name], list) else [record[name]] for name in names}


@pytest.fixture(scope="module")
def served(bento_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict]]:
    """A serve with the metrics on (a record a second), room for one default generation, and what
    the test sent it: the statuses per endpoint, and the 200 summaries' low_confidence flags."""
    log = tmp_path_factory.mktemp("emf") / "bentoml.log"
    sent: dict = {"statuses": Counter(), "low_confidence": [], "texts": [TEXT, REAL]}
    with bentoml_serve(bento_home, log, arguments=("serve", FAULTY_SERVICE), PLS_EMF_METRICS="true",
                       PLS_EMF_FLUSH_S="1", PLS_METRICS_SERVICE="emf-test", PLS_MAX_INFLIGHT_GENERATIONS="1",
                       PLS_MAX_LATENCY_MS="120000") as url:
        with httpx.Client(base_url=url, timeout=120) as http:
            def post(path: str, body: dict) -> httpx.Response:
                answer = http.post(path, json=body)
                sent["statuses"][path, answer.status_code] += 1
                if path == "/generate" and answer.status_code == 200:
                    sent["low_confidence"].append(answer.json()["low_confidence"])
                return answer

            post("/generate", {"technical_text": TEXT, "num_beams": 1})
            post("/generate", {"technical_text": REAL, "num_beams": 1})
            post("/generate", {"technical_text": "short"})  # 400: too short
            post("/generate", {"technical_text": "POISON in this text fails its chunk."})  # 500
            for _ in range(12):
                post("/classify", {"text": TEXT})
            serve = next(p for p in psutil.process_iter(["cmdline"])
                         if "serve" in (p.info["cmdline"] or []) and url.rsplit(":", 1)[1] in (p.info["cmdline"] or []))
            worker = next(c for c in serve.children(recursive=True)
                          if "pls-simplifier-runner" in " ".join(c.cmdline()))

            def start_long_and_wait_until_generating() -> threading.Thread:
                busy_before = sum(worker.cpu_times()[:2])
                thread = threading.Thread(target=post, args=("/generate", LONG))
                thread.start()
                deadline = time.monotonic() + 60
                while sum(worker.cpu_times()[:2]) - busy_before < 0.3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                return thread

            # Shed: a small generation while a long one (alone more than the capacity) runs.
            long_one = start_long_and_wait_until_generating()
            post("/generate", {"technical_text": TEXT, "num_beams": 1})
            long_one.join()
            # A killed process loses what it aggregated since its last record: let the simplifier
            # write its batches' record first.
            time.sleep(2.5)
            # Unavailable: the simplifier's worker killed while a request waits for it.
            waiting = start_long_and_wait_until_generating()
            os.kill(worker.pid, signal.SIGKILL)
            waiting.join()
            time.sleep(3)  # a flush or two after the last answer
        yield url, log, sent


def test_requests_are_counted_by_endpoint_and_outcome(served) -> None:
    _, log, sent = served
    counted: Counter = Counter()
    for record in records(log):
        if "Requests" in record:
            assert record["Service"] == "emf-test" and record["Outcome"] in OUTCOMES
            counted[record["Endpoint"], record["Outcome"]] += sum(metric_values(record)["Requests"])
    statuses = sent["statuses"]
    assert counted["/generate", "2xx"] == statuses["/generate", 200] >= 2
    assert counted["/generate", "4xx"] == statuses["/generate", 400] == 1
    assert counted["/generate", "5xx"] == statuses["/generate", 500] == 1
    assert counted["/classify", "2xx"] == 12
    # The small generation beside the long one was shed; the one whose runner died was unavailable.
    assert counted["/generate", "shed"] == 1
    assert counted["/generate", "unavailable"] == 1, counted
    assert counted["/generate", "shed"] + counted["/generate", "unavailable"] == statuses["/generate", 503]


def test_summaries_latency_batches_and_work_in_flight(served) -> None:
    _, log, sent = served
    totals: dict[str, list[float]] = {}
    for record in records(log):
        if "Endpoint" not in record:
            for name, values in metric_values(record).items():
                totals.setdefault(name, []).extend(values)
    answered = len(sent["low_confidence"])
    assert sum(totals["Summaries"]) == answered
    assert sum(totals["LowConfidenceSummaries"]) == sum(sent["low_confidence"]) >= 1  # the real sentence
    assert len(totals["GenerationLatency"]) == answered and min(totals["GenerationLatency"]) > 0
    assert totals["BatchSize"] and all(size >= 1 for size in totals["BatchSize"])
    assert totals["QueueWait"] and all(wait >= 0 for wait in totals["QueueWait"])
    assert max(totals["WorkInFlight"]) > 0 and max(totals["ChunksInFlight"]) > 0  # sampled mid-generation


def test_records_are_aggregated_well_formed_and_hold_no_text(served) -> None:
    _, log, sent = served
    found = records(log)
    assert found
    for record in found:
        blocks = record["_aws"]["CloudWatchMetrics"]
        assert all(block["Namespace"] == NAMESPACE for block in blocks)
        for block in blocks:
            for metric in block["Metrics"]:
                unit, dimensions = METRICS[metric["Name"]]
                assert metric["Unit"] == unit
                assert block["Dimensions"] == [["Service", *dimensions]]
        assert all(len(values) <= 100 for values in metric_values(record).values())
    # Twelve /classify answers in about a second: one or two records, not twelve.
    classify = [r for r in found if r.get("Endpoint") == "/classify"]
    assert 1 <= len(classify) <= 3
    text = log.read_text(errors="replace")
    emf_lines = "\n".join(line for line in text.splitlines() if '"_aws"' in line)
    assert not any(piece[:30] in emf_lines for piece in sent["texts"])


def test_the_default_serve_writes_no_records(server: str, server_log: Path) -> None:
    httpx.post(f"{server}/classify", json={"text": TEXT}, timeout=60)
    assert not records(server_log)
