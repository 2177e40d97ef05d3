"""scripts/deploy/deploy.sh without AWS: prerequisite and credential errors, dry runs (every command
printed, none run), the deploy targets the module names, and the rollout logic against scripted
ECS answers; the pls_deploy package it runs is small modules, found as installed. Its steps against
moto are tests/integration/test_deploy.py's; the whole path with the real image,
tests/e2e/test_deploy.py's."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pls_deploy
from pls_deploy.cli import parse_args
from pls_deploy.commands import PLANS
from pls_deploy.ecs import RolledBack, image_tag_of, rolled_back, wait_until_stable
from pls_deploy.image import DEFAULT_CPU_ARCHITECTURE, PLATFORM_OF_ARCHITECTURE
from pls_deploy.plans import EXIT_ROLLOUT_FAILED, Command, DeployError, Executor, Secret
from pls_deploy.stack import Deployment, deploy_targets, region_of_repository
from tests.support import terraform as terraform_support
from tests.support.deploy import DEPLOY_PACKAGE, DEPLOY_SH, clean_env, deploy
from tests.support.moto import FAKE_CREDENTIALS, free_port
from tests.support.processes import REPO

# --------------------------------------------------------------------------------------------
# Prerequisites and credentials
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_missing_tools_are_listed_with_how_to_install_them(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pls_deploy", "all", "--backend", "buildah"], cwd=REPO,
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
# The package deploy.sh runs: small modules, found as installed, no switch for tests
# --------------------------------------------------------------------------------------------

MODULE_LINES_LIMIT = 400


def test_the_deploy_cli_is_small_modules_of_the_installed_package() -> None:
    """pls_deploy is imported as the project installs it (no path set up by the test), from this
    tree, and no module of it reaches 400 lines."""
    assert Path(pls_deploy.__file__).resolve().parent == DEPLOY_PACKAGE
    sources = sorted(DEPLOY_PACKAGE.glob("*.py"))
    assert {path.stem for path in sources} >= {"plans", "stack", "image", "ecs", "commands", "cli"}, sources
    too_long = {path.name: lines for path in sources
                if (lines := len(path.read_text().splitlines())) >= MODULE_LINES_LIMIT}
    assert not too_long, f"modules of {MODULE_LINES_LIMIT} lines or more: {too_long}"


@pytest.mark.timeout(60)
def test_python_m_runs_what_deploy_sh_runs(tmp_path: Path) -> None:
    """`python -m pls_deploy` works from any folder (the installed package, not the working
    directory) and is the CLI deploy.sh runs."""
    direct = subprocess.run([sys.executable, "-m", "pls_deploy", "--help"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == deploy(["--help"], clean_env()).stdout


def test_the_deploy_cli_reads_no_test_only_setting() -> None:
    """Tests reach their stand-ins the way users reach theirs (options, AWS_ENDPOINT_URL, the
    container tools' own configuration): no environment variable of the package is for tests."""
    read = set()
    for path in DEPLOY_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+",
                                                                                               node.value):
                read.add(node.value)
    assert not {name for name in read if "TEST" in name}, sorted(read)


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
def test_push_dry_run_through_another_registry_endpoint(recording_path: tuple[str, Path]) -> None:
    """--registry: login, tag and push go through that host (ECR's dual-stack endpoint, here);
    the repository and its region stay the repository URL's."""
    path, calls = recording_path
    repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pls-service"
    endpoint = "123456789012.dkr-ecr.eu-west-1.on.aws"
    result = deploy(["--dry-run", "--backend", "buildah", "push", "--tag", "v1", "--repository-url", repository_url,
                     "--registry", endpoint], clean_env(PATH=path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"login, tag and push go through {endpoint}; ECR's repository is {repository_url}" in out
    assert ("aws ecr get-login-password --region eu-west-1 | buildah login --username AWS --password-stdin "
            f"{endpoint}\n") in out
    assert f"$ buildah tag pls-service:v1 {endpoint}/pls-service:v1\n" in out
    assert f"$ buildah push {endpoint}/pls-service:v1\n" in out
    assert "tls" not in out
    assert not calls.exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["https://123456789012.dkr-ecr.eu-west-1.on.aws", "registry.example.com/team", ""])
def test_registry_takes_a_host_only(recording_path: tuple[str, Path], value: str) -> None:
    path, calls = recording_path
    result = deploy(["--dry-run", "push", "--tag", "v1", "--registry", value], clean_env(PATH=path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "argument --registry" in result.stderr and "HOST[:PORT]" in result.stderr
    assert result.stdout == ""
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
    """pls_deploy reads the `deploy_targets` output as Terraform does, and every address and
    variable in it exists in the module."""
    targets = deploy_targets(terraform_support.MODULE)
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
    login = Command(("cat",), stdin=Secret("aws ecr get-login-password", lambda: "s3cr3t"),
                               capture=True)
    assert Executor(dry_run=False).perform(login) == "s3cr3t"
    assert Executor(dry_run=True).perform(login) == ""
    printed = capsys.readouterr().out
    assert printed.splitlines() == ["$ aws ecr get-login-password | cat"] * 2
    assert "s3cr3t" not in printed and "s3cr3t" not in repr(login)


def test_the_tag_all_builds_is_passed_on_and_the_options_stay_as_given(capsys) -> None:
    """`all` resolves the tag once (what build made) and hands it to push and apply; the
    parsed options are never rewritten."""
    args = parse_args(["--dry-run", "--backend", "buildah", "all"])
    deployment = Deployment.for_args(args)
    deployment.executor.execute(PLANS["all"](deployment))
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
    with pytest.raises(DeployError) as raised:
        wait_until_stable(ecs, "c", "pls-service", "ecs-svc/new", timeout_s=60, poll_s=0,
                                     sleep=lambda s: None)
    message = str(raised.value)
    assert raised.value.exit_code == EXIT_ROLLOUT_FAILED
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
    assert image_tag_of(image) == tag


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
    ecs = RolledBackEcs("td:1", "repo:20260101.1")
    found = rolled_back(ecs, "c", "s", "td:2", "20260202.1")
    assert found == RolledBack("td:1", "20260101.1", "td:2", "20260202.1")
    assert rolled_back(ecs, "c", "s", "td:1", "20260101.1") is None


def test_roll_times_out_with_the_last_state() -> None:
    stuck = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "taskDefinition": "td:2",
             "runningCount": 0, "desiredCount": 2}
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 30

    with pytest.raises(DeployError) as raised:
        wait_until_stable(FakeEcs([_service([stuck], running=0, desired=2)]), "c", "s", "ecs-svc/new",
                                     timeout_s=100, poll_s=30, sleep=sleep, clock=lambda: now[0])
    assert raised.value.exit_code == EXIT_ROLLOUT_FAILED
    assert "did not become stable within 100s" in str(raised.value)
    assert "running 0/2" in str(raised.value)


def test_roll_accepts_a_completed_single_deployment() -> None:
    done = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "COMPLETED", "taskDefinition": "td:2",
            "runningCount": 2, "desiredCount": 2}
    service = wait_until_stable(FakeEcs([_service([done], running=2, desired=2)]), "c", "s",
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
    for script in (*sorted(DEPLOY_PACKAGE.glob("*.py")), REPO / "scripts" / "container" / "smoke.sh", DEPLOY_SH):
        text = script.read_text()
        assert ".bentoml" not in text, f"{script.name} names a store of its own"
        assert not re.search(r"BENTOML_HOME\"?\]?\s*=|setdefault\(\"BENTOML_HOME\"|export BENTOML_HOME", text), \
            f"{script.name} sets BENTOML_HOME"


# --------------------------------------------------------------------------------------------
# push: the repository's region; apply: only tags ECR has
# --------------------------------------------------------------------------------------------


def test_region_is_read_from_the_repository_url() -> None:
    assert region_of_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/pls-service") == "eu-west-1"
    assert region_of_repository("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x/y") == "cn-north-1"
    assert region_of_repository("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/p") == "us-east-1"
    assert region_of_repository("127.0.0.1:5000/pls-service") is None


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
    assert terraform_support.variable_default("cpu_architecture") == DEFAULT_CPU_ARCHITECTURE
    validation = terraform_support.blocks("variable")["cpu_architecture"]["validation"][0]["condition"]
    listed = re.search(r"contains\(\[([^\]]*)\]", validation).group(1)
    allowed = {name.strip().strip('"') for name in listed.split(",")}
    assert allowed == set(PLATFORM_OF_ARCHITECTURE), (allowed, validation)
