"""scripts/deploy.sh: prerequisite and credential errors, dry runs, and `roll` against moto."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.moto_support import FAKE_CREDENTIALS, free_port, moto_server

REPO = Path(__file__).resolve().parent.parent
DEPLOY_SH = REPO / "scripts" / "deploy.sh"
DEPLOY_PY = REPO / "scripts" / "deploy.py"


def load_deploy_module():
    spec = importlib.util.spec_from_file_location("deploy_cli", DEPLOY_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any AWS credentials or configuration of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "DEPLOY_BACKEND"}
    env.update({
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHON": sys.executable,
    })
    env.update(extra)
    return env


def deploy(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEPLOY_SH), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def recording_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose docker/buildah/terraform/bentoml/aws only record that they were run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("docker", "buildah", "podman", "terraform", "bentoml", "aws"):
        script = bin_dir / tool
        # `login` reads the registry password from stdin: keep it to check what was passed.
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n'
                          f'if [ "$1" = login ]; then cat > "{calls}.stdin"; fi\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", calls


# --------------------------------------------------------------------------------------------
# Prerequisites and credentials
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_missing_tools_are_listed_with_how_to_install_them(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(DEPLOY_PY), "all", "--backend", "buildah"], cwd=REPO,
                            env=clean_env(PATH=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "missing prerequisites for 'all'" in result.stderr
    # (bentoml is found next to the Python that runs the script: the project's virtualenv)
    for tool in ("buildah", "terraform"):
        assert f"- {tool}:" in result.stderr
    assert "install Terraform" in result.stderr
    assert result.stdout == ""  # nothing ran


@pytest.mark.timeout(60)
def test_missing_credentials_give_a_clear_error() -> None:
    result = deploy(["roll", "--cluster", "c", "--service", "s", "--region", "us-east-1"], clean_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no AWS credentials found" in result.stderr
    assert "aws configure" in result.stderr


@pytest.mark.timeout(90)
def test_unreachable_or_rejected_credentials_give_a_clear_error() -> None:
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1")
    result = deploy(["roll", "--cluster", "c", "--service", "s"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "AWS credentials were rejected or STS is unreachable" in result.stderr


@pytest.mark.timeout(60)
def test_help_lists_every_command() -> None:
    result = deploy(["--help"], clean_env())
    assert result.returncode == 0
    for command in ("build", "push", "apply", "roll", "all", "destroy", "--dry-run", "--backend"):
        assert command in result.stdout


# --------------------------------------------------------------------------------------------
# Dry runs: every command printed, none run
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_push_dry_run_prints_login_tag_push_and_runs_nothing(recording_path: tuple[str, Path]) -> None:
    path, calls = recording_path
    result = deploy(["push", "--dry-run", "--tag", "20260101.1", "--region", "eu-west-1"], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    registry = "<account>.dkr.ecr.eu-west-1.amazonaws.com"
    assert f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin {registry}" in out
    assert f"$ docker tag pls-service:20260101.1 '{registry}/pls-service:20260101.1'" in out
    assert f"$ docker push '{registry}/pls-service:20260101.1'" in out
    assert out.index("docker login") < out.index("docker tag") < out.index("docker push")
    assert not calls.exists(), f"a dry run ran: {calls.read_text()}"


@pytest.mark.timeout(60)
def test_push_dry_run_with_buildah_backend(recording_path: tuple[str, Path]) -> None:
    path, calls = recording_path
    result = deploy(["--dry-run", "--backend", "buildah", "push", "--tag", "v1",
                     "--repository-url", "123456789012.dkr.ecr.us-east-1.amazonaws.com/pls-service"],
                    clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    assert "buildah login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com" in result.stdout
    assert "$ buildah push 123456789012.dkr.ecr.us-east-1.amazonaws.com/pls-service:v1" in result.stdout
    assert "terraform" not in result.stdout  # the repository was given
    assert not calls.exists()


@pytest.mark.timeout(60)
def test_all_dry_run_lists_every_step_in_order(recording_path: tuple[str, Path]) -> None:
    path, calls = recording_path
    result = deploy(["--dry-run", "all", "--backend", "buildah", "--auto-approve"], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected_in_order = [
        "==> build", "$ bentoml build --output tag",
        "bentoml containerize 'pls-service:<bento-version>' --backend buildah",
        "==> push", "buildah login --username AWS --password-stdin", "$ buildah tag", "$ buildah push",
        "==> apply", "aws ecr describe-images --repository-name pls-service --image-ids imageTag=<bento-version>",
        "apply -input=false -auto-approve '-var=image_tag=<bento-version>'",
        "==> roll", "aws ecs wait services-stable",
    ]
    positions = []
    for text in expected_in_order:
        assert text in out, f"{text!r} missing from:\n{out}"
        positions.append(out.index(text))
    assert positions == sorted(positions), out
    # containerize runs with its temporary folder under the working directory (BentoML 1.4.40 bug).
    assert f"$ TMPDIR={REPO / 'build' / 'tmp'} bentoml containerize" in out
    # The real `all` waits for the deployment apply started; it forces none of its own then.
    assert "$ aws ecs update-service" not in out
    assert not calls.exists(), f"a dry run ran: {calls.read_text()}"


@pytest.mark.timeout(60)
def test_destroy_dry_run_lifts_the_guards_then_destroys(recording_path: tuple[str, Path]) -> None:
    path, calls = recording_path
    result = deploy(["destroy", "--dry-run"], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("state list") < out.index("-target=aws_lb.this -target=aws_ecr_repository.this")
    assert "-var=alb_deletion_protection=false -var=ecr_force_delete=true" in out
    assert out.index("apply -input=false") < out.index("destroy -input=false")
    assert not calls.exists()


# --------------------------------------------------------------------------------------------
# push against moto's ECR (the container tool is a recording stub)
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_push_logs_in_tags_and_pushes_then_skips_an_existing_tag(recording_path: tuple[str, Path],
                                                                   tmp_path: Path) -> None:
    path, calls = recording_path
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        ecr = boto3.client("ecr", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
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
        ecr.put_image(repositoryName="pls-service", imageTag="20260101.1",
                      imageManifest='{"schemaVersion": 2, "config": {"digest": "sha256:1"}, "layers": []}',
                      imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")
        calls.unlink()
        result = deploy(args, env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "already in ECR" in result.stdout
        assert not calls.exists()


# --------------------------------------------------------------------------------------------
# roll against moto
# --------------------------------------------------------------------------------------------


def _create_service(moto_url: str) -> tuple[str, str]:
    kwargs = {"endpoint_url": moto_url, "region_name": "us-east-1", "aws_access_key_id": "testing",
              "aws_secret_access_key": "testing"}
    ec2 = boto3.client("ec2", **kwargs)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", **kwargs)
    ecs.create_cluster(clusterName="pls-service")
    task = ecs.register_task_definition(
        family="pls-service", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="2048",
        memory="4096",
        containerDefinitions=[{"name": "pls-service", "image": "pls-service:1", "essential": True,
                               "portMappings": [{"containerPort": 3000}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="pls-service", serviceName="pls-service", taskDefinition=task, desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    return "pls-service", "pls-service"


@pytest.mark.timeout(180)
def test_roll_forces_a_new_deployment_and_waits_until_stable(tmp_path: Path) -> None:
    with moto_server(env={"MOTO_ECS_SERVICE_RUNNING": "1"}, log_path=tmp_path / "moto.log") as moto_url:
        cluster, service = _create_service(moto_url)
        ecs = boto3.client("ecs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        before = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["deployments"][0]["id"]

        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url)
        result = deploy(["roll", "--cluster", cluster, "--service", service, "--region", "us-east-1",
                         "--poll-interval", "0.2", "--timeout", "60"], env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "aws ecs update-service --cluster pls-service --service pls-service --force-new-deployment" in result.stdout
        assert "is stable: 1/1 tasks" in result.stdout

        after = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["deployments"][0]["id"]
        assert after != before, "roll did not start a new deployment"


@pytest.mark.timeout(60)
def test_roll_of_a_missing_service_fails_clearly(tmp_path: Path) -> None:
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        boto3.client("ecs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_cluster(clusterName="pls-service")
        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url)
        result = deploy(["roll", "--cluster", "pls-service", "--service", "nope", "--region", "us-east-1"], env)
    assert result.returncode != 0
    assert "deploy: error:" in result.stderr
    assert "Traceback" not in result.stderr


class FakeEcs:
    """describe_services answers from a script of service states, one per call."""

    def __init__(self, states: list[dict]) -> None:
        self.states = states
        self.calls = 0

    def describe_services(self, cluster: str, services: list[str]) -> dict:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return {"services": [state]}


def _service(deployments: list[dict], running: int = 1, desired: int = 1, events: list[str] | None = None) -> dict:
    return {"status": "ACTIVE", "deployments": deployments, "runningCount": running, "desiredCount": desired,
            "events": [{"message": m} for m in (events or [])]}


def test_roll_reports_a_circuit_breaker_rollback() -> None:
    deploy_cli = load_deploy_module()
    new = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "taskDefinition": "td:2",
           "runningCount": 0, "desiredCount": 1}
    old = {"id": "ecs-svc/old", "status": "ACTIVE", "rolloutState": "COMPLETED", "taskDefinition": "td:1",
           "runningCount": 1, "desiredCount": 1}
    failed = {**new, "status": "ACTIVE", "rolloutState": "FAILED",
              "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."}
    rollback = {"id": "ecs-svc/rollback", "status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                "taskDefinition": "td:1", "runningCount": 1, "desiredCount": 1}
    ecs = FakeEcs([
        _service([new, old]),
        _service([rollback, failed], events=["(service pls-service) rolling back to deployment ecs-svc/old."]),
    ])
    with pytest.raises(deploy_cli.DeployError) as raised:
        deploy_cli.wait_until_stable(ecs, "c", "pls-service", "ecs-svc/new", timeout_s=60, poll_s=0,
                                     sleep=lambda s: None)
    message = str(raised.value)
    assert raised.value.exit_code == deploy_cli.EXIT_ROLLOUT_FAILED
    assert "FAILED: ECS deployment circuit breaker: tasks failed to start." in message
    assert "rolled the service back to td:1" in message
    assert "rolling back to deployment ecs-svc/old" in message


def test_roll_times_out_with_the_last_state() -> None:
    deploy_cli = load_deploy_module()
    stuck = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "taskDefinition": "td:2",
             "runningCount": 0, "desiredCount": 2}
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 30

    with pytest.raises(deploy_cli.DeployError) as raised:
        deploy_cli.wait_until_stable(FakeEcs([_service([stuck], running=0, desired=2)]), "c", "s", "ecs-svc/new",
                                     timeout_s=100, poll_s=30, sleep=sleep, clock=lambda: now[0])
    assert raised.value.exit_code == deploy_cli.EXIT_ROLLOUT_FAILED
    assert "did not become stable within 100s" in str(raised.value)
    assert "running 0/2" in str(raised.value)


def test_roll_accepts_a_completed_single_deployment() -> None:
    deploy_cli = load_deploy_module()
    done = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "COMPLETED", "taskDefinition": "td:2",
            "runningCount": 2, "desiredCount": 2}
    service = deploy_cli.wait_until_stable(FakeEcs([_service([done], running=2, desired=2)]), "c", "s",
                                           "ecs-svc/new", timeout_s=10, poll_s=0, sleep=lambda s: None)
    assert service["runningCount"] == 2
