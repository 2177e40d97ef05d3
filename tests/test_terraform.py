"""Checks of the Terraform module in terraform/.

* fmt -check, init (offline from a provider mirror when the machine has one), validate;
* checkov with no failed check, and a written reason on every inline skip;
* consistency with the service (port, health path, PLS_* settings) and style rules
  (every variable described and typed), read with python-hcl2;
* apply -> plan -detailed-exitcode (no changes) -> destroy against a moto server.

Terraform and checkov are external tools: a test that needs one skips when it is missing,
except under CI=true, where a missing tool fails the run instead of hiding it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import hcl2
import pytest

from pls_core.config import SETTINGS, load_config
from tests.service_contract import HEALTH_PATH, SERVICE_PORT
from tests.moto_support import FAKE_CREDENTIALS, moto_server
from loadtests.server import bentoml_serve

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "terraform"
OVERRIDE_TEMPLATE = REPO / "tests" / "aws" / "emulated_override.tf.tpl"
MOTO_WRAPPER = REPO / "tests" / "aws" / "moto_wrapper.py"
IN_CI = os.environ.get("CI") == "true"
# uvicorn's (and so `bentoml serve`'s) idle keep-alive timeout when nothing sets it.
BENTOML_DEFAULT_KEEP_ALIVE_S = 5

# Upper bounds per Terraform step (seconds); a step that hangs on an API moto lacks fails
# here instead of stalling the job. Measured here: apply ~105 s, plan ~20 s, destroy ~45 s.
INIT_TIMEOUT = 180
VALIDATE_TIMEOUT = 120
APPLY_TIMEOUT = 600
PLAN_TIMEOUT = 300
DESTROY_TIMEOUT = 600


def _missing_tool(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the CI machine must provide it)")
    pytest.skip(message)


def _terraform_files() -> list[Path]:
    return sorted(MODULE.glob("*.tf"))


def _parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle)


def _blocks(kind: str) -> dict[str, dict]:
    """All top-level `variable`/`output` blocks of the module, by name."""
    found: dict[str, dict] = {}
    for path in _terraform_files():
        for block in _parse(path).get(kind, []):
            found.update(block)
    return found


def _locals() -> dict:
    merged: dict = {}
    for path in _terraform_files():
        for block in _parse(path).get("locals", []):
            merged.update(block)
    return merged


def _variable_default(name: str):
    return _blocks("variable")[name]["default"]


# --------------------------------------------------------------------------------------------
# Terraform CLI helpers
# --------------------------------------------------------------------------------------------


def find_plugin_dir() -> Path | None:
    """The machine's local provider mirror, if any (see shared/EMULATED_AWS.md)."""
    candidates = [os.environ.get("TF_PLUGIN_DIR", ""), "/opt/tf-plugins", str(REPO / "tf-plugins"),
                  str(REPO.parent / "shared" / "tf-plugins"), "/tf-plugins", *sorted(glob.glob("/*/tf-plugins"))]
    for candidate in candidates:
        if candidate and (Path(candidate) / "registry.terraform.io").is_dir():
            return Path(candidate)
    return None


def terraform_env() -> dict[str, str]:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    # A CLI configuration variable naming a file that does not exist only produces warnings.
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if cli_config and not Path(cli_config).is_file():
        env.pop("TF_CLI_CONFIG_FILE")
    return env


def run_terraform(terraform: str, args: list[str], cwd: Path, timeout_s: int,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one Terraform step under coreutils `timeout` (and a Python-side backstop)."""
    argv = ["timeout", "--kill-after=15", str(timeout_s), terraform, *args]
    try:
        return subprocess.run(argv, cwd=cwd, env=env or terraform_env(), capture_output=True, text=True,
                              timeout=timeout_s + 30)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - timeout(1) should fire first
        pytest.fail(f"terraform {' '.join(args)} exceeded {timeout_s}s: {exc}")


def check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode == 124:
        pytest.fail(f"{what} timed out\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    assert result.returncode == 0, f"{what} failed ({result.returncode})\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"


def copy_module(destination: Path) -> Path:
    """Copy the module's configuration (not its .terraform/ or state) to `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in MODULE.iterdir():
        if path.is_file() and (path.suffix == ".tf" or path.name == "terraform.tfvars.example") \
                and not path.name.endswith("_override.tf"):
            shutil.copy2(path, destination / path.name)
    return destination


def terraform_init(terraform: str, workdir: Path) -> None:
    args = ["init", "-backend=false", "-input=false", "-no-color"]
    plugin_dir = find_plugin_dir()
    if plugin_dir is not None:
        # Offline machines: providers only from the local mirror, never the registry.
        args.append(f"-plugin-dir={plugin_dir}")
    check(run_terraform(terraform, args, workdir, INIT_TIMEOUT), "terraform init")


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        _missing_tool("terraform is not installed (needed for fmt/validate/apply checks)")
    return path


@pytest.fixture(scope="session")
def initialised_module(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_module(tmp_path_factory.mktemp("tf-validate"))
    terraform_init(terraform_bin, workdir)
    return workdir


# --------------------------------------------------------------------------------------------
# fmt / init / validate
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def find_checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV_BIN", ""), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


def test_every_checkov_skip_has_a_reason() -> None:
    skips = []
    for path in _terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line.strip())
            if match:
                skips.append((f"{path.name}:{number}", match.group(1), (match.group(2) or "").strip()))
    for where, check_id, reason in skips:
        assert len(reason) >= 20, f"{where}: checkov skip of {check_id} needs a written reason"


@pytest.mark.timeout(300)
def test_checkov_has_no_failed_checks() -> None:
    checkov = find_checkov()
    if checkov is None:
        _missing_tool("checkov is not installed: run scripts/install_checkov.sh")
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
        assert reason and reason != "No comment provided", f"{c['check_id']} on {c['resource']} is skipped without a reason"


# --------------------------------------------------------------------------------------------
# Consistency with the service, and module style
# --------------------------------------------------------------------------------------------


def test_container_port_and_health_path_match_the_service() -> None:
    module_locals = _locals()
    assert module_locals["container_port"] == SERVICE_PORT
    assert module_locals["health_check_path"] == HEALTH_PATH


def test_port_and_health_path_are_written_only_once() -> None:
    """Everything else must use the locals, or a change to the service would be half-applied."""
    offenders = []
    for path in _terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip().startswith("#") or path.name == "locals.tf":
                continue
            if re.search(rf"\b{SERVICE_PORT}\b", line) or HEALTH_PATH in line:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "use local.container_port / local.health_check_path:\n" + "\n".join(offenders)


def test_target_group_and_container_health_checks_use_the_health_path() -> None:
    alb = _parse(MODULE / "alb.tf")
    target_group = next(r["aws_lb_target_group"]["this"] for r in alb["resource"] if "aws_lb_target_group" in r)
    assert target_group["health_check"][0]["path"] == "${local.health_check_path}"
    assert target_group["port"] == "${local.container_port}"
    ecs_text = (MODULE / "ecs.tf").read_text()
    assert "${local.container_port}${local.health_check_path}" in ecs_text  # container healthCheck URL
    assert "containerPort = local.container_port" in ecs_text


def test_every_variable_has_a_description_and_a_type() -> None:
    variables = _blocks("variable")
    assert variables, "no variables found"
    for name, body in variables.items():
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"


def test_every_output_has_a_description() -> None:
    outputs = _blocks("output")
    for required in ("api_url", "ecr_repository_url", "cluster_name", "service_name", "log_group_name"):
        assert required in outputs, f"output {required} is missing"
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_service_environment_defaults_are_valid_service_settings() -> None:
    environment = _variable_default("service_environment")
    known = {setting.env for setting in SETTINGS.values()}
    assert set(environment) <= known, f"unknown PLS_* settings: {sorted(set(environment) - known)}"
    load_config(environ=dict(environment))  # raises ConfigError on a value the service rejects
    request_timeout = int(environment.get("PLS_REQUEST_TIMEOUT_S", SETTINGS["request_timeout_s"].default))
    assert _variable_default("alb_idle_timeout") > request_timeout
    assert _variable_default("deregistration_delay") > request_timeout


def test_no_hard_coded_aws_dns_suffix() -> None:
    """Service principals and endpoint names follow the partition (amazonaws.com.cn in China)."""
    offenders = []
    for path in _terraform_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if "amazonaws.com" in code or "com.amazonaws" in code:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "use local.dns_suffix / local.reverse_dns_prefix:\n" + "\n".join(offenders)


def test_tfvars_example_sets_only_declared_variables() -> None:
    with (MODULE / "terraform.tfvars.example").open() as handle:
        example = hcl2.load(handle)
    declared = _blocks("variable")
    assert set(example) <= set(declared), f"undeclared: {sorted(set(example) - set(declared))}"
    known = {setting.env for setting in SETTINGS.values()}
    assert set(example.get("service_environment", {})) <= known


def test_module_files_are_split_by_concern() -> None:
    names = {path.name for path in _terraform_files()}
    for required in ("versions.tf", "variables.tf", "outputs.tf", "network.tf", "ecr.tf", "ecs.tf", "alb.tf",
                     "iam.tf", "security_groups.tf", "autoscaling.tf", "alarms.tf", "logs.tf"):
        assert required in names
    assert (MODULE / "terraform.tfvars.example").is_file()
    assert not any(name.endswith("_override.tf") for name in names), "test overrides must not live in terraform/"


# --------------------------------------------------------------------------------------------
# apply -> plan (no changes) -> destroy against moto
# --------------------------------------------------------------------------------------------

MOTO_ENV = {
    # ECS services report their tasks as running, so deployments complete.
    "MOTO_ECS_SERVICE_RUNNING": "1",
    # ACM certificates are issued at once instead of after 60 s.
    "MOTO_ACM_VALIDATION_WAIT": "0",
}


# (extra -var arguments, parts of the errors Terraform must answer with). Each runs with
# allow_plain_http=true unless it sets it. Preconditions need a plan against moto (tens of
# seconds each here), and Terraform reports every failed one of independent resources, so one
# entry checks two rules in one plan (the scaling policy depends on the task definition: its
# rule needs a plan of its own).
BAD_VALUES = [
    (["-var=task_size={cpu=2048,memory=1024}"], ["is not a Fargate CPU/memory pair"]),
    (['-var=allowed_ingress_cidrs=["0.0.0.0/33"]'], ["needs at least one valid IPv4 CIDR block"]),
    (["-var=min_capacity=3", "-var=max_capacity=2"], ["max_capacity must be at least min_capacity"]),
    (["-var=alb_idle_timeout=60"], ["alb_idle_timeout must be greater than PLS_REQUEST_TIMEOUT_S"]),
    (["-var=ssl_policy=ELBSecurityPolicy-2016-08"], ["ssl_policy must be a TLS 1.2+ policy"]),
    ([
        # The server must keep idle connections longer than the ALB, or reused ones end in 502s.
        "-var=alb_idle_timeout=190",
        # Medical text in the clear over the internet needs an explicit yes.
        "-var=allow_plain_http=false",
    ], [
        "server_keep_alive_timeout must be greater than alb_idle_timeout",
        "would cross the internet unencrypted",
    ]),
    # A scale-out cooldown shorter than a new task's time to serve piles up tasks.
    (["-var=scale_out_cooldown=60"], ["scale_out_cooldown must be at least a new task's time to serve"]),
]


EMULATED_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
EMULATED_WAF_RATE_LIMIT = 100


def _emulated_run_files(workdir: Path, moto_url: str, certificate_arn: str) -> Path:
    override = OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url)
    (workdir / "emulated_override.tf").write_text(override)
    tfvars = workdir / "emulated.tfvars"
    tfvars.write_text(
        "\n".join([
            'image_tag = "20260101-emulated"',
            # Exercise the HTTPS listener and the HTTP->HTTPS redirect.
            f'certificate_arn = "{certificate_arn}"',
            # Exercise the optional NAT gateway path next to the endpoints.
            "enable_nat_gateway = true",
            # Let destroy remove the ALB and the repository.
            "alb_deletion_protection = false",
            "ecr_force_delete = true",
            # Exercise the optional access control (keys from Secrets Manager) and WAF rate rule.
            f'api_keys_secret_arn = "{EMULATED_SECRET_ARN}"',
            f"waf_rate_limit = {EMULATED_WAF_RATE_LIMIT}",
        ]) + "\n"
    )
    return tfvars


def _assert_stack_in_moto(client_kwargs: dict, outputs: dict) -> None:
    """Spot-check what the apply created, through the AWS API as moto serves it."""
    ecs = boto3.client("ecs", **client_kwargs)
    service = ecs.describe_services(cluster=outputs["cluster_name"]["value"],
                                    services=[outputs["service_name"]["value"]])["services"][0]
    assert service["launchType"] == "FARGATE"
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert service["loadBalancers"][0]["containerPort"] == SERVICE_PORT
    assert service["healthCheckGracePeriodSeconds"] == _variable_default("health_check_grace_period_seconds")

    task = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"]["value"])["taskDefinition"]
    container = task["containerDefinitions"][0]
    assert container["portMappings"][0]["containerPort"] == SERVICE_PORT
    assert HEALTH_PATH in " ".join(container["healthCheck"]["command"])
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["image"].endswith(":20260101-emulated")
    assert {e["name"] for e in container["environment"]} == set(_variable_default("service_environment"))
    # The API keys reach the container from Secrets Manager, never as plain environment.
    assert [(x["name"], x["valueFrom"]) for x in container.get("secrets", [])] == [("PLS_API_KEYS", EMULATED_SECRET_ARN)]
    assert "PLS_API_KEYS" not in {e["name"] for e in container["environment"]}

    # The WAF's per-IP rate rule sits on the ALB and answers 429.
    elbv2 = boto3.client("elbv2", **client_kwargs)
    alb_arn = elbv2.describe_load_balancers(Names=[outputs["service_name"]["value"]])["LoadBalancers"][0]["LoadBalancerArn"]
    web_acl = boto3.client("wafv2", **client_kwargs).get_web_acl_for_resource(ResourceArn=alb_arn)["WebACL"]
    rule = web_acl["Rules"][0]
    assert rule["Statement"]["RateBasedStatement"]["Limit"] == EMULATED_WAF_RATE_LIMIT
    assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429

    # The server keeps idle connections open longer than the ALB does.
    assert container["command"] == outputs["container_command"]["value"]
    assert container["command"][:2] == ["serve", "--timeout-keep-alive"]
    assert int(container["command"][2]) > _variable_default("alb_idle_timeout")

    elbv2 = boto3.client("elbv2", **client_kwargs)
    target_group = elbv2.describe_target_groups(
        TargetGroupArns=[outputs["target_group_arn"]["value"]])["TargetGroups"][0]
    assert target_group["TargetType"] == "ip"
    assert target_group["HealthCheckPath"] == HEALTH_PATH
    load_balancer_arn = target_group["LoadBalancerArns"][0]
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[443]["Protocol"] == "HTTPS"

    # An alarm when no task is healthy, also when the metric is missing altogether.
    cloudwatch = boto3.client("cloudwatch", **client_kwargs)
    alarms = {a["MetricName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    healthy = alarms["HealthyHostCount"]
    assert (healthy["ComparisonOperator"], healthy["Threshold"]) == ("LessThanThreshold", 1)
    assert healthy["TreatMissingData"] == "breaching"
    assert {d["Name"] for d in healthy["Dimensions"]} == {"LoadBalancer", "TargetGroup"}

    # Scale-out waits for a new task to serve before adding another.
    autoscaling = boto3.client("application-autoscaling", **client_kwargs)
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert len(policies) == 2
    for policy in policies:
        cooldown = policy["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"]
        assert cooldown == _variable_default("scale_out_cooldown") >= _time_to_serve_s()

    ecr = boto3.client("ecr", **client_kwargs)
    repository = ecr.describe_repositories(repositoryNames=[outputs["ecr_repository_name"]["value"]])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True


def _assert_listeners_forward_to(client_kwargs: dict, load_balancer_name: str, target_group_arn: str) -> None:
    elbv2 = boto3.client("elbv2", **client_kwargs)
    load_balancer = elbv2.describe_load_balancers(Names=[load_balancer_name])["LoadBalancers"][0]
    load_balancer_arn = load_balancer["LoadBalancerArn"]
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]}
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == target_group_arn


def _time_to_serve_s() -> int:
    """task_ready_seconds plus the passing health checks before the ALB sends traffic."""
    module_locals = _locals()
    return (_variable_default("task_ready_seconds")
            + module_locals["health_check_threshold"] * module_locals["health_check_interval"])


@pytest.mark.timeout(INIT_TIMEOUT + 2 * APPLY_TIMEOUT + PLAN_TIMEOUT + DESTROY_TIMEOUT + 120)
def test_apply_plan_destroy_against_moto(terraform_bin: str, tmp_path: Path) -> None:
    workdir = copy_module(tmp_path / "module")
    terraform_init(terraform_bin, workdir)

    env = {**terraform_env(), **FAKE_CREDENTIALS}
    with moto_server(command=[sys.executable, str(MOTO_WRAPPER)], env=MOTO_ENV,
                     log_path=tmp_path / "moto.log") as moto_url:
        client_kwargs = {"endpoint_url": moto_url, "region_name": "us-east-1",
                         "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        certificate_arn = boto3.client("acm", **client_kwargs).request_certificate(
            DomainName="pls.example.com")["CertificateArn"]
        tfvars = _emulated_run_files(workdir, moto_url, certificate_arn)
        var_file = f"-var-file={tfvars.name}"
        timings: dict[str, float] = {}

        # The defaults (no certificate, no NAT gateway) plan cleanly once plain HTTP is
        # accepted explicitly: port 80 forwards.
        defaults = run_terraform(terraform_bin, ["plan", "-detailed-exitcode", "-input=false", "-no-color",
                                                 "-var=image_tag=20260101-emulated", "-var=allow_plain_http=true"],
                                 workdir, PLAN_TIMEOUT, env)
        assert defaults.returncode == 2, f"plan with the defaults failed:\n{defaults.stdout[-4000:]}{defaults.stderr[-4000:]}"
        assert "aws_lb_listener.http " in defaults.stdout or "aws_lb_listener.http will" in defaults.stdout
        assert "aws_lb_listener.https[0]" not in defaults.stdout
        assert "aws_nat_gateway.this[0]" not in defaults.stdout

        # Values that are easy to get wrong are refused before anything is created.
        for bad_args, messages in BAD_VALUES:
            refused = run_terraform(terraform_bin, ["plan", "-input=false", "-no-color",
                                                    "-var=image_tag=20260101-emulated", "-var=allow_plain_http=true",
                                                    *bad_args],
                                    workdir, PLAN_TIMEOUT, env)
            assert refused.returncode == 1, f"{bad_args} was accepted"
            for message in messages:
                assert message in " ".join(refused.stderr.split()), f"{bad_args}: {refused.stderr[-3000:]}"

        started = time.monotonic()
        apply = run_terraform(terraform_bin, ["apply", "-auto-approve", "-input=false", "-no-color", var_file],
                              workdir, APPLY_TIMEOUT, env)
        timings["apply"] = time.monotonic() - started
        check(apply, "terraform apply")

        outputs = json.loads(run_terraform(terraform_bin, ["output", "-json"], workdir, 60, env).stdout)
        assert outputs["api_url"]["value"].startswith("https://")
        _assert_stack_in_moto(client_kwargs, outputs)

        started = time.monotonic()
        plan = run_terraform(terraform_bin, ["plan", "-detailed-exitcode", "-input=false", "-no-color", var_file],
                             workdir, PLAN_TIMEOUT, env)
        timings["plan"] = time.monotonic() - started
        assert plan.returncode != 2, f"the plan after apply is not empty:\n{plan.stdout[-8000:]}"
        check(plan, "terraform plan -detailed-exitcode")

        # A replaced target group is created before the old one goes: the listener keeps
        # forwarding to a group that exists, and ELB refuses to delete one in use.
        started = time.monotonic()
        replace = run_terraform(terraform_bin, ["apply", "-auto-approve", "-input=false", "-no-color", var_file,
                                                "-replace=aws_lb_target_group.this"], workdir, APPLY_TIMEOUT, env)
        timings["replace target group"] = time.monotonic() - started
        check(replace, "terraform apply -replace=aws_lb_target_group.this")
        replaced = json.loads(run_terraform(terraform_bin, ["output", "-json"], workdir, 60, env).stdout)
        assert replaced["target_group_arn"]["value"] != outputs["target_group_arn"]["value"]
        _assert_listeners_forward_to(client_kwargs, outputs["service_name"]["value"],
                                     replaced["target_group_arn"]["value"])

        started = time.monotonic()
        destroy = run_terraform(terraform_bin, ["destroy", "-auto-approve", "-input=false", "-no-color", var_file],
                                workdir, DESTROY_TIMEOUT, env)
        timings["destroy"] = time.monotonic() - started
        check(destroy, "terraform destroy")

        state = json.loads(run_terraform(terraform_bin, ["show", "-json"], workdir, 60, env).stdout or "{}")
        assert not state.get("values", {}).get("root_module", {}).get("resources"), "resources left after destroy"

    created = re.search(r"Apply complete! Resources: (\d+) added", apply.stdout)
    print(f"emulated cycle: {created.group(1) if created else '?'} resources; "
          + ", ".join(f"{step} {seconds:.0f}s" for step, seconds in timings.items()))


# --------------------------------------------------------------------------------------------
# Upgrading a deployment made before the alarms and scaling policies came from one map
# --------------------------------------------------------------------------------------------

# The files moved.tf maps from, as they were before the alarms and scaling policies came from one
# map (commit 821b62e), kept as fixtures so that the test needs no git history (shallow clones).
BEFORE_FOR_EACH = REPO / "tests" / "fixtures" / "terraform_before_for_each"
MAPPED_FILES = ("alarms.tf", "autoscaling.tf")


def files_before_moved_blocks() -> dict[str, str]:
    # Stored as .txt: frozen text for this test, not part of any module or scan.
    return {name: (BEFORE_FOR_EACH / f"{name}.txt").read_text() for name in MAPPED_FILES}


def planned_changes(terraform: str, workdir: Path, env: dict[str, str], var_args: list[str]) -> list[dict]:
    """resource_changes of a saved plan, as `terraform show -json` gives them."""
    check(run_terraform(terraform, ["plan", "-input=false", "-no-color", "-out=upgrade.tfplan", *var_args],
                        workdir, PLAN_TIMEOUT, env), "terraform plan")
    shown = run_terraform(terraform, ["show", "-json", "upgrade.tfplan"], workdir, 60, env)
    check(shown, "terraform show -json")
    return json.loads(shown.stdout).get("resource_changes", [])


@pytest.mark.slow
@pytest.mark.timeout(INIT_TIMEOUT + APPLY_TIMEOUT + 2 * PLAN_TIMEOUT + 120)
def test_moved_blocks_carry_an_earlier_deployment_over_without_replacing_anything(terraform_bin: str,
                                                                                  tmp_path: Path) -> None:
    """Apply the module as it was before alarms.tf and autoscaling.tf were made from maps,
    then plan today's module on that state: every alarm and policy is moved to its new
    address, nothing is created or destroyed. Without moved.tf the same plan would replace
    them (checked first, so the test shows what the moved blocks prevent)."""
    workdir = copy_module(tmp_path / "module")
    current = {name: (workdir / name).read_text() for name in (*MAPPED_FILES, "moved.tf")}
    for name, text in files_before_moved_blocks().items():
        (workdir / name).write_text(text)
    (workdir / "moved.tf").unlink()
    terraform_init(terraform_bin, workdir)

    env = {**terraform_env(), **FAKE_CREDENTIALS}
    var_args = ["-var=image_tag=20260101-emulated", "-var=allow_plain_http=true"]
    with moto_server(command=[sys.executable, str(MOTO_WRAPPER)], env=MOTO_ENV,
                     log_path=tmp_path / "moto.log") as moto_url:
        (workdir / "emulated_override.tf").write_text(OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url))
        check(run_terraform(terraform_bin, ["apply", "-auto-approve", "-input=false", "-no-color", *var_args],
                            workdir, APPLY_TIMEOUT, env), "terraform apply of the earlier module")
        listed = run_terraform(terraform_bin, ["state", "list"], workdir, 60, env)
        check(listed, "terraform state list")
        earlier = {address for address in listed.stdout.split()
                   if address.startswith(("aws_cloudwatch_metric_alarm.", "aws_appautoscaling_policy."))}
        assert len(earlier) == 7, sorted(earlier)

        for name in MAPPED_FILES:
            (workdir / name).write_text(current[name])
        without_moves = planned_changes(terraform_bin, workdir, env, var_args)
        replaced = {change["address"] for change in without_moves if change["change"]["actions"] == ["delete"]}
        assert replaced == earlier, "without moved.tf the plan should destroy exactly the earlier addresses"

        (workdir / "moved.tf").write_text(current["moved.tf"])
        changes = planned_changes(terraform_bin, workdir, env, var_args)

    not_kept = [f"{change['address']}: {change['change']['actions']}" for change in changes
                if change["change"]["actions"] != ["no-op"]]
    assert not not_kept, "the upgrade would change resources:\n" + "\n".join(not_kept)
    moved_from = {change["previous_address"]: change["address"] for change in changes if "previous_address" in change}
    assert set(moved_from) == earlier, f"not moved: {sorted(earlier - set(moved_from))}"
    assert all(address.startswith(("aws_cloudwatch_metric_alarm.this[", "aws_appautoscaling_policy.this["))
               for address in moved_from.values()), moved_from


# --------------------------------------------------------------------------------------------
# Keep-alive: the server as the task definition starts it, measured on a real `bentoml serve`
# --------------------------------------------------------------------------------------------


def terraform_console(terraform: str, workdir: Path, expression: str, var_args: list[str]) -> str:
    """Evaluate one expression of the module (locals only need the variables, no AWS)."""
    result = subprocess.run(["timeout", "60", terraform, "console", "-var=image_tag=console", *var_args],
                            cwd=workdir, env=terraform_env(), input=expression + "\n", capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, f"terraform console failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def idle_close_seconds(host: str, port: int, limit_s: float) -> float:
    """Send one keep-alive request, then time how long the server keeps the idle connection."""
    with socket.create_connection((host, port), timeout=limit_s) as sock:
        sock.sendall(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(4096)
        idle_from = time.monotonic()
        while True:
            try:
                if sock.recv(4096) == b"":
                    return time.monotonic() - idle_from
            except ConnectionResetError:
                return time.monotonic() - idle_from


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_server_keeps_idle_connections_open_as_long_as_terraform_says(
        terraform_bin: str, initialised_module: Path, bento_home: Path, tmp_path: Path) -> None:
    """An ALB reuses idle connections for alb_idle_timeout; a server that closes them first
    (BentoML's default: 5 s) turns the next request on one into a 502. The task definition's
    command sets the server's keep-alive: run `bentoml serve` with exactly those options (a
    short value, so the test takes seconds, not minutes) and measure when it closes."""
    keep_alive = 9
    command = json.loads(json.loads(terraform_console(
        terraform_bin, initialised_module, "jsonencode(local.container_command)",
        [f"-var=server_keep_alive_timeout={keep_alive}", "-var=alb_idle_timeout=130"])))
    assert command[0] == "serve", command  # the image's entrypoint runs `bentoml serve <options> <bento>`
    with bentoml_serve(bento_home, tmp_path / "serve.log", arguments=tuple(command)) as url:
        port = int(url.rsplit(":", 1)[1])
        closed_after = idle_close_seconds("127.0.0.1", port, limit_s=keep_alive + 30)
    print(f"idle connection closed by the server after {closed_after:.1f} s (--timeout-keep-alive {keep_alive})")
    assert closed_after > BENTOML_DEFAULT_KEEP_ALIVE_S + 2, f"closed after {closed_after:.1f} s: the option was lost"
    assert abs(closed_after - keep_alive) < 2.5, f"closed after {closed_after:.1f} s, not {keep_alive} s"
