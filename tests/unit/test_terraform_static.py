"""The Terraform module read as files (python-hcl2, no Terraform run): consistency with the
service (port, health path, PLS_* settings), style rules (every variable described and typed),
a reason on every checkov skip, and no secret value anywhere in the module."""

from __future__ import annotations

import json
import re

import hcl2

from pls_core.config import SETTINGS, load_config
from tests.support.processes import REPO
from tests.support.service_contract import HEALTH_PATH, LIVENESS_PATH, SERVICE_PORT
from tests.support.terraform import MODULE, blocks, module_locals, parse, terraform_files, variable_default

# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def test_every_checkov_skip_has_a_reason() -> None:
    skips = []
    for path in terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line.strip())
            if match:
                skips.append((f"{path.name}:{number}", match.group(1), (match.group(2) or "").strip()))
    for where, check_id, reason in skips:
        assert len(reason) >= 20, f"{where}: checkov skip of {check_id} needs a written reason"


# --------------------------------------------------------------------------------------------
# Consistency with the service, and module style
# --------------------------------------------------------------------------------------------


def test_container_port_and_health_path_match_the_service() -> None:
    values = module_locals()
    assert values["container_port"] == SERVICE_PORT
    assert values["health_check_path"] == HEALTH_PATH
    assert values["liveness_path"] == LIVENESS_PATH


def test_port_and_health_path_are_written_only_once() -> None:
    """Everything else must use the locals, or a change to the service would be half-applied."""
    offenders = []
    for path in terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip().startswith("#") or path.name == "locals.tf":
                continue
            if re.search(rf"\b{SERVICE_PORT}\b", line) or HEALTH_PATH in line or LIVENESS_PATH in line:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "use local.container_port / local.health_check_path / local.liveness_path:\n" + \
        "\n".join(offenders)


def test_the_alb_asks_readiness_and_the_container_check_asks_liveness() -> None:
    """The ALB stops sending to a task that is not ready; ECS replaces a task whose container
    check fails. Asked readiness, a busy but healthy task would be replaced exactly when the
    capacity is needed."""
    alb = parse(MODULE / "alb.tf")
    target_group = next(r["aws_lb_target_group"]["this"] for r in alb["resource"] if "aws_lb_target_group" in r)
    assert target_group["health_check"][0]["path"] == "${local.health_check_path}"
    assert target_group["port"] == "${local.container_port}"
    task = next(r["aws_ecs_task_definition"]["this"] for r in parse(MODULE / "ecs.tf")["resource"]
                if "aws_ecs_task_definition" in r)
    ecs_text = (MODULE / "ecs.tf").read_text()
    assert "${local.container_port}${local.liveness_path}" in ecs_text  # the container healthCheck URL
    assert "health_check_path" not in str(task["container_definitions"])
    assert "containerPort = local.container_port" in ecs_text


def test_every_variable_has_a_description_and_a_type() -> None:
    variables = blocks("variable")
    assert variables, "no variables found"
    for name, body in variables.items():
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"


def test_every_output_has_a_description() -> None:
    outputs = blocks("output")
    for required in ("api_url", "ecr_repository_url", "cluster_name", "service_name", "log_group_name"):
        assert required in outputs, f"output {required} is missing"
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_service_environment_defaults_are_valid_service_settings() -> None:
    environment = variable_default("service_environment")
    known = {setting.env for setting in SETTINGS.values()}
    assert set(environment) <= known, f"unknown PLS_* settings: {sorted(set(environment) - known)}"
    load_config(environ=dict(environment))  # raises ConfigError on a value the service rejects
    request_timeout = int(environment.get("PLS_REQUEST_TIMEOUT_S", SETTINGS["request_timeout_s"].default))
    assert variable_default("alb_idle_timeout") > request_timeout
    assert variable_default("deregistration_delay") > request_timeout


def test_no_hard_coded_aws_dns_suffix() -> None:
    """Service principals and endpoint names follow the partition (amazonaws.com.cn in China)."""
    offenders = []
    for path in terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if "amazonaws.com" in code or "com.amazonaws" in code:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "use local.dns_suffix / local.reverse_dns_prefix:\n" + "\n".join(offenders)


def test_tfvars_example_sets_only_declared_variables() -> None:
    with (MODULE / "terraform.tfvars.example").open() as handle:
        example = hcl2.load(handle)
    declared = blocks("variable")
    assert set(example) <= set(declared), f"undeclared: {sorted(set(example) - set(declared))}"
    known = {setting.env for setting in SETTINGS.values()}
    assert set(example.get("service_environment", {})) <= known


def test_the_production_example_survives_a_dead_task() -> None:
    """One task is an outage whenever it dies or is replaced (a crashed worker, an AZ event, a
    deployment's failed health check): the production example runs two, one per private subnet's AZ."""
    with (MODULE / "terraform.tfvars.example").open() as handle:
        example = hcl2.load(handle)
    assert example["min_capacity"] >= 2
    assert example["max_capacity"] >= example["min_capacity"]
    assert len(example["private_subnet_cidrs"]) >= 2, "tasks spread over the AZs of these subnets"
    assert variable_default("min_capacity") == 1, "the module's own default stays the cheap trial"


def test_module_files_are_split_by_concern() -> None:
    names = {path.name for path in terraform_files()}
    for required in ("versions.tf", "variables.tf", "outputs.tf", "network.tf", "ecr.tf", "ecs.tf", "alb.tf",
                     "iam.tf", "security_groups.tf", "autoscaling.tf", "alarms.tf", "logs.tf"):
        assert required in names
    assert (MODULE / "terraform.tfvars.example").is_file()
    assert not any(name.endswith("_override.tf") for name in names), "test overrides must not live in terraform/"


def test_the_task_definition_takes_its_secrets_from_the_local() -> None:
    ecs = (REPO / "terraform" / "ecs.tf").read_text()
    assert "secrets = local.container_secrets" in ecs


def test_no_output_carries_a_secret_or_the_key_setting() -> None:
    for name, body in blocks("output").items():
        text = json.dumps(body)
        assert "api_keys" not in text and "secret" not in text.lower(), f"output {name} exposes {text}"
        assert body.get("sensitive") is not True, f"output {name}: a sensitive output hints at a secret in state"


def test_the_module_never_holds_a_secret_value() -> None:
    module = REPO / "terraform"
    text = "\n".join(path.read_text() for path in module.glob("*.tf"))
    # A secret *version* (the value) would land in the state; the module takes only an ARN.
    assert "aws_secretsmanager_secret_version" not in text
    assert "PLS_API_KEYS\"" not in text.replace('name = "PLS_API_KEYS"', "")


def test_the_api_keys_policy_is_attached_to_the_execution_role_not_the_task_role() -> None:
    """The ECS agent resolves the secret at task start; the application itself never reads it."""
    policies = [block["aws_iam_role_policy"] for block in parse(MODULE / "secrets.tf")["resource"]
                if "aws_iam_role_policy" in block]
    assert policies and policies[0]["read_api_keys"]["role"] == "${aws_iam_role.execution.id}"


# Each run of terraform/tests/refused_values.tftest.hcl expects one rule to fail; that rule's
# message must say what is wrong (the text users get from `terraform plan`).
REFUSED_VALUE_MESSAGES = {
    "var.task_size": "is not a Fargate CPU/memory pair",
    "var.allowed_ingress_cidrs": "needs at least one valid IPv4 CIDR block",
    "var.ssl_policy": "ssl_policy must be a TLS 1.2+ policy",
    "var.api_keys_secret_arn": "must be the full Secrets Manager secret ARN, ending in the 6-character suffix",
    "aws_appautoscaling_target.this": "max_capacity must be at least min_capacity",
    "aws_lb.this": "alb_idle_timeout must be greater than PLS_REQUEST_TIMEOUT_S",
    "aws_ecs_task_definition.this": "server_keep_alive_timeout must be greater than alb_idle_timeout",
    "aws_lb_listener.http": "would cross the internet unencrypted",
    "aws_vpc_security_group_ingress_rule.alb": "could call the API anonymously",
    "aws_appautoscaling_policy.this": "scale_out_cooldown must be at least a new task's time to serve",
}


def _rule_messages(address: str) -> list[str]:
    """The error messages of a variable's validations or a resource's preconditions."""
    kind, _, name = address.partition(".")
    for path in terraform_files():
        parsed = parse(path)
        if kind == "var":
            for block in parsed.get("variable", []):
                if name in block:
                    return [rule["error_message"] for rule in block[name].get("validation", [])]
        for block in parsed.get("resource", []):
            body = block.get(kind, {}).get(name)
            if body:
                return [rule["error_message"] for lifecycle in body.get("lifecycle", [])
                        for rule in lifecycle.get("precondition", [])]
    raise AssertionError(f"{address} is not in the module")


def test_every_refused_value_is_refused_by_a_rule_that_says_why() -> None:
    tests = (MODULE / "tests" / "refused_values.tftest.hcl").read_text()
    expected = set(re.findall(r"expect_failures = \[([^\]]+)\]", tests))
    assert expected == set(REFUSED_VALUE_MESSAGES), "a run of refused_values.tftest.hcl without its message here"
    for address, message in REFUSED_VALUE_MESSAGES.items():
        assert any(message in text for text in _rule_messages(address)), (address, _rule_messages(address))


# Arguments the module uses that the AWS provider gained after 5.0, with the release that brought
# each (from the provider's changelog). A user on an older provider gets "Unsupported argument"
# even where the feature is off: the module's lower bound must be at least the newest of these.
PROVIDER_ARGUMENTS_SINCE = {
    "evaluation_window_sec": (5, 40, 0),
}


def test_the_provider_lower_bound_covers_every_newer_argument_the_module_uses() -> None:
    text = "\n".join(path.read_text() for path in terraform_files())
    constraint = re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*(?:#.*\n\s*)*version\s*=\s*"([^"]+)"', text)
    assert constraint, "versions.tf names no version constraint for hashicorp/aws"
    lower = re.search(r">=\s*(\d+)\.(\d+)\.(\d+)", constraint.group(1))
    assert lower, f"no lower bound in {constraint.group(1)!r}"
    bound = tuple(int(part) for part in lower.groups())
    used = {argument: since for argument, since in PROVIDER_ARGUMENTS_SINCE.items()
            if re.search(rf"\b{argument}\s*=", text)}
    assert used, "the table names no argument the module uses: keep it in step with the module"
    for argument, since in used.items():
        needed = ".".join(map(str, since))
        assert bound >= since, f"{argument} needs hashicorp/aws >= {needed}; versions.tf allows {bound}"
