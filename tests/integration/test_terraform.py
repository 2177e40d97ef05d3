"""The Terraform module run by Terraform: fmt, init (offline from a provider mirror when the
machine has one) and validate; checkov with no failed check; and the plan-level checks of
terraform/tests/*.tftest.hcl (`terraform test` with a mock AWS provider: defaults, refused
values, keys and WAF) in seconds, without an AWS or a moto. The one apply against moto is
tests/e2e/test_deploy.py's.

Terraform and checkov are external tools: a test that needs one skips when it is missing,
except under CI=true, where a missing tool fails the run instead of hiding it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import REPO
from tests.support.terraform import (
    INIT_TIMEOUT,
    MODULE,
    VALIDATE_TIMEOUT,
    missing_tool,
    run_terraform,
)

TERRAFORM_TESTS = MODULE / "tests"


@pytest.mark.timeout(120)
def test_terraform_fmt(terraform_bin: str) -> None:
    result = run_terraform(terraform_bin, ["fmt", "-check", "-recursive", "-diff", "-no-color", str(MODULE)],
                           REPO, 60)
    assert result.returncode == 0, f"terraform fmt -check found unformatted files:\n{result.stdout}"


@pytest.mark.timeout(INIT_TIMEOUT + VALIDATE_TIMEOUT + 60)
def test_terraform_init_and_validate(terraform_bin: str, initialised_module: Path) -> None:
    result = run_terraform(terraform_bin, ["validate", "-json", "-no-color"], initialised_module, VALIDATE_TIMEOUT)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["error_count"] == 0


def _run_blocks() -> list[str]:
    return [name for path in sorted(TERRAFORM_TESTS.glob("*.tftest.hcl"))
            for name in re.findall(r'^run "([^"]+)"', path.read_text(), re.MULTILINE)]


@pytest.mark.timeout(300)
def test_plan_level_checks_pass_with_a_mock_provider(terraform_bin: str, initialised_module: Path) -> None:
    """Every run block of terraform/tests/ passes: what the defaults plan, every refused value
    refused by its own rule, keys and WAF as planned."""
    names = _run_blocks()
    assert len(names) >= 10, names
    result = run_terraform(terraform_bin, ["test", "-no-color"], initialised_module, 240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for name in names:
        assert f'run "{name}"... pass' in output, f"{name} did not pass:\n{output[-4000:]}"
    assert f"Success! {len(names)} passed, 0 failed." in output, output[-2000:]


# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------

def find_checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV_BIN", ""), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


@pytest.mark.timeout(300)
def test_checkov_has_no_failed_checks() -> None:
    checkov = find_checkov()
    if checkov is None:
        missing_tool("checkov is not installed: run scripts/install_checkov.sh")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        # Not --quiet: that drops the skipped checks, whose reasons are asserted below.
        ["timeout", "240", checkov, "-d", str(MODULE), "--framework", "terraform", "--output", "json",
         "--skip-download", "--compact"],
        env=env, capture_output=True, text=True, timeout=270,
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}):\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {key: sum(r["summary"][key] for r in reports) for key in ("passed", "failed", "skipped")}
    failed = [c for r in reports for c in r["results"].get("failed_checks", [])]
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    print(f"checkov: {summary}")
    assert not failed, "checkov failed checks:\n" + "\n".join(
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): {c['check_name']}" for c in failed
    )
    assert summary["passed"] > 100, f"checkov scanned suspiciously little: {summary}"
    assert len(skipped) == summary["skipped"]
    for c in skipped:
        reason = (c.get("check_result") or {}).get("suppress_comment") or ""
        assert reason and reason != "No comment provided", \
            f"{c['check_id']} on {c['resource']} is skipped without a reason"
