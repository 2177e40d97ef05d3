"""Terraform: API keys from Secrets Manager and the optional WAF rate rule (terraform/secrets.tf,
terraform/waf.tf), checked in a plan against moto: what the task definition, the IAM policy and
the web ACL would be, and that neither the keys nor their secret's value reach state or outputs.

A plan (not an apply) keeps this within the CI budget; the full apply/destroy of the default
stack is tests/test_terraform.py's. The plan still asks moto for the account, region and zones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.moto_support import FAKE_CREDENTIALS, moto_server
from tests.test_terraform import (  # noqa: F401 - terraform_bin is a fixture
    MOTO_ENV, MOTO_WRAPPER, OVERRIDE_TEMPLATE, PLAN_TIMEOUT, _blocks, check, copy_module, run_terraform,
    terraform_bin, terraform_env, terraform_init,
)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _planned(plan: dict) -> dict[str, dict]:
    return {r["address"]: r for r in plan["planned_values"]["root_module"]["resources"]}


@pytest.fixture(scope="module")
def module_dir(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_module(tmp_path_factory.mktemp("tf-security") / "module")
    terraform_init(terraform_bin, workdir)
    return workdir


def console(terraform_bin: str, workdir: Path, expression: str, *variables: str):
    """Evaluate `expression` with `terraform console` (no AWS call): (value or None, stderr)."""
    result = subprocess.run([terraform_bin, "console", "-var=image_tag=x", *variables], input=expression,
                            cwd=workdir, env=terraform_env(), capture_output=True, text=True, timeout=PLAN_TIMEOUT)
    if result.returncode != 0:
        return None, " ".join(result.stderr.split())
    return json.loads(json.loads(result.stdout.strip())), result.stderr


@pytest.fixture(scope="module")
def plans(terraform_bin: str, module_dir: Path) -> dict[str, dict]:
    """`terraform show -json` of a plan against moto with keys and the WAF rate rule on."""
    env = {**terraform_env(), **FAKE_CREDENTIALS}
    with moto_server(command=[sys.executable, str(MOTO_WRAPPER)], env=MOTO_ENV,
                     log_path=module_dir.parent / "moto.log") as url:
        override = module_dir / "emulated_override.tf"
        override.write_text(OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", url))
        try:
            check(run_terraform(terraform_bin, ["plan", "-input=false", "-no-color", "-out=secured.tfplan",
                                                "-var=image_tag=20260101-emulated",
                                                f"-var=api_keys_secret_arn={SECRET_ARN}", "-var=waf_rate_limit=500",
                                                "-var=waf_rate_window_seconds=60",
                                                # Open ingress without a certificate is refused
                                                # unless said explicitly; TLS is not this plan's subject.
                                                "-var=allow_plain_http=true"], module_dir, PLAN_TIMEOUT, env),
                  "terraform plan")
            shown = run_terraform(terraform_bin, ["show", "-json", "secured.tfplan"], module_dir, PLAN_TIMEOUT, env)
            check(shown, "terraform show")
        finally:
            override.unlink()
    return {"secured": json.loads(shown.stdout)}


def test_by_default_no_secret_and_no_waf(terraform_bin: str, module_dir: Path) -> None:
    value, _ = console(terraform_bin, module_dir,
                       "jsonencode([local.container_secrets, local.api_keys_enabled, local.waf_rate_rule_enabled])")
    assert value == [[], False, False]


def test_the_task_definition_takes_its_secrets_from_the_local() -> None:
    ecs = (Path(__file__).resolve().parent.parent / "terraform" / "ecs.tf").read_text()
    assert "secrets = local.container_secrets" in ecs


def test_keys_reach_the_container_as_a_secret_not_as_environment(terraform_bin: str, module_dir: Path) -> None:
    value, _ = console(terraform_bin, module_dir, "jsonencode(local.container_secrets)",
                       f"-var=api_keys_secret_arn={SECRET_ARN}")
    assert value == [{"name": "PLS_API_KEYS", "valueFrom": SECRET_ARN}]
    environment, _ = console(terraform_bin, module_dir, "jsonencode(keys(var.service_environment))")
    assert "PLS_API_KEYS" not in environment


def test_only_the_execution_role_may_read_only_that_secret(plans: dict) -> None:
    resources = _planned(plans["secured"])
    policy = json.loads(resources["aws_iam_role_policy.read_api_keys[0]"]["values"]["policy"])
    statements = policy["Statement"]
    assert statements == [{"Sid": "ReadTheApiKeysSecret", "Effect": "Allow",
                           "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN}]
    # Attached to the execution role (the ECS agent), not the application's task role.
    configured = {r["address"]: r for r in plans["secured"]["configuration"]["root_module"]["resources"]}
    references = configured["aws_iam_role_policy.read_api_keys"]["expressions"]["role"]["references"]
    assert "aws_iam_role.execution" in references


def test_waf_rate_rule_blocks_per_client_ip_with_429_and_is_on_the_alb(plans: dict) -> None:
    resources = _planned(plans["secured"])
    acl = resources["aws_wafv2_web_acl.rate_limit[0]"]["values"]
    assert acl["scope"] == "REGIONAL" and acl["default_action"][0]["allow"]
    rule = acl["rule"][0]
    statement = rule["statement"][0]["rate_based_statement"][0]
    assert (statement["limit"], statement["aggregate_key_type"], statement["evaluation_window_sec"]) == (500, "IP", 60)
    response = rule["action"][0]["block"][0]["custom_response"][0]
    assert response["response_code"] == 429
    assert response["response_header"][0] == {"name": "Retry-After", "value": "60"}
    assert "aws_wafv2_web_acl_association.rate_limit[0]" in resources


def test_a_malformed_secret_arn_is_refused(terraform_bin: str, module_dir: Path) -> None:
    value, stderr = console(terraform_bin, module_dir, "local.api_keys_enabled", "-var=api_keys_secret_arn=my-keys")
    assert value is None and "api_keys_secret_arn must be a Secrets Manager secret ARN" in stderr


def test_no_output_carries_a_secret_or_the_key_setting() -> None:
    for name, body in _blocks("output").items():
        text = json.dumps(body)
        assert "api_keys" not in text and "secret" not in text.lower(), f"output {name} exposes {text}"
        assert body.get("sensitive") is not True, f"output {name}: a sensitive output hints at a secret in state"


def test_the_module_never_holds_a_secret_value() -> None:
    module = Path(__file__).resolve().parent.parent / "terraform"
    text = "\n".join(path.read_text() for path in module.glob("*.tf"))
    # A secret *version* (the value) would land in the state; the module takes only an ARN.
    assert "aws_secretsmanager_secret_version" not in text
    assert "PLS_API_KEYS\"" not in text.replace('name = "PLS_API_KEYS"', "")
