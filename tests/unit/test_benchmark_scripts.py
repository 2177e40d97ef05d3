"""The benchmark scripts (benchmarks/): the shared harness's token count, the side-by-side ratios,
the settings variants, and bad arguments refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.processes import REPO


def test_side_by_side_ratios():
    from benchmarks.harness import Row
    from benchmarks.side_by_side import ratio_rows

    rows = [Row("demo", 4, "(b) service, adaptive batching", "1", 8, 0, 1.0, 1, 0.8, 50),
            Row("demo", 4, "(b) service, adaptive batching", "4", 8, 0, 2.0, 1, 1.2, 50),
            Row("demo", 4, "(c) service, batching off", "4", 8, 0, 0.5, 1, 1, 50),
            Row("demo", 4, "(d) one blocking generate per request", "4", 8, 1, 1.0, 1, 1, 50),
            Row("demo", 4, "(a) in-process transformers", "batch 8 (best)", 8, 0, 4.0, 1, 1, 50)]
    assert ratio_rows(rows)[-1] == ("| demo | 4 | 4 | 2.00 | nan | 1.00 | 4.00 | nan | nan | 2.00 | 0.50 | nan | "
                                    "4.00 | 1.50 |")
    # With the CTranslate2 backend, (a') is the service's own engine in-process; (b0) the service before.
    rows.append(Row("demo", 4, "(a') in-process ctranslate2 int8", "batch 16 (best)", 16, 0, 2.5, 1, 1, 50))
    rows.append(Row("demo", 4, "(b0) service before: base", "4", 8, 0, 0.8, 1, 1, 50))
    assert ratio_rows(rows)[-1] == ("| demo | 4 | 4 | 2.00 | 0.80 | 1.00 | 4.00 | 2.50 | 2.50 | 2.00 | 0.50 | 0.80 | "
                                    "4.00 | 1.50 |")


def test_generated_tokens_count_up_to_the_first_eos_like_the_service():
    from benchmarks.harness import generated_tokens

    assert generated_tokens([5, 6, 1, 0, 0], eos_id=1) == 3  # EOS included, padding after it not
    # A model with random weights may emit the pad id (0) as a real token: it still counts.
    assert generated_tokens([0, 7, 0], eos_id=1) == 3


@pytest.mark.parametrize("module, arguments, message", [
    ("settings", ["--variant", "x"], "is not NAME=VAR=VALUE"),
    ("settings", ["--variant", "a=X=1", "--variant", "a=Y=2"], "variant names must differ"),
    ("settings", ["--variant", "a=X=1", "--rounds", "0"], "must be above zero"),
    ("settings", ["--variant", "a=X=1", "--output-tokens", "10"], "at least 50"),
    ("batch_sizes", ["--users", "1,,4"], "has an empty element"),
    ("batch_sizes", ["--users", "1,four"], "is not a number"),
    ("busy_core", ["--layouts", "2x0"], "is not REPLICASxTHREADS"),
    ("busy_core", ["--max-length", "10"], "at least 50"),
    ("side_by_side", ["--before", "/nonexistent-checkout"], "not a checkout of this project"),
    ("side_by_side", ["--output-tokens", "10"], "at least 50"),
    ("chunk_turns", ["--bento-home", "/nonexistent-store", "--windows", "-1"], "must not be negative"),
    ("chunk_turns", ["--bento-home", "/nonexistent-store"], "holds no pls-simplifier model"),
    ("first_request", ["--rounds", "0"], "must be above zero"),
])
def test_benchmarks_refuse_bad_arguments_before_starting_anything(module, arguments, message, tmp_path):
    """A bad argument is an argparse error (exit 2) that names it, before any model or server."""
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *arguments], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written before the arguments are checked"


def test_bench_settings_variants_parse_into_names_and_settings():
    from benchmarks.settings import parse_variant

    assert parse_variant("auto=PLS_GENERATION_TOKEN_BUDGET=0,PLS_MAX_BATCH_SIZE=8") == (
        "auto", {"PLS_GENERATION_TOKEN_BUDGET": "0", "PLS_MAX_BATCH_SIZE": "8"})
