"""One deployment's whole life against moto, through the deploy CLI users run: the image the
session's `deploy.sh build` made (tests/support/image_build.py), pushed with `--registry` to a
local registry standing in for an endpoint of ECR's registry (trusted as a user trusts a private
registry's certificate); a stack with TLS, a NAT gateway, API keys and the WAF applied as the
module was before moved.tf, then upgraded to today's through `deploy.sh apply` without replacing
anything; the stack checked through the AWS API, a no-change plan, a target-group replacement,
roll, apply again and destroy.

Every stateful check shares this one life: a full stack costs minutes against moto (the AWS
provider's own waits, the ALB's alone 30 s), so it runs in the background right after the image
build, while the integration tier does. What only a plan can show is in terraform/tests/*.tftest.hcl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.support.aws import local_registry
from tests.support.deploy import deploy, moto_kwargs
from tests.support.image_build import BuiltImage, after_build_result, after_the_image_build
from tests.support.moto import FAKE_CREDENTIALS, moto_server
from tests.support.processes import REPO
from tests.support.service_contract import HEALTH_PATH, LIVENESS_PATH, SERVICE_PORT
from tests.support.terraform import (
    APPLY_TIMEOUT,
    AUTOMATION_ENV,
    MODULE,
    MOTO_ENV,
    MOTO_WRAPPER,
    OVERRIDE_TEMPLATE,
    PLAN_TIMEOUT,
    check,
    copy_module,
    parse,
    run_terraform,
    terraform_binary,
    terraform_env,
    terraform_init,
    time_to_serve_s,
    variable_default,
)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
WAF_RATE_LIMIT = 100

# The files moved.tf maps from, as they were before each move: the alarms and scaling policies
# before they came from one map each (commit 821b62e), the service before it gained `count`
# (ecs.tf, and outputs.tf that names it). Fixtures, so that the test needs no git history.
BEFORE_MOVES = REPO / "tests" / "fixtures" / "terraform_before_moves"
MAPPED_FILES = ("alarms.tf", "autoscaling.tf", "ecs.tf", "outputs.tf")
EARLIER_ADDRESSES = ("aws_cloudwatch_metric_alarm.", "aws_appautoscaling_policy.", "aws_ecs_service.")
# Terraform moves a resource that gains `count` to index [0] by itself; moved.tf says so anyway.
IMPLICIT_MOVES = {"aws_ecs_service.this"}
# Files added since, absent from the earlier module: the upgrade creates what they declare, and
# nothing else.
NEW_FILES = ("service_alarms.tf",)


def planned_changes(terraform: str, workdir: Path, env: dict[str, str], var_args: list[str]) -> list[dict]:
    """resource_changes of a saved plan, as `terraform show -json` gives them."""
    check(run_terraform(terraform, ["plan", "-input=false", "-no-color", "-out=upgrade.tfplan", *var_args],
                        workdir, PLAN_TIMEOUT, env), "terraform plan")
    shown = run_terraform(terraform, ["show", "-json", "upgrade.tfplan"], workdir, 60, env)
    check(shown, "terraform show -json")
    return json.loads(shown.stdout).get("resource_changes", [])


def production_settings(certificate_arn: str, alarm_topic: str) -> str:
    """terraform.tfvars of the life: each optional path switched on."""
    return "\n".join([
        f'alarm_actions = ["{alarm_topic}"]',           # alarms and failed deployments notify a topic
        f'certificate_arn = "{certificate_arn}"',       # the HTTPS listener and the HTTP->HTTPS redirect
        "enable_nat_gateway = true",                    # the NAT gateway next to the endpoints
        f'api_keys_secret_arn = "{SECRET_ARN}"',        # keys from Secrets Manager
        f"waf_rate_limit = {WAF_RATE_LIMIT}",           # the WAF's per-IP rate rule
    ]) + "\n"


def assert_stack_in_moto(kwargs: dict, outputs: dict, image: str, alarm_topic: str) -> None:
    """Spot-check what the apply created, through the AWS API as moto serves it."""
    ecs = boto3.client("ecs", **kwargs)
    service = ecs.describe_services(cluster=outputs["cluster_name"]["value"],
                                    services=[outputs["service_name"]["value"]])["services"][0]
    assert service["launchType"] == "FARGATE"
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert service["loadBalancers"][0]["containerPort"] == SERVICE_PORT
    assert service["healthCheckGracePeriodSeconds"] == variable_default("health_check_grace_period_seconds")

    task = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"]["value"])["taskDefinition"]
    container = task["containerDefinitions"][0]
    assert container["image"] == image
    assert container["portMappings"][0]["containerPort"] == SERVICE_PORT
    # ECS replaces a task whose container check fails: it asks liveness; the ALB asks readiness.
    assert LIVENESS_PATH in " ".join(container["healthCheck"]["command"])
    assert HEALTH_PATH not in " ".join(container["healthCheck"]["command"])
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert {e["name"] for e in container["environment"]} == set(variable_default("service_environment"))
    # The API keys reach the container from Secrets Manager, never as plain environment.
    assert [(x["name"], x["valueFrom"]) for x in container.get("secrets", [])] == [("PLS_API_KEYS", SECRET_ARN)]
    assert "PLS_API_KEYS" not in {e["name"] for e in container["environment"]}
    # Only the execution role (the ECS agent) may read that one secret.
    iam = boto3.client("iam", **kwargs)
    execution_role = task["executionRoleArn"].rsplit("/", 1)[1]
    documents = [iam.get_role_policy(RoleName=execution_role, PolicyName=name)["PolicyDocument"]
                 for name in iam.list_role_policies(RoleName=execution_role)["PolicyNames"]]
    readers = [s for d in documents for s in d["Statement"] if "secretsmanager" in json.dumps(s["Action"])]
    assert [(r["Action"], r["Resource"]) for r in readers] == [("secretsmanager:GetSecretValue", SECRET_ARN)]
    # The server keeps idle connections open longer than the ALB does.
    assert container["command"] == outputs["container_command"]["value"]
    assert container["command"][:2] == ["serve", "--timeout-keep-alive"]
    assert int(container["command"][2]) > variable_default("alb_idle_timeout")

    # The WAF's per-IP rate rule sits on the ALB and answers 429.
    elbv2 = boto3.client("elbv2", **kwargs)
    alb = elbv2.describe_load_balancers(Names=[outputs["service_name"]["value"]])["LoadBalancers"][0]
    alb_arn = alb["LoadBalancerArn"]
    rule = boto3.client("wafv2", **kwargs).get_web_acl_for_resource(ResourceArn=alb_arn)["WebACL"]["Rules"][0]
    assert rule["Statement"]["RateBasedStatement"]["Limit"] == WAF_RATE_LIMIT
    assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429

    target_group = elbv2.describe_target_groups(
        TargetGroupArns=[outputs["target_group_arn"]["value"]])["TargetGroups"][0]
    assert target_group["TargetType"] == "ip"
    assert target_group["HealthCheckPath"] == HEALTH_PATH
    listeners = {item["Port"]: item for item in elbv2.describe_listeners(LoadBalancerArn=alb_arn)["Listeners"]}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    # ...except writes, which a redirect would turn into GETs: a 4xx that says to use HTTPS.
    rules = [r for r in elbv2.describe_rules(ListenerArn=listeners[80]["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert len(rules) == 1, rules
    action, condition = rules[0]["Actions"][0], rules[0]["Conditions"][0]
    assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "400"
    assert "https://" in json.loads(action["FixedResponseConfig"]["MessageBody"])["error"]
    methods = condition.get("HttpRequestMethodConfig", {}).get("Values") or condition.get("Values")
    assert set(methods) == {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, condition
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]

    # An alarm when no task is healthy, also when the metric is missing altogether.
    described_alarms = boto3.client("cloudwatch", **kwargs).describe_alarms()["MetricAlarms"]
    alarms = {a.get("MetricName"): a for a in described_alarms}
    healthy = alarms["HealthyHostCount"]
    assert (healthy["ComparisonOperator"], healthy["Threshold"]) == ("LessThanThreshold", 1)
    assert healthy["TreatMissingData"] == "breaching"
    assert {d["Name"] for d in healthy["Dimensions"]} == {"LoadBalancer", "TargetGroup"}

    # Fewer tasks running than desired, from Container Insights' counts, notifies the topic...
    name = outputs["service_name"]["value"]
    below = {a["AlarmName"]: a for a in described_alarms}[f"{name}-tasks-below-desired"]
    assert below["AlarmActions"] == [alarm_topic]
    counts = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in below["Metrics"] if "MetricStat" in q}
    assert counts == {"desired": "DesiredTaskCount", "running": "RunningTaskCount"}
    # ...and so does a deployment the circuit breaker failed, which no metric shows.
    events = boto3.client("events", **kwargs)
    pattern = json.loads(events.describe_rule(Name=f"{name}-deployment-failed")["EventPattern"])
    assert pattern["detail"]["eventName"] == ["SERVICE_DEPLOYMENT_FAILED"]
    assert pattern["resources"] == [service["serviceArn"]]
    targets = events.list_targets_by_rule(Rule=f"{name}-deployment-failed")["Targets"]
    assert [target["Arn"] for target in targets] == [alarm_topic]
    assert "<reason>" in targets[0]["InputTransformer"]["InputTemplate"]

    # Scale-out waits for a new task to serve before adding another.
    policies = boto3.client("application-autoscaling", **kwargs).describe_scaling_policies(
        ServiceNamespace="ecs")["ScalingPolicies"]
    assert len(policies) == 2
    for policy in policies:
        cooldown = policy["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"]
        assert cooldown == variable_default("scale_out_cooldown") >= time_to_serve_s()

    repository = boto3.client("ecr", **kwargs).describe_repositories(
        repositoryNames=[outputs["ecr_repository_name"]["value"]])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True


@after_the_image_build("test_a_deployment_lives_from_first_push_to_destroy")
def live_a_deployment(built: BuiltImage, tmp_path: Path) -> str:
    """The whole life; returns how long each step took. It runs right after the session's image
    build, in the build's background thread (while the integration tier runs), when the test
    below is selected; the test waits for it and re-raises whatever it raised."""
    terraform_bin = terraform_binary()
    version = built.version
    if local_registry.registry_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-registry is not installed (CI=true installs it with the container tools)")
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")

    # The bento deploy.sh built carries both models from the default store.
    bentoml = str(Path(sys.executable).parent / "bentoml")
    bento = json.loads(subprocess.run([bentoml, "get", f"pls-service:{version}", "-o", "json"], env=built.env,
                                      capture_output=True, text=True, check=True).stdout)
    assert {m["tag"].partition(":")[0] for m in bento["models"]} == {"pls-simplifier", "pls-classifier"}

    # The module as a deployment made before moved.tf has it.
    workdir = copy_module(tmp_path / "module")
    current = {name: (workdir / name).read_text() for name in (*MAPPED_FILES, *NEW_FILES, "moved.tf")}
    for name in MAPPED_FILES:
        (workdir / name).write_text((BEFORE_MOVES / f"{name}.txt").read_text())
    for name in (*NEW_FILES, "moved.tf"):
        (workdir / name).unlink()
    new_resources = tuple(f"{kind}.{name}" for file in NEW_FILES for block in parse(MODULE / file)["resource"]
                          for kind, named in block.items() for name in named)
    terraform_init(terraform_bin, workdir)

    (tmp_path / "registry").mkdir()
    with local_registry.local_registry(tmp_path / "registry") as registry, \
            moto_server(command=[sys.executable, str(MOTO_WRAPPER)], env=MOTO_ENV,
                        log_path=tmp_path / "moto.log") as moto_url:
        (workdir / "emulated_override.tf").write_text(OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url))
        kwargs = moto_kwargs(moto_url)
        env = {key: value for key, value in built.env.items() if not key.startswith("AWS_")}
        env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
                   AWS_CONFIG_FILE="/nonexistent/config", AWS_EC2_METADATA_DISABLED="true", PYTHON=sys.executable,
                   **AUTOMATION_ENV)
        local_registry.trust(registry, Path(env["HOME"]))  # its CA, where buildah looks for it
        tf_env = {**terraform_env(), **FAKE_CREDENTIALS}
        common = ["--backend", "buildah", "--tf-dir", str(workdir), "--auto-approve"]
        timings: dict[str, float] = {}

        def step(*args: str, expect: int = 0, timeout: float = 900) -> subprocess.CompletedProcess:
            started = time.monotonic()
            result = deploy([*common, *args], env, timeout=timeout)
            timings[f"deploy.sh {' '.join(args)} ({len(timings)})"] = time.monotonic() - started
            assert result.returncode == expect, f"deploy.sh {' '.join(args)}: exit {result.returncode}\n" \
                                                f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
            return result

        def terraform(*args: str, timeout: int = APPLY_TIMEOUT) -> subprocess.CompletedProcess:
            started = time.monotonic()
            result = run_terraform(terraform_bin, [*args, "-input=false", "-no-color"], workdir, timeout, tf_env)
            timings[f"terraform {' '.join(args)} ({len(timings)})"] = time.monotonic() - started
            return result

        # 1. The first push creates the repository alone, then the image goes to the registry
        # (moto's ECR has the API, not the registry): --registry, as for any other endpoint of it.
        pushed = step("--registry", registry.address, "push")
        assert "-target=aws_ecr_repository.this" in pushed.stdout
        assert f"buildah push {registry.address}/pls-service:{version}" in pushed.stdout
        assert version in local_registry.registry_tags(registry, "pls-service")
        # What ECR would record of that push: the manifest, under the tag.
        manifest, media_type = local_registry.registry_manifest(registry, "pls-service", version)
        boto3.client("ecr", **kwargs).put_image(repositoryName="pls-service", imageTag=version,
                                                imageManifest=manifest, imageManifestMediaType=media_type)

        # 2. A deployment made with the module before moved.tf, every optional path on (terraform.tfvars,
        # which the deploy CLI's Terraform reads too): TLS, a NAT gateway, API keys, the WAF.
        certificate_arn = boto3.client("acm", **kwargs).request_certificate(
            DomainName="pls.example.com")["CertificateArn"]
        alarm_topic = boto3.client("sns", **kwargs).create_topic(Name="pls-alerts")["TopicArn"]
        (workdir / "terraform.tfvars").write_text(production_settings(certificate_arn, alarm_topic))
        earlier_vars = [f"-var=image_tag={version}"]
        check(terraform("apply", "-auto-approve", *earlier_vars), "terraform apply of the earlier module")
        listed = run_terraform(terraform_bin, ["state", "list"], workdir, 60, tf_env)
        check(listed, "terraform state list")
        earlier = {address for address in listed.stdout.split() if address.startswith(EARLIER_ADDRESSES)}
        assert len(earlier) == 8, sorted(earlier)

        # 3. Today's module: without moved.tf it would destroy exactly those; with it, only moves.
        for name in (*MAPPED_FILES, *NEW_FILES):
            (workdir / name).write_text(current[name])
        without_moves = planned_changes(terraform_bin, workdir, tf_env, earlier_vars)
        deleted = {change["address"] for change in without_moves if change["change"]["actions"] == ["delete"]}
        assert deleted == earlier - IMPLICIT_MOVES, "without moved.tf the plan should destroy the earlier addresses"
        (workdir / "moved.tf").write_text(current["moved.tf"])
        changes = planned_changes(terraform_bin, workdir, tf_env, earlier_vars)
        created = {c["address"] for c in changes if c["change"]["actions"] == ["create"]
                   and c["address"].startswith(new_resources)}
        assert {address.partition("[")[0] for address in created} == set(new_resources), created
        not_kept = [f"{change['address']}: {change['change']['actions']}" for change in changes
                    if change["change"]["actions"] != ["no-op"] and change["address"] not in created]
        assert not not_kept, "the upgrade would change resources:\n" + "\n".join(not_kept)
        moved_from = {c["previous_address"]: c["address"] for c in changes if "previous_address" in c}
        assert set(moved_from) == earlier, f"not moved: {sorted(earlier - set(moved_from))}"
        assert all(address.startswith(("aws_cloudwatch_metric_alarm.this[", "aws_appautoscaling_policy.this[",
                                       "aws_ecs_service.this[0]")) for address in moved_from.values()), moved_from

        # 4. The upgrade through the deploy CLI: a tag ECR lacks is refused, the pushed one applied.
        refused = step("--tag", "never-pushed", "apply", expect=2)
        assert "is not in ECR" in refused.stderr
        step("--tag", version, "apply")
        outputs = json.loads(run_terraform(terraform_bin, ["output", "-json"], workdir, 60, tf_env).stdout)
        assert outputs["api_url"]["value"].startswith("https://")
        repository_url = outputs["ecr_repository_url"]["value"]
        assert_stack_in_moto(kwargs, outputs, image=f"{repository_url}:{version}", alarm_topic=alarm_topic)

        # 5. Nothing left to change.
        tag_var = f"-var=image_tag={version}"
        plan = terraform("plan", "-detailed-exitcode", tag_var, timeout=PLAN_TIMEOUT)
        assert plan.returncode != 2, f"the plan after apply is not empty:\n{plan.stdout[-8000:]}"
        check(plan, "terraform plan -detailed-exitcode")

        # 6. A replaced target group is created before the old one goes: the listener keeps
        # forwarding to a group that exists, and ELB refuses to delete one in use.
        check(terraform("apply", "-auto-approve", tag_var, "-replace=aws_lb_target_group.this"),
              "terraform apply -replace=aws_lb_target_group.this")
        replaced = json.loads(run_terraform(terraform_bin, ["output", "-json"], workdir, 60, tf_env).stdout)
        assert replaced["target_group_arn"]["value"] != outputs["target_group_arn"]["value"]
        elbv2 = boto3.client("elbv2", **kwargs)
        alb_arn = elbv2.describe_load_balancers(Names=[outputs["service_name"]["value"]])["LoadBalancers"][0][
            "LoadBalancerArn"]
        listeners = {item["Port"]: item for item in elbv2.describe_listeners(LoadBalancerArn=alb_arn)["Listeners"]}
        assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == replaced["target_group_arn"]["value"]

        # 7. roll: a new deployment of the same task definition, waited for.
        rolled = step("--poll-interval", "1", "--timeout", "300", "roll")
        assert "is stable" in rolled.stdout

        # 8. A standalone apply keeps the deployed tag: nothing changes.
        again = step("apply")
        assert f"-var=image_tag={version}" in again.stdout
        assert "0 added, 0 changed, 0 destroyed" in again.stdout

        # 9. A rollback: B applied, its tasks fail and ECS moves the service back to A's task
        # definition, as the circuit breaker does. The state still names B: apply without --tag
        # and roll refuse to redeploy it; --tag A, the command they name, adopts what runs.
        ecs = boto3.client("ecs", **kwargs)
        cluster, service = outputs["cluster_name"]["value"], outputs["service_name"]["value"]
        definition_a = json.loads(run_terraform(terraform_bin, ["output", "-json"], workdir, 60, tf_env).stdout)[
            "task_definition_arn"]["value"]
        failed_tag = f"{version}-failed"
        boto3.client("ecr", **kwargs).put_image(repositoryName="pls-service", imageTag=failed_tag,
                                                imageManifest=manifest, imageManifestMediaType=media_type)
        step("--tag", failed_tag, "apply")
        definition_b = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
        assert definition_b != definition_a
        ecs.update_service(cluster=cluster, service=service, taskDefinition=definition_a)
        for command in ("apply", "roll"):
            refused = step(command, expect=2)
            assert f"runs image {version} " in refused.stderr, refused.stderr
            assert f"rolled {failed_tag} back" in refused.stderr, refused.stderr
            assert f"deploy.sh --tag {version} apply" in refused.stderr, refused.stderr
        step("--tag", version, "apply")
        adopted = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
        image = ecs.describe_task_definition(taskDefinition=adopted)["taskDefinition"]["containerDefinitions"][0][
            "image"]
        assert image.endswith(f":{version}"), image

        # 10. Without autoscaling Terraform owns the task count. The switch as the README gives it
        # (the service moved in the state, not replaced), then min_capacity 1 -> 3 is applied.
        check(run_terraform(terraform_bin, ["state", "mv", "aws_ecs_service.this[0]", "aws_ecs_service.fixed_count[0]"],
                            workdir, 60, tf_env), "terraform state mv")
        with (workdir / "terraform.tfvars").open("a") as tfvars:
            tfvars.write("enable_autoscaling = false\nmin_capacity = 3\n")
        switched = {c["address"]: c["change"]["actions"]
                    for c in planned_changes(terraform_bin, workdir, tf_env, [tag_var])
                    if c["change"]["actions"] != ["no-op"]}
        assert switched.pop("aws_ecs_service.fixed_count[0]") == ["update"], switched
        assert all(actions == ["delete"] and address.startswith("aws_appautoscaling_")
                   for address, actions in switched.items()), switched
        assert ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"] == 1
        step("apply")
        assert ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"] == 3

        # 11. destroy lifts the deletion guards, then removes everything.
        step("destroy", timeout=900)
        assert boto3.client("elbv2", **kwargs).describe_load_balancers()["LoadBalancers"] == []
        assert boto3.client("ecr", **kwargs).describe_repositories()["repositories"] == []
        state = json.loads(run_terraform(terraform_bin, ["show", "-json"], workdir, 60, tf_env).stdout or "{}")
        assert not state.get("values", {}).get("root_module", {}).get("resources"), "resources left after destroy"

    return "deployment life: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in timings.items())


@pytest.mark.timeout(3600)
def test_a_deployment_lives_from_first_push_to_destroy(deploy_built_image: BuiltImage, tmp_path: Path) -> None:
    print(after_build_result(live_a_deployment, deploy_built_image, tmp_path))
