"""One deployment's whole life against moto, through the deploy CLI users run: the image the
session's `deploy.sh build` made (tests/support/image_build.py), pushed with `--registry` to a
local registry standing in for an endpoint of ECR's registry (trusted as a user trusts a private
registry's certificate); a stack with TLS, a NAT gateway, API keys and the WAF applied as the
module was before moved.tf, then upgraded to today's without replacing anything (planned with the
service's own metrics off), and through `deploy.sh apply`, which turns them on (the dashboard, the
alarms on them, the work-in-flight scaling policy); the stack checked through the AWS API, a
no-change plan, a target-group replacement, roll, apply again and destroy.

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
from tests.support.deployment_life import assert_stack_in_moto, planned_changes, production_settings
from tests.support.image_build import BuiltImage, after_build_result, after_the_image_build
from tests.support.moto import FAKE_CREDENTIALS, moto_server
from tests.support.processes import REPO
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
)

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
NEW_FILES = ("service_alarms.tf", "dashboard.tf")
# Created by the upgrade only with the service's own metrics on (emf_metrics), which the
# moves-only plan leaves off: the defaults turn them on in step 4.
WITH_SERVICE_METRICS = {"aws_cloudwatch_metric_alarm.service_metrics"}


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

        # 3. Today's module: without moved.tf it would destroy exactly those; with it, only moves
        # (the service's own metrics off: with them the defaults change more, applied in step 4).
        for name in (*MAPPED_FILES, *NEW_FILES):
            (workdir / name).write_text(current[name])
        earlier_vars = [*earlier_vars, "-var=emf_metrics=false"]
        without_moves = planned_changes(terraform_bin, workdir, tf_env, earlier_vars)
        deleted = {change["address"] for change in without_moves if change["change"]["actions"] == ["delete"]}
        assert deleted == earlier - IMPLICIT_MOVES, "without moved.tf the plan should destroy the earlier addresses"
        (workdir / "moved.tf").write_text(current["moved.tf"])
        changes = planned_changes(terraform_bin, workdir, tf_env, earlier_vars)
        created = {c["address"] for c in changes if c["change"]["actions"] == ["create"]
                   and c["address"].startswith(new_resources)}
        assert {address.partition("[")[0] for address in created} == set(new_resources) - WITH_SERVICE_METRICS, created
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
        # The dashboard's work graph loses its scaling-target line.
        assert switched.pop("aws_cloudwatch_dashboard.this") == ["update"], switched
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
