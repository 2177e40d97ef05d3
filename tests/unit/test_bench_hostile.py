"""The hostile-input benchmark without a server: its command line, the attacks' data and the report."""

from __future__ import annotations

import asyncio
import json
import re
import string
import subprocess
from collections import Counter
from types import SimpleNamespace

import httpx
import pytest
from pydantic import ValidationError

from benchmarks.harness import abstracts
from benchmarks.hostile.attacks import ATTACKS, DEFAULT_SECONDS
from benchmarks.hostile.cli import command_line, parse_args
from benchmarks.hostile.monitor import Monitor
from benchmarks.hostile.payloads import (
    MAX_TEXT_CHARS,
    NAME,
    NAME_MARK,
    admission_requests,
    astral_word,
    log_records,
    normal_body,
    punctuation_texts,
    random_paths,
    rouge_requests,
    sentence_splitter_requests,
    syllable_cache_requests,
    token_text,
    unknown_keys_body,
    validation_requests,
)
from benchmarks.hostile.report import format_statuses, normal_summary, table
from benchmarks.hostile.sending import Sent, bounded, flood
from benchmarks.hostile.server import worker_pids
from benchmarks.hostile.targets import CUT, Outcome, Probe, usual_limit, verdict
from pls_core.schemas import ClassifyRequest, EvaluateRequest, GenerateRequest

SCHEMAS = {"/generate": GenerateRequest, "/classify": ClassifyRequest, "/evaluate": EvaluateRequest}
WORD = re.compile(r"[^\W_]+")  # a word as the readability figures find one


# --- the command line -------------------------------------------------------------------------------
def test_by_default_every_attack_runs_in_the_issues_order():
    args = parse_args([])
    assert args.attacks == list(ATTACKS)
    assert args.url is None and args.attack_s is None
    assert set(DEFAULT_SECONDS) == set(ATTACKS)
    # The attacks' bounds leave the whole run near ten minutes with start-up and settling.
    assert sum(DEFAULT_SECONDS.values()) <= 9 * 60


def test_only_picks_attacks_and_keeps_their_order():
    assert parse_args(["--only", "validation-log", "--only", "paths"]).attacks == ["paths", "validation-log"]


@pytest.mark.parametrize("argv, message", [
    (["--only", "everything"], "invalid choice"),
    (["--url", "http://127.0.0.1:3000"], "--url needs --serve-pid"),
    (["--serve-pid", "12"], "--serve-pid and --log go with --url"),
    (["--url", "http://x", "--serve-pid", "1", "--bento-home", "/tmp"], "for a server this script starts"),
    (["--url", "http://x", "--serve-pid", "1", "--keep-logs", "/tmp"], "for a server this script starts"),
    (["--serve-env", "NOEQUALS"], "is not NAME=VALUE"),
    (["--attack-s", "0"], "must be above zero"),
    (["--astral-chars", "3"], "at least 5"),
])
def test_a_wrong_command_line_is_refused_with_a_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_a_given_server_is_taken_with_its_pid_and_log(tmp_path):
    args = parse_args(["--url", "http://127.0.0.1:3000", "--serve-pid", "42", "--log", str(tmp_path / "l")])
    assert (args.url, args.serve_pid, args.log) == ("http://127.0.0.1:3000", 42, tmp_path / "l")


def test_the_printed_command_can_be_pasted_back():
    assert command_line(["--only", "rouge", "--header", "X-API-Key:a b"]) == \
        "python -m benchmarks.hostile --only rouge --header 'X-API-Key:a b'"


# --- the attacks' data ------------------------------------------------------------------------------
def test_paths_are_distinct_long_and_repeatable():
    paths = random_paths(500, 8000)
    assert len(set(paths)) == 500
    assert all(len(path) == 8000 and path.startswith("/") and path[1:].isalnum() for path in paths)
    assert random_paths(5, 100) == random_paths(5, 100)


def test_rouge_texts_hold_as_many_tokens_as_the_length_allows():
    text = token_text(20_000, 1)
    tokens = text.split(" ")
    assert len(text) <= 20_000 and len(tokens) == 10_000
    assert all(len(token) == 1 and token in string.ascii_lowercase + string.digits for token in tokens)
    (evaluate_path, evaluate), (metrics_path, metrics) = rouge_requests()
    assert (evaluate_path, metrics_path) == ("/evaluate", "/generate-with-metrics")
    assert len({evaluate["original_text"], evaluate["generated_pls"], evaluate["reference_pls"]}) == 3
    assert all(len(value) <= MAX_TEXT_CHARS for value in evaluate.values())
    assert len(metrics["technical_text"]) == MAX_TEXT_CHARS and set(metrics["technical_text"]) == {"x", ","}
    assert len(metrics["reference_pls"].split()) == 10_000
    assert (metrics["max_length"], metrics["num_beams"]) == (512, 1)


def test_punctuation_runs_fill_the_length_after_one_word():
    texts = punctuation_texts(20_000)
    assert set(texts) == {"!", ".", "?", ". ! ? "}
    for mark, text in texts.items():
        assert len(text) == 20_000 and text.startswith("Results")
        assert set(text[7:]) == set(mark)
    assert max(map(len, re.findall(r"!+", texts["!"]))) == 20_000 - 7
    requests = sentence_splitter_requests(1000)
    assert Counter(path for path, _ in requests) == {"/classify": 4, "/evaluate": 4, "/generate": 4}
    for path, body in requests:  # valid requests: the cost is the server's, not a 400
        SCHEMAS[path].model_validate(body)


def test_astral_words_are_long_distinct_single_words():
    word = astral_word(7, 20_000)
    assert len(word) == 20_000 and len(word.encode()) == 80_000
    assert all(0x1D400 <= ord(letter) < 0x1D434 for letter in word)
    assert WORD.fullmatch(word)
    assert astral_word(7, 50) != astral_word(8, 50)
    requests = list(syllable_cache_requests(200, 100))
    words = [body.get("text") or body.get("generated_pls") for _, body in requests]
    assert len(set(words)) == 200 and all(len(word) == 100 and WORD.fullmatch(word) for word in words)
    assert Counter(path for path, _ in requests) == {"/classify": 50, "/evaluate": 150}
    for path, body in requests[:4]:
        SCHEMAS[path].model_validate(body)


def test_the_admission_attack_asks_for_the_most_work_the_api_takes():
    bodies = admission_requests(["A short abstract about hypertension."], 20_000)
    generate = bodies["/generate"]
    assert generate["technical_text"] == "x," * 10_000
    assert (generate["num_beams"], generate["max_length"]) == (10, 512)
    for path, body in bodies.items():
        SCHEMAS[path].model_validate(body)
        assert all(len(value) <= 20_000 for value in body.values() if isinstance(value, str))


def test_the_big_body_has_60000_unknown_keys_in_about_650_kb():
    body = unknown_keys_body()
    keys = json.loads(body)
    assert len(keys) == 60_000 and 600_000 <= len(body) <= 700_000
    assert not set(keys) & set(GenerateRequest.model_fields)


def test_every_validation_body_is_refused_and_the_named_ones_hold_the_name():
    requests = validation_requests()
    assert requests[0][0] == "bad max_length"  # the issue's own example first
    for label, path, body in requests:
        with pytest.raises(ValidationError):
            SCHEMAS[path].model_validate_json(body)
        if label != "60,000 unknown keys":
            assert NAME in body.decode(), label
    too_long = json.loads(requests[1][2])["technical_text"]
    # pydantic quotes a long text's first and last 24 characters: the name is in both.
    assert len(too_long) > MAX_TEXT_CHARS
    assert NAME_MARK in too_long[:24] and NAME_MARK in too_long[-24:]


def test_the_normal_request_is_the_shortest_abstract_with_the_defaults():
    assert normal_body(["a" * 3000, "b" * 1200, "c" * 2000]) == {"technical_text": "b" * 1200}
    texts = abstracts()
    assert len(texts) > 100 and 500 < len(normal_body(texts)["technical_text"]) < 2000


# --- what the report says -----------------------------------------------------------------------
def outcome(**changes) -> Outcome:
    values = {"attack": "paths", "sent": "paths", "statuses": Counter({("other paths", 404): 3000}),
              "rss_increase_mb": {"pls-service": 12.0, "pls-simplifier-runner": 1.0},
              "livez": Probe(0.05), "readyz": Probe(0.2), "normal": [(200, 0.4), (200, 0.6)]}
    return Outcome(**{**values, **changes})


def test_usual_time_limit_is_twice_the_usual_and_a_second():
    assert usual_limit(0.25) == 1.5


@pytest.mark.parametrize("changes, reason", [
    ({}, None),
    ({"rss_increase_mb": {"pls-service": 612.0}}, "API RSS +612 MB > 200"),
    ({"rss_increase_mb": {"pls-simplifier-runner": 250.0}}, "pls-simplifier-runner RSS +250 MB > 200"),
    ({"readyz": Probe(4.2, not_200=3)}, "/readyz took 4.2 s > 1"),
    ({"readyz": Probe(30.0, unanswered=2)}, "/readyz unanswered 2× (waited up to 30.0 s)"),
    ({"readyz": Probe()}, "/readyz not polled"),
    ({"livez": Probe(5.0)}, None),  # reported, not judged: the issue's target is /readyz
    ({"normal": [(200, 0.4), (503, 0.1)]}, "a normal request missed its 200 within 1.50 s"),
    ({"normal": [(200, 1.6)]}, "a normal request missed its 200 within 1.50 s"),
    ({"normal": []}, "no normal request completed"),
    ({"failures": ["simplifier worker died"]}, "simplifier worker died"),
])
def test_the_verdict_names_each_missed_target(changes, reason):
    passed, reasons = verdict(outcome(**changes), 1.5, "pls-service")
    assert passed is (reason is None)
    assert reasons == ([] if reason is None else [reason])


def test_a_row_per_attack_with_its_figures():
    lines = table([outcome(), outcome(attack="rouge", readyz=Probe(3.0, not_200=2),
                                     statuses=Counter({("/evaluate", 200): 1, ("/evaluate", 0): 1,
                                                       ("/evaluate", CUT): 4}),
                                     notes=["took 90 s"])],
                  1.5, "pls-service")
    assert len(lines) == 4 and lines[0].startswith("| attack |") and set(lines[1]) == {"|", "-"}
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| 404×3000 | +12 | simplifier +1 | 0.05 | 0.20 | 2/2 within (worst 0.60 s) | - | PASS |" in lines[2]
    assert "| cut at the bound×4, no answer×1, 200×1 |" in lines[3] and "| 3.00 (2 not 200) |" in lines[3]
    assert lines[3].endswith("| took 90 s | FAIL: /readyz took 3.0 s > 1 |")


def test_normal_requests_are_summed_up_with_the_worst_and_the_failures():
    assert normal_summary([], 1.5) == "none sent"
    assert normal_summary([(200, 0.5), (200, 2.0), (0, 31.0), (503, 0.1)], 1.5) == \
        "1/4 within (worst 31.00 s); no answer×1, 503×1"


def test_an_attack_counts_answers_by_route_and_status_and_what_its_bound_cut():
    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/generate-with-metrics":
            await asyncio.sleep(30)
        status = {"/classify": 404, "/evaluate": 400, "/generate": 200}.get(request.url.path, 404)
        return httpx.Response(status, content=b"x" * (status * 10))

    def work(client, sent):
        requests = [("GET", "/classify", None)] * 3 + [
            ("POST", "/evaluate", b"{}"), ("POST", "/generate", b"{}"), ("GET", "/x" * 100, None),
            ("POST", "/generate-with-metrics", b"{}")]
        return flood(client, requests, 2, sent)

    sent = Sent()
    monitor = SimpleNamespace(abort_reason=None)
    completed = asyncio.run(bounded(work, "http://test", {}, 0.5, monitor, sent, httpx.MockTransport(answer)))
    assert not completed
    assert sent.statuses == {("/classify", 404): 3, ("/evaluate", 400): 1, ("/generate", 200): 1,
                             ("other paths", 404): 1, ("/generate-with-metrics", CUT): 1}
    assert sent.error_body_max == 4040 and sent.count == 7
    assert format_statuses(sent.statuses) == ("/classify 404×3; /evaluate 400×1; /generate 200×1; "
                                              "other paths 404×1; /generate-with-metrics cut at the bound×1")
    assert format_statuses(Counter({("other paths", 404): 3000})) == "404×3000"


def test_log_records_keep_a_traceback_with_its_line():
    log = (b"2026-12-06T09:27:01+0000 [ERROR] Exception on /generate\nTraceback:\n  File x\n"
           b"2026-12-06T09:27:01+0000 [INFO] 127.0.0.1 (status=400)\n")
    records = log_records(log)
    assert [len(record.splitlines()) for record in records] == [3, 1]
    assert b"".join(records) == log
    assert log_records(b"partial line\n2026-12-06T09:27:02+0000 x\n")[0] == b"partial line\n"


def test_the_monitor_reports_peaks_over_the_level_before_and_slow_probes():
    monitor = Monitor("http://127.0.0.1:1", {}, {}, {}, 1.5, 4096, 3072)
    monitor.workers = {"pls-service": 1, "pls-classifier-runner": 2}
    monitor.base, monitor.peak = {"pls-service": 100.0, "pls-classifier-runner": 50.0}, \
        {"pls-service": 350.0, "pls-classifier-runner": 50.0}
    monitor.probes = {"/livez": [(0.01, 200), (0.02, 200)], "/readyz": [(0.1, 200), (10.0, 0), (0.3, 503)]}
    monitor.died, monitor.abort_reason = ["pls-classifier-runner"], "the machine had under 3072 MB available"
    result = Outcome("x")
    monitor.fill(result)
    assert result.rss_increase_mb == {"pls-service": 250.0, "pls-classifier-runner": 0.0}
    assert result.livez == Probe(0.02, 0, 0)
    assert result.readyz == Probe(10.0, not_200=1, unanswered=1)
    assert str(result.readyz) == "10.00 (1 unanswered, 1 not 200)"
    assert result.failures == ["classifier worker died", "stopped: the machine had under 3072 MB available"]


def test_workers_are_found_below_the_serve_process(monkeypatch):
    listing = """  PID  PPID COMMAND
  100     1 python bentoml serve --port 3000
  101   100 python -m _bentoml_impl.worker.service . --service-name pls-classifier-runner --fd 3 --worker-id 1
  102   100 python -m _bentoml_impl.worker.service . --fd 8 --service-name pls-service --backlog 2048 --worker-id 1
  103   100 python -m _bentoml_impl.worker.service . --fd 9 --service-name pls-service --backlog 2048 --worker-id 2
  104   102 python -c 'import multiprocessing.resource_tracker'
  200     1 python -m _bentoml_impl.worker.service . --service-name someone-else
"""
    monkeypatch.setattr(subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=listing, stderr=""))
    assert worker_pids(100) == {"pls-classifier-runner": 101, "pls-service": 102, "pls-service#2": 103}
