"""scripts/deploy/deploy.sh's steps against moto with stand-in container tools: push (login,
tag, push, an existing tag skipped, the repository's region, another endpoint of the registry),
roll, apply's choice of tag, and a destroy that creates nothing. The whole path with the real
image is tests/e2e/test_deploy.py's."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support import terraform as terraform_support
from tests.support.deploy import (
    clean_env,
    deploy,
    moto_ecr,
    moto_kwargs,
    output_reads,
    put_image,
    recorded,
    state_outputs,
)
from tests.support.moto import FAKE_CREDENTIALS, moto_server


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto server for the module (services report their tasks as running)."""
    with moto_server(env={"MOTO_ECS_SERVICE_RUNNING": "1"},
                     log_path=tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def moto_url(moto_endpoint: str) -> str:
    """The module's moto server, emptied for each test (moto's own reset)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=30)
    return moto_endpoint


# --------------------------------------------------------------------------------------------
# push against moto's ECR (the container tool is a recording stub)
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_push_logs_in_tags_and_pushes_then_skips_an_existing_tag(moto_url: str, recording_path: tuple[str, Path],
                                                                   tmp_path: Path) -> None:
    path, calls = recording_path
    ecr = moto_ecr(moto_url, "us-east-1")
    repository_url = ecr.create_repository(repositoryName="pls-service",
                                           imageTagMutability="IMMUTABLE")["repository"]["repositoryUri"]
    registry = repository_url.split("/")[0]
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)
    args = ["push", "--tag", "20260101.1", "--repository-url", repository_url, "--region", "us-east-1"]

    result = deploy(args, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == [
        f"docker login --username AWS --password-stdin {registry}",
        f"docker tag pls-service:20260101.1 {repository_url}:20260101.1",
        f"docker push {repository_url}:20260101.1",
    ]
    secret = Path(f"{calls}.stdin").read_text().strip()
    assert secret, "no registry password on stdin"
    assert secret not in result.stdout + result.stderr, "the registry password was printed"

    # Tags are immutable: once the tag is in ECR, push has nothing to do.
    put_image(ecr, "20260101.1")
    calls.unlink()
    result = deploy(args, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already in ECR" in result.stdout
    assert not calls.exists()


@pytest.mark.timeout(120)
def test_push_through_another_registry_endpoint_still_asks_ecr(moto_url: str, recording_path: tuple[str, Path]) -> None:
    """--registry: login (with ECR's password), tag and push go to that host under the
    repository's name; whether the tag is there already is ECR's answer, not the registry's."""
    path, calls = recording_path
    ecr = moto_ecr(moto_url, "us-east-1")
    repository_url = ecr.create_repository(repositoryName="pls-service",
                                           imageTagMutability="IMMUTABLE")["repository"]["repositoryUri"]
    endpoint = "127.0.0.1:5999"
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)
    args = ["--backend", "buildah", "push", "--tag", "20260101.1", "--repository-url", repository_url,
            "--region", "us-east-1", "--registry", endpoint]

    result = deploy(args, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == [
        f"buildah login --username AWS --password-stdin {endpoint}",
        f"buildah tag pls-service:20260101.1 {endpoint}/pls-service:20260101.1",
        f"buildah push {endpoint}/pls-service:20260101.1",
    ]
    secret = Path(f"{calls}.stdin").read_text().strip()
    assert secret, "no registry password on stdin"
    assert secret not in result.stdout + result.stderr, "the registry password was printed"

    put_image(ecr, "20260101.1")
    calls.unlink()
    result = deploy(args, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{repository_url}:20260101.1 is already in ECR" in result.stdout
    assert not calls.exists()


# --------------------------------------------------------------------------------------------
# roll against moto
# --------------------------------------------------------------------------------------------


def _register_task_definition(ecs, image: str) -> str:
    return ecs.register_task_definition(
        family="pls-service", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="2048",
        memory="4096",
        containerDefinitions=[{"name": "pls-service", "image": image, "essential": True,
                               "portMappings": [{"containerPort": 3000}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def _create_service(moto_url: str, image: str = "pls-service:1") -> tuple[str, str]:
    kwargs = moto_kwargs(moto_url)
    ec2 = boto3.client("ec2", **kwargs)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", **kwargs)
    ecs.create_cluster(clusterName="pls-service")
    task = _register_task_definition(ecs, image)
    ecs.create_service(
        cluster="pls-service", serviceName="pls-service", taskDefinition=task, desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    return "pls-service", "pls-service"


@pytest.mark.timeout(180)
def test_roll_forces_a_new_deployment_and_waits_until_stable(moto_url: str, tmp_path: Path) -> None:
    cluster, service = _create_service(moto_url)
    ecs = boto3.client("ecs", **moto_kwargs(moto_url))
    before = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["deployments"][0]["id"]

    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url)
    result = deploy(["roll", "--cluster", cluster, "--service", service, "--region", "us-east-1",
                     "--poll-interval", "0.2", "--timeout", "60"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("aws ecs update-service --cluster pls-service --service pls-service --force-new-deployment"
            in result.stdout)
    assert "is stable: 1/1 tasks" in result.stdout

    after = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["deployments"][0]["id"]
    assert after != before, "roll did not start a new deployment"


@pytest.mark.timeout(60)
def test_roll_of_a_missing_service_fails_clearly(moto_url: str, tmp_path: Path) -> None:
    boto3.client("ecs", **moto_kwargs(moto_url)).create_cluster(clusterName="pls-service")
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url)
    result = deploy(["roll", "--cluster", "pls-service", "--service", "nope", "--region", "us-east-1"], env)
    assert result.returncode != 0
    assert "deploy: error:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(120)
def test_push_after_the_first_targeted_apply_uses_the_repositorys_region(
        moto_url: str, recording_path: tuple[str, Path], tmp_path: Path) -> None:
    """After `apply -target=aws_ecr_repository.this` the state has the repository URL but no
    `region` output; the AWS profile's region (here us-east-1) is not the stack's."""
    path, calls = recording_path
    ecr = moto_ecr(moto_url, "eu-west-1")
    url = ecr.create_repository(repositoryName="pls-service",
                                imageTagMutability="IMMUTABLE")["repository"]["repositoryUri"]
    assert ".eu-west-1." in url
    state_outputs(calls, ecr_repository_url=url, ecr_repository_name="pls-service")
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)
    result = deploy(["push", "--tag", "20260101.1"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"docker push {url}:20260101.1" in recorded(calls)
    assert "eu-west-1" in result.stdout
    # The state's outputs are read once per run (the credential check and push share them).
    assert output_reads(calls) == 1, recorded(calls)


@pytest.mark.timeout(120)
def test_push_to_a_missing_repository_fails_clearly(moto_url: str, recording_path: tuple[str, Path]) -> None:
    path, _calls = recording_path
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)
    result = deploy(["push", "--tag", "v1", "--repository-url",
                     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pls-service"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ECR repository pls-service does not exist in eu-west-1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(180)
def test_apply_defaults_to_the_deployed_tag_and_refuses_tags_ecr_lacks(moto_url: str, recording_path: tuple[str, Path],
                                                                       tmp_path: Path) -> None:
    path, calls = recording_path
    ecr = moto_ecr(moto_url, "us-east-1")
    url = ecr.create_repository(repositoryName="pls-service")["repository"]["repositoryUri"]
    put_image(ecr, "20260101.1")
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)

    # Nothing deployed and no --tag: nothing to apply (never the newest local bento).
    result = deploy(["apply", "--auto-approve"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no image tag to apply" in result.stderr
    assert not any(" apply " in f" {c} " for c in recorded(calls)), recorded(calls)

    # A standalone apply keeps the deployed tag.
    state_outputs(calls, ecr_repository_url=url, ecr_repository_name="pls-service", image_tag="20260101.1",
                  region="us-east-1")
    reads_before = output_reads(calls)
    result = deploy(["apply", "--auto-approve"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    applies = [c for c in recorded(calls) if " apply " in c]
    assert len(applies) == 1 and "-var=image_tag=20260101.1" in applies[0], recorded(calls)
    # Outputs read once before the apply and once after it changed them (for the API URL).
    assert output_reads(calls) - reads_before == 2, recorded(calls)
    assert not any(c.startswith("bentoml") for c in recorded(calls)), "apply looked at the local bentos"

    # A tag that was never pushed is refused before Terraform runs.
    calls.unlink()
    result = deploy(["apply", "--auto-approve", "--tag", "20260202.1"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{url}:20260202.1 is not in ECR" in result.stderr
    assert "deploy.sh --tag 20260202.1 push" in result.stderr
    assert not any(" apply " in c for c in recorded(calls)), recorded(calls)


@pytest.mark.timeout(180)
def test_apply_and_roll_refuse_to_redeploy_what_the_circuit_breaker_rolled_back(
        moto_url: str, recording_path: tuple[str, Path]) -> None:
    """Applied A, then B; B's tasks failed and ECS moved the service back to A's task definition,
    as the circuit breaker does. The state (outputs) still names B."""
    path, calls = recording_path
    kwargs = moto_kwargs(moto_url)
    ecr = moto_ecr(moto_url, "us-east-1")
    url = ecr.create_repository(repositoryName="pls-service")["repository"]["repositoryUri"]
    for tag in ("20260101.1", "20260202.1"):
        put_image(ecr, tag)
    cluster, service = _create_service(moto_url, image=f"{url}:20260101.1")
    ecs = boto3.client("ecs", **kwargs)
    definition_a = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    definition_b = _register_task_definition(ecs, f"{url}:20260202.1")
    ecs.update_service(cluster=cluster, service=service, taskDefinition=definition_b)  # apply B
    outputs = {"ecr_repository_url": url, "ecr_repository_name": "pls-service", "region": "us-east-1",
               "cluster_name": cluster, "service_name": service}
    state_outputs(calls, **outputs, image_tag="20260202.1", task_definition_arn=definition_b)
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)

    # Before the rollback: the service runs what was applied, so apply goes ahead.
    result = deploy(["apply", "--auto-approve"], env)
    assert result.returncode == 0, result.stdout + result.stderr

    ecs.update_service(cluster=cluster, service=service, taskDefinition=definition_a)  # the rollback
    for command in ("apply", "roll"):
        calls.unlink()
        result = deploy([command, "--auto-approve"], env)
        assert result.returncode == 2, result.stdout + result.stderr
        message = result.stderr
        assert "runs image 20260101.1" in message and "deployed 20260202.1" in message, message
        assert "circuit breaker rolled 20260202.1 back" in message, message
        assert "deploy.sh --tag 20260101.1 apply" in message, message
        assert "Traceback" not in message
        assert not any(" apply " in f" {c} " for c in recorded(calls)), recorded(calls)
        assert ecs.describe_services(cluster=cluster, services=[service])["services"][0][
            "taskDefinition"] == definition_a, f"{command} changed the service"

    # Adopting the running image is what the message says to run: it goes ahead.
    calls.unlink()
    result = deploy(["apply", "--auto-approve", "--tag", "20260101.1"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    applies = [c for c in recorded(calls) if " apply " in c]
    assert len(applies) == 1 and "-var=image_tag=20260101.1" in applies[0], recorded(calls)


# --------------------------------------------------------------------------------------------
# destroy against moto with real Terraform: it must not create what it means to delete
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_destroy_targets_only_what_the_state_holds(terraform_bin: str, tmp_path: Path) -> None:
    """After only the first push (the state holds the ECR repository and nothing else),
    destroy lifts the repository's guard and deletes it, and creates no ALB (nor its VPC)."""
    terraform = terraform_bin
    workdir = terraform_support.copy_module(tmp_path / "module")
    terraform_support.terraform_init(terraform, workdir)
    with moto_server(command=[sys.executable, str(terraform_support.MOTO_WRAPPER)],
                     env=terraform_support.MOTO_ENV, log_path=tmp_path / "moto.log") as moto_url:
        (workdir / "emulated_override.tf").write_text(
            terraform_support.OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url))
        (workdir / "terraform.tfvars").write_text('allow_plain_http = true\nallow_anonymous_api = true\n')
        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, **terraform_support.AUTOMATION_ENV)
        kwargs = moto_kwargs(moto_url)

        # No state at all: nothing to lift, nothing created.
        result = deploy(["--tf-dir", str(workdir), "--auto-approve", "destroy"], env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "-target=" not in result.stdout
        assert boto3.client("elbv2", **kwargs).describe_load_balancers()["LoadBalancers"] == []

        first_push = subprocess.run([terraform, "apply", "-auto-approve", "-input=false", "-no-color",
                                     "-target=aws_ecr_repository.this", "-var=image_tag=v1"], cwd=workdir, env=env,
                                    capture_output=True, text=True, timeout=300)
        assert first_push.returncode == 0, first_push.stdout + first_push.stderr
        put_image(boto3.client("ecr", **kwargs), "v1")  # a pushed image: the repository is not empty

        result = deploy(["--tf-dir", str(workdir), "--auto-approve", "destroy"], env, timeout=400)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "-target=aws_ecr_repository.this" in result.stdout
        assert "-target=aws_lb.this" not in result.stdout
        assert "aws_lb.this: Creat" not in result.stdout and "aws_vpc.this: Creat" not in result.stdout
        assert boto3.client("ecr", **kwargs).describe_repositories()["repositories"] == []
        assert boto3.client("elbv2", **kwargs).describe_load_balancers()["LoadBalancers"] == []
        vpcs = boto3.client("ec2", **kwargs).describe_vpcs()["Vpcs"]
        assert all(v.get("IsDefault") for v in vpcs), "destroy created a VPC"

