"""The runnable example (terraform/examples/default/) run by Terraform, offline: it initialises
and validates as a user's root module would (the module's own provider block included), and
it plans with a mock AWS provider, so its settings pass every validation and precondition of
the module. Each step runs in a temporary copy laid out like the repository (the example calls
the module as ../..), so no .terraform/ lands in the tree. A few seconds in all.

Terraform is an external tool: without it these skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.terraform import (
    INIT_TIMEOUT,
    PLAN_TIMEOUT,
    VALIDATE_TIMEOUT,
    copy_module,
    run_terraform,
    terraform_init,
)
from tests.support.terraform_docs import EXAMPLE

# The mock provider cannot reach a provider that a module configures itself, so the plan check
# drops the module's provider block (region and default tags only) from its copy: the module
# then takes the root's provider, which `terraform test` replaces with the mock. The mock's
# data (zones, account, partition) is the module's own, from terraform/tests/.
PLAN_TEST = """
mock_provider "aws" {
  source = "../../tests"
}

variables {
  image_tag           = "20260101-example"
  certificate_arn     = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  api_keys_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
}

run "the_example_plans" {
  command = plan

  assert {
    condition     = output.service_name == "pls-service" && output.cluster_name == "pls-service"
    error_message = "The example names its service pls-service."
  }
  assert {
    condition     = output.log_group_name == "/ecs/pls-service"
    error_message = "The service logs to /ecs/pls-service."
  }
}

run "the_example_refuses_a_partial_secret_arn" {
  command = plan

  variables {
    api_keys_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys"
  }

  expect_failures = [var.api_keys_secret_arn]
}
"""
RUN_BLOCKS = ("the_example_plans", "the_example_refuses_a_partial_secret_arn")


def _copy(destination: Path, with_provider_block: bool = True) -> Path:
    """The module (its mock data included) and the example, in the repository's layout."""
    module = copy_module(destination / "terraform", with_tests=True)
    if not with_provider_block:
        (module / "providers.tf").unlink()
    example = module / "examples" / EXAMPLE.name
    example.mkdir(parents=True)
    for path in EXAMPLE.glob("*.tf"):
        shutil.copy2(path, example / path.name)
    return example


@pytest.mark.timeout(INIT_TIMEOUT + VALIDATE_TIMEOUT + 30)
def test_the_example_inits_and_validates(terraform_bin: str, tmp_path: Path) -> None:
    example = _copy(tmp_path)
    terraform_init(terraform_bin, example)
    result = run_terraform(terraform_bin, ["validate", "-json", "-no-color"], example, VALIDATE_TIMEOUT)
    report = json.loads(result.stdout)
    assert report["valid"] and report["error_count"] == 0, json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


@pytest.mark.timeout(INIT_TIMEOUT + PLAN_TIMEOUT + 30)
def test_the_example_plans_with_a_mock_provider(terraform_bin: str, tmp_path: Path) -> None:
    example = _copy(tmp_path, with_provider_block=False)
    (example / "tests").mkdir()
    (example / "tests" / "example.tftest.hcl").write_text(PLAN_TEST)
    terraform_init(terraform_bin, example)
    result = run_terraform(terraform_bin, ["test", "-no-color"], example, PLAN_TIMEOUT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for name in RUN_BLOCKS:
        assert f'run "{name}"... pass' in output, f"{name} did not pass:\n{output[-4000:]}"
    assert f"Success! {len(RUN_BLOCKS)} passed, 0 failed." in output, output[-2000:]
