"""scripts/deploy/deploy.sh: prerequisite and credential errors, dry runs, each step against moto, and
the whole path for real: the image `deploy.sh build` made (tests/aws/image_build.py) pushed to a
local registry standing in for ECR, then apply, roll, apply again and destroy against moto."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests import test_terraform as terraform_support
from tests.aws import local_registry
from tests.moto_support import FAKE_CREDENTIALS, free_port, moto_server

REPO = Path(__file__).resolve().parent.parent
DEPLOY_SH = REPO / "scripts" / "deploy" / "deploy.sh"
DEPLOY_PY = REPO / "scripts" / "deploy" / "deploy.py"

# The session's one real `deploy.sh build` (fixture deploy_built_image), shared with test_container.py.
pytest_plugins = ["tests.aws.image_build"]


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
    """A PATH whose docker/buildah/terraform/bentoml/aws only record that they were run.

    The terraform stub answers `output -json` with the JSON in `<calls>.outputs` (as the state
    would), or `{}`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("docker", "buildah", "podman", "terraform", "bentoml", "aws"):
        script = bin_dir / tool
        # `login` reads the registry password from stdin: keep it to check what was passed.
        body = f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nif [ "$1" = login ]; then cat > "{calls}.stdin"; fi\n'
        if tool == "terraform":
            body += f'case " $* " in *" output -json "*) cat "{calls}.outputs" 2>/dev/null || echo "{{}}";; esac\n'
        script.write_text(body)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", calls


def _output_reads(calls: Path) -> int:
    return sum(1 for call in recorded(calls) if call.startswith("terraform ") and call.endswith(" output -json"))


def state_outputs(calls: Path, **outputs: str) -> None:
    """What the terraform stub answers to `terraform output -json`."""
    Path(f"{calls}.outputs").write_text(json.dumps({key: {"value": value} for key, value in outputs.items()}))


def moto_kwargs(moto_url: str, region: str = "us-east-1") -> dict[str, str]:
    """boto3 client arguments for the test's moto server."""
    return {"endpoint_url": moto_url, "region_name": region, "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing"}


def recorded(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


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
    assert f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin '{registry}'" in out
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


@pytest.mark.timeout(60)
def test_targets_come_from_the_modules_deploy_targets_output(recording_path: tuple[str, Path],
                                                             tmp_path: Path) -> None:
    """The addresses push and destroy target are the module's, not the script's: a module
    whose resources have other names says so in its `deploy_targets` output."""
    path, calls = recording_path
    module = terraform_support.copy_module(tmp_path / "module")
    outputs_tf = module / "outputs.tf"
    renamed = outputs_tf.read_text().replace('"aws_lb.this"', '"aws_lb.main"').replace(
        '"aws_ecr_repository.this", "aws_ecr_lifecycle_policy.this"', '"aws_ecr_repository.images"')
    assert renamed != outputs_tf.read_text()
    outputs_tf.write_text(renamed)

    destroy = deploy(["destroy", "--dry-run", "--tf-dir", str(module)], clean_env(PATH=path))
    assert destroy.returncode == 0, destroy.stderr
    assert "-target=aws_lb.main -target=aws_ecr_repository.this" in destroy.stdout
    push = deploy(["push", "--dry-run", "--tag", "v1", "--tf-dir", str(module)], clean_env(PATH=path))
    assert push.returncode == 0, push.stderr
    assert "-target=aws_ecr_repository.images -var=image_tag=v1" in push.stdout
    assert not calls.exists()

    # A module without the output gets a clear error, not a guess.
    outputs_tf.write_text(renamed.replace('output "deploy_targets"', 'output "something_else"'))
    missing = deploy(["destroy", "--dry-run", "--tf-dir", str(module)], clean_env(PATH=path))
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "declares no `deploy_targets` output" in missing.stderr


def test_deploy_targets_name_the_modules_resources_and_variables() -> None:
    """deploy.py reads the `deploy_targets` output as Terraform does, and every address and
    variable in it exists in the module."""
    deploy_cli = load_deploy_module()
    targets = deploy_cli.deploy_targets(terraform_support.MODULE)
    assert targets == terraform_support._blocks("output")["deploy_targets"]["value"]
    resources = {f"{kind}.{name}" for path in terraform_support._terraform_files()
                 for block in terraform_support._parse(path).get("resource", [])
                 for kind, named in block.items() for name in named}
    for address in targets["first_push"] + targets["guarded"]:
        assert address in resources, f"deploy_targets names {address}, which the module does not declare"
    variables = terraform_support._blocks("variable")
    for setting in targets["guards_off"]:
        assert setting.partition("=")[0] in variables, setting


def test_a_secret_stdin_is_piped_to_the_command_but_printed_as_its_source(capsys) -> None:
    deploy_cli = load_deploy_module()
    login = deploy_cli.Command(("cat",), stdin=deploy_cli.Secret("aws ecr get-login-password", lambda: "s3cr3t"),
                               capture=True)
    assert deploy_cli.Executor(dry_run=False).perform(login) == "s3cr3t"
    assert deploy_cli.Executor(dry_run=True).perform(login) == ""
    printed = capsys.readouterr().out
    assert printed.splitlines() == ["$ aws ecr get-login-password | cat"] * 2
    assert "s3cr3t" not in printed and "s3cr3t" not in repr(login)


def test_the_tag_all_builds_is_passed_on_and_the_options_stay_as_given(capsys) -> None:
    """`all` resolves the tag once (what build made) and hands it to push and apply; the
    parsed options are never rewritten."""
    deploy_cli = load_deploy_module()
    args = deploy_cli.parse_args(["--dry-run", "--backend", "buildah", "all"])
    deployment = deploy_cli.Deployment.for_args(args)
    deployment.executor.execute(deploy_cli.PLANS["all"](deployment))
    assert args.tag is None
    out = capsys.readouterr().out
    assert "buildah tag 'pls-service:<bento-version>'" in out
    assert "'-var=image_tag=<bento-version>'" in out


# --------------------------------------------------------------------------------------------
# push against moto's ECR (the container tool is a recording stub)
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_push_logs_in_tags_and_pushes_then_skips_an_existing_tag(recording_path: tuple[str, Path],
                                                                   tmp_path: Path) -> None:
    path, calls = recording_path
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        ecr = _moto_ecr(moto_url, "us-east-1")
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
        _put_image(ecr, "20260101.1")
        calls.unlink()
        result = deploy(args, env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "already in ECR" in result.stdout
        assert not calls.exists()


# --------------------------------------------------------------------------------------------
# roll against moto
# --------------------------------------------------------------------------------------------


def _create_service(moto_url: str) -> tuple[str, str]:
    kwargs = moto_kwargs(moto_url)
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
        ecs = boto3.client("ecs", **moto_kwargs(moto_url))
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
        boto3.client("ecs", **moto_kwargs(moto_url)).create_cluster(clusterName="pls-service")
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


# --------------------------------------------------------------------------------------------
# The BentoML store, and the models it must hold before a build
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_build_looks_in_bentomls_default_store_and_says_how_to_import(tmp_path: Path) -> None:
    """No BENTOML_HOME: the store is ~/bentoml, as for setup_and_serve.sh's import. An empty
    store stops the build before it starts, with the import command (exit 2)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    buildah = bin_dir / "buildah"
    buildah.write_text(f'#!/bin/sh\necho "buildah $*" >> "{tmp_path}/calls.log"\n')
    buildah.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    env.pop("BENTOML_HOME", None)
    result = deploy(["--backend", "buildah", "build"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"not in the BentoML store ({home / 'bentoml'})" in result.stderr
    assert "python scripts/models/import_models.py" in result.stderr
    assert "pls-simplifier" in result.stderr and "pls-classifier" in result.stderr
    assert "bentoml build" not in result.stdout
    assert not (tmp_path / "calls.log").exists()


def test_deploy_leaves_the_store_to_bentoml() -> None:
    """One rule for every script: $BENTOML_HOME when set, else BentoML's ~/bentoml."""
    for script in (DEPLOY_PY, REPO / "scripts" / "container" / "smoke.sh", DEPLOY_SH):
        text = script.read_text()
        assert ".bentoml" not in text, f"{script.name} names a store of its own"
        assert not re.search(r"BENTOML_HOME\"?\]?\s*=|setdefault\(\"BENTOML_HOME\"|export BENTOML_HOME", text), \
            f"{script.name} sets BENTOML_HOME"


# --------------------------------------------------------------------------------------------
# push: the repository's region; apply: only tags ECR has
# --------------------------------------------------------------------------------------------


def test_region_is_read_from_the_repository_url() -> None:
    deploy_cli = load_deploy_module()
    assert deploy_cli.region_of_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/pls-service") == "eu-west-1"
    assert deploy_cli.region_of_repository("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x/y") == "cn-north-1"
    assert deploy_cli.region_of_repository("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/p") == "us-east-1"
    assert deploy_cli.region_of_repository("127.0.0.1:5000/pls-service") is None


def _moto_ecr(moto_url: str, region: str):
    return boto3.client("ecr", **moto_kwargs(moto_url, region))


def _put_image(ecr, tag: str) -> None:
    ecr.put_image(repositoryName="pls-service", imageTag=tag,
                  imageManifest='{"schemaVersion": 2, "config": {"digest": "sha256:1"}, "layers": []}',
                  imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")


@pytest.mark.timeout(120)
def test_push_after_the_first_targeted_apply_uses_the_repositorys_region(recording_path: tuple[str, Path],
                                                                         tmp_path: Path) -> None:
    """After `apply -target=aws_ecr_repository.this` the state has the repository URL but no
    `region` output; the AWS profile's region (here us-east-1) is not the stack's."""
    path, calls = recording_path
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        ecr = _moto_ecr(moto_url, "eu-west-1")
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
    assert _output_reads(calls) == 1, recorded(calls)


@pytest.mark.timeout(120)
def test_push_to_a_missing_repository_fails_clearly(recording_path: tuple[str, Path], tmp_path: Path) -> None:
    path, calls = recording_path
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)
        result = deploy(["push", "--tag", "v1", "--repository-url",
                         "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pls-service"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ECR repository pls-service does not exist in eu-west-1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(180)
def test_apply_defaults_to_the_deployed_tag_and_refuses_tags_ecr_lacks(recording_path: tuple[str, Path],
                                                                       tmp_path: Path) -> None:
    path, calls = recording_path
    with moto_server(log_path=tmp_path / "moto.log") as moto_url:
        ecr = _moto_ecr(moto_url, "us-east-1")
        url = ecr.create_repository(repositoryName="pls-service")["repository"]["repositoryUri"]
        _put_image(ecr, "20260101.1")
        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, PATH=path)

        # Nothing deployed and no --tag: nothing to apply (never the newest local bento).
        result = deploy(["apply", "--auto-approve"], env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "no image tag to apply" in result.stderr
        assert not any(" apply " in f" {c} " for c in recorded(calls)), recorded(calls)

        # A standalone apply keeps the deployed tag.
        state_outputs(calls, ecr_repository_url=url, ecr_repository_name="pls-service", image_tag="20260101.1",
                      region="us-east-1")
        reads_before = _output_reads(calls)
        result = deploy(["apply", "--auto-approve"], env)
        assert result.returncode == 0, result.stdout + result.stderr
        applies = [c for c in recorded(calls) if " apply " in c]
        assert len(applies) == 1 and "-var=image_tag=20260101.1" in applies[0], recorded(calls)
        # Outputs read once before the apply and once after it changed them (for the API URL).
        assert _output_reads(calls) - reads_before == 2, recorded(calls)
        assert not any(c.startswith("bentoml") for c in recorded(calls)), "apply looked at the local bentos"

        # A tag that was never pushed is refused before Terraform runs.
        calls.unlink()
        result = deploy(["apply", "--auto-approve", "--tag", "20260202.1"], env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{url}:20260202.1 is not in ECR" in result.stderr
        assert "deploy.sh --tag 20260202.1 push" in result.stderr
        assert not any(" apply " in c for c in recorded(calls)), recorded(calls)


@pytest.mark.timeout(60)
def test_dry_run_placeholder_uses_the_stacks_name(recording_path: tuple[str, Path], tmp_path: Path) -> None:
    path, calls = recording_path
    var_file = tmp_path / "staging.tfvars"
    var_file.write_text('name   = "pls-staging"\nregion = "eu-central-1"\n')
    result = deploy(["push", "--dry-run", "--tag", "v1", "--var-file", str(var_file)], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    assert "<account>.dkr.ecr.eu-central-1.amazonaws.com/pls-staging:v1" in result.stdout
    assert "/pls-service:" not in result.stdout


# --------------------------------------------------------------------------------------------
# destroy against moto with real Terraform: it must not create what it means to delete
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_destroy_targets_only_what_the_state_holds(tmp_path: Path) -> None:
    """After only the first push (the state holds the ECR repository and nothing else),
    destroy lifts the repository's guard and deletes it, and creates no ALB (nor its VPC)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        if os.environ.get("CI") == "true":
            pytest.fail("terraform is not installed (CI=true: the CI machine must provide it)")
        pytest.skip("terraform is not installed")
    workdir = terraform_support.copy_module(tmp_path / "module")
    terraform_support.terraform_init(terraform, workdir)
    with moto_server(command=[sys.executable, str(terraform_support.MOTO_WRAPPER)],
                     env=terraform_support.MOTO_ENV, log_path=tmp_path / "moto.log") as moto_url:
        (workdir / "emulated_override.tf").write_text(
            terraform_support.OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url))
        (workdir / "terraform.tfvars").write_text('allow_plain_http = true\n')
        env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, **terraform_env_vars())
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
        _put_image(boto3.client("ecr", **kwargs), "v1")  # a pushed image: the repository is not empty

        result = deploy(["--tf-dir", str(workdir), "--auto-approve", "destroy"], env, timeout=400)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "-target=aws_ecr_repository.this" in result.stdout
        assert "-target=aws_lb.this" not in result.stdout
        assert "aws_lb.this: Creat" not in result.stdout and "aws_vpc.this: Creat" not in result.stdout
        assert boto3.client("ecr", **kwargs).describe_repositories()["repositories"] == []
        assert boto3.client("elbv2", **kwargs).describe_load_balancers()["LoadBalancers"] == []
        vpcs = boto3.client("ec2", **kwargs).describe_vpcs()["Vpcs"]
        assert all(v.get("IsDefault") for v in vpcs), "destroy created a VPC"


def terraform_env_vars() -> dict[str, str]:
    return {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


# --------------------------------------------------------------------------------------------
# The whole path for real: the session's `deploy.sh build` image, pushed to a local registry
# standing in for ECR, then apply / roll / apply again / destroy against moto
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_deploy_push_apply_roll_destroy_for_real(deploy_built_image, tmp_path: Path) -> None:
    built = deploy_built_image  # scripts/deploy/deploy.sh --backend buildah build (tests/aws/image_build.py)
    version = built.version
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed"
    if local_registry.registry_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-registry is not installed (CI=true installs it with the container tools)")
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")

    # The bento deploy.sh built carries both models from the default store.
    bentoml = str(Path(sys.executable).parent / "bentoml")
    bento = json.loads(subprocess.run([bentoml, "get", f"pls-service:{version}", "-o", "json"], env=built.env,
                                      capture_output=True, text=True, check=True).stdout)
    assert {m["tag"].partition(":")[0] for m in bento["models"]} == {"pls-simplifier", "pls-classifier"}

    workdir = terraform_support.copy_module(tmp_path / "module")
    terraform_support.terraform_init(terraform, workdir)
    (tmp_path / "registry").mkdir()
    with local_registry.local_registry(tmp_path / "registry") as registry, \
            moto_server(command=[sys.executable, str(terraform_support.MOTO_WRAPPER)],
                        env=terraform_support.MOTO_ENV, log_path=tmp_path / "moto.log") as moto_url:
        (workdir / "emulated_override.tf").write_text(
            terraform_support.OVERRIDE_TEMPLATE.read_text().replace("@MOTO_URL@", moto_url))
        (workdir / "terraform.tfvars").write_text("allow_plain_http = true\n")
        env = {key: value for key, value in built.env.items() if not key.startswith("AWS_")}
        env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=moto_url, AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
                   AWS_CONFIG_FILE="/nonexistent/config", AWS_EC2_METADATA_DISABLED="true", PYTHON=sys.executable,
                   DEPLOY_TEST_REGISTRY=registry, **terraform_env_vars())
        kwargs = moto_kwargs(moto_url)
        common = ["--backend", "buildah", "--tf-dir", str(workdir), "--auto-approve"]
        timings: dict[str, float] = {}

        def step(*args: str, expect: int = 0, timeout: float = 900) -> subprocess.CompletedProcess:
            started = time.monotonic()
            result = deploy([*common, *args], env, timeout=timeout)
            timings[" ".join(args)] = time.monotonic() - started
            assert result.returncode == expect, f"deploy.sh {' '.join(args)}: exit {result.returncode}\n" \
                                                f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
            return result

        # push: the first one creates the repository alone, then the image goes to the registry.
        pushed = step("push")
        assert "-target=aws_ecr_repository.this" in pushed.stdout
        repository_url = boto3.client("ecr", **kwargs).describe_repositories(
            repositoryNames=["pls-service"])["repositories"][0]["repositoryUri"]
        assert version in local_registry.registry_tags(registry, "pls-service")
        # What ECR would record of that push: the manifest, under the tag.
        manifest, media_type = local_registry.registry_manifest(registry, "pls-service", version)
        boto3.client("ecr", **kwargs).put_image(repositoryName="pls-service", imageTag=version,
                                                imageManifest=manifest, imageManifestMediaType=media_type)

        # A tag ECR does not have is refused; the pushed one is applied.
        refused = step("--tag", "never-pushed", "apply", expect=2)
        assert "is not in ECR" in refused.stderr
        step("--tag", version, "apply")
        rolled = step("--poll-interval", "1", "--timeout", "300", "roll")
        assert "is stable" in rolled.stdout

        ecs = boto3.client("ecs", **kwargs)
        service = ecs.describe_services(cluster="pls-service", services=["pls-service"])["services"][0]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        container = task["containerDefinitions"][0]
        assert container["image"] == f"{repository_url}:{version}"
        assert container["command"][:2] == ["serve", "--timeout-keep-alive"]

        # A standalone apply keeps the deployed tag: nothing changes.
        again = step("apply")
        assert f"-var=image_tag={version}" in again.stdout
        assert "0 added, 0 changed, 0 destroyed" in again.stdout

        step("destroy", timeout=900)
        assert boto3.client("elbv2", **kwargs).describe_load_balancers()["LoadBalancers"] == []
        assert boto3.client("ecr", **kwargs).describe_repositories()["repositories"] == []
    print("deploy steps: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in timings.items())
          + f"; build {built.build_seconds:.0f}s")
