"""scripts/deploy/deploy.sh without AWS: prerequisite and credential errors, dry runs (every command
printed, none run), the deploy targets the module names, and the rollout logic against scripted
ECS answers. Its steps against moto are tests/integration/test_deploy.py's; the whole path with
the real image, tests/e2e/test_deploy.py's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import terraform as terraform_support
from tests.support.deploy import DEPLOY_PY, DEPLOY_SH, clean_env, deploy, load_deploy_module
from tests.support.moto import FAKE_CREDENTIALS, free_port
from tests.support.processes import REPO

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
    login = "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin"
    assert f"{login} '{registry}'" in out
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
    assert targets == terraform_support.blocks("output")["deploy_targets"]["value"]
    resources = {f"{kind}.{name}" for path in terraform_support.terraform_files()
                 for block in terraform_support.parse(path).get("resource", [])
                 for kind, named in block.items() for name in named}
    for address in targets["first_push"] + targets["guarded"]:
        assert address in resources, f"deploy_targets names {address}, which the module does not declare"
    variables = terraform_support.blocks("variable")
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


@pytest.mark.parametrize(("image", "tag"), [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/pls-service:20260101.1", "20260101.1"),
    ("localhost:5000/team/pls-service:v2", "v2"),
    ("localhost:5000/pls-service", "latest"),
    ("pls-service:v3@sha256:abc", "v3"),
])
def test_the_running_tag_is_read_from_the_image_reference(image: str, tag: str) -> None:
    assert load_deploy_module().image_tag_of(image) == tag


class RolledBackEcs:
    """A service moved back to `running`, whose container runs `image`."""

    def __init__(self, running: str, image: str) -> None:
        self.running, self.image = running, image

    def describe_services(self, cluster: str, services: list[str]) -> dict:
        return {"services": [{"status": "ACTIVE", "taskDefinition": self.running}]}

    def describe_task_definition(self, taskDefinition: str) -> dict:
        return {"taskDefinition": {"containerDefinitions": [{"name": "pls-service", "image": self.image,
                                                             "essential": True}]}}


def test_a_rolled_back_service_is_told_from_a_settled_one() -> None:
    module = load_deploy_module()
    ecs = RolledBackEcs("td:1", "repo:20260101.1")
    found = module.rolled_back(ecs, "c", "s", "td:2", "20260202.1")
    assert found == module.RolledBack("td:1", "20260101.1", "td:2", "20260202.1")
    assert module.rolled_back(ecs, "c", "s", "td:1", "20260101.1") is None


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


@pytest.mark.timeout(60)
def test_dry_run_placeholder_uses_the_stacks_name(recording_path: tuple[str, Path], tmp_path: Path) -> None:
    path, _calls = recording_path
    var_file = tmp_path / "staging.tfvars"
    var_file.write_text('name   = "pls-staging"\nregion = "eu-central-1"\n')
    result = deploy(["push", "--dry-run", "--tag", "v1", "--var-file", str(var_file)], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    assert "<account>.dkr.ecr.eu-central-1.amazonaws.com/pls-staging:v1" in result.stdout
    assert "/pls-service:" not in result.stdout


# --------------------------------------------------------------------------------------------
# An image the task can run: --platform against the task's cpu_architecture
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tfvars, platform, refused", [
    ("", "linux/amd64", None),
    ("", "linux/arm64", "build with --platform linux/amd64, or set cpu_architecture = \"ARM64\""),
    ('cpu_architecture = "ARM64"\n', "linux/arm64", None),
    ('cpu_architecture = "ARM64"\n', "linux/amd64",
     "build with --platform linux/arm64, or set cpu_architecture = \"X86_64\""),
], ids=["x86-default", "arm-image-x86-task", "arm-both", "x86-image-arm-task"])
def test_build_refuses_a_platform_the_task_cannot_run(recording_path: tuple[str, Path], tmp_path: Path,
                                                     tfvars: str, platform: str, refused: str | None) -> None:
    path, calls = recording_path
    module = terraform_support.copy_module(tmp_path / "module")
    (module / "terraform.tfvars").write_text(tfvars)
    result = deploy(["--dry-run", "--backend", "buildah", "--tf-dir", str(module), "--platform", platform, "build"],
                    clean_env(PATH=path))
    if refused is None:
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"--opt platform={platform}" in result.stdout
    else:
        assert result.returncode == 2, result.stdout + result.stderr
        assert "exec format error" in result.stderr and refused in result.stderr
        assert "bentoml build" not in result.stdout
    assert not calls.exists()


def test_the_cli_knows_the_modules_default_architecture() -> None:
    deploy_cli = load_deploy_module()
    assert terraform_support.variable_default("cpu_architecture") == deploy_cli.DEFAULT_CPU_ARCHITECTURE
    validation = terraform_support.blocks("variable")["cpu_architecture"]["validation"][0]["condition"]
    listed = re.search(r"contains\(\[([^\]]*)\]", validation).group(1)
    allowed = {name.strip().strip('"') for name in listed.split(",")}
    assert allowed == set(deploy_cli.PLATFORM_OF_ARCHITECTURE), (allowed, validation)
