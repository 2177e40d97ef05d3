"""scripts/deploy/deploy.sh --dry-run without AWS: every command printed, none run; the deploy
targets the module names; the repository's region and the stack's name; and an image the task
can run (--platform against the task's cpu_architecture). Its steps against moto are
tests/integration/test_deploy.py's; the whole path with the real image, tests/e2e/test_deploy.py's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pls_deploy.cli import parse_args
from pls_deploy.commands import PLANS
from pls_deploy.image import DEFAULT_CPU_ARCHITECTURE, PLATFORM_OF_ARCHITECTURE
from pls_deploy.plans import Command, Executor, Secret
from pls_deploy.stack import Deployment, deploy_targets, region_of_repository
from tests.support import terraform as terraform_support
from tests.support.deploy import clean_env, deploy
from tests.support.processes import REPO


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
