#!/usr/bin/env python3
"""Build, push and deploy the pls-service bento to AWS ECS Fargate (terraform/).

    scripts/deploy/deploy.sh [options] build     bentoml build + bentoml containerize
    scripts/deploy/deploy.sh [options] push      ECR login, tag and push (tag = bento version)
    scripts/deploy/deploy.sh [options] apply     terraform apply with --tag (default: the deployed tag), once in ECR
    scripts/deploy/deploy.sh [options] roll      force a new ECS deployment, wait until stable
    scripts/deploy/deploy.sh [options] all       build, push, apply, roll
    scripts/deploy/deploy.sh [options] destroy   lift the ALB/ECR guards, terraform destroy

`--dry-run` prints every command and API call, in order, and runs none of them (no
prerequisite probing either, so it works on a machine without Docker or AWS credentials).

AWS calls go through boto3, so the usual credential chain applies (AWS_PROFILE, SSO,
environment variables, instance roles) and AWS_ENDPOINT_URL points them at an emulator.
"""

# How it is built: each command is a plan, a generator of small actions (a command to run,
# an AWS API call, a note, a silent look-up). One Executor prints each action and runs it,
# or, in a dry run, only prints it and answers with the action's placeholder, so the plan
# goes on the same way. The Terraform outputs are read once per run (again only after this
# run's own apply changed them), and the resource addresses the plans target come from the
# module's `deploy_targets` output, not from this file.

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BENTO = "pls-service"
BACKENDS = ("docker", "buildah", "podman")
VERSION_PLACEHOLDER = "<bento-version>"
REGISTRY_PLACEHOLDER = "<account>.dkr.ecr.<region>.amazonaws.com"
DEFAULT_STACK_NAME = "pls-service"  # terraform/variables.tf `name`, which names the ECR repository
# Test-only: push to this plain-HTTP registry (host:port) instead of the ECR registry; the ECR
# repository, its API calls and the image tag stay as they are. tests/e2e/test_deploy.py points it
# at a local registry standing in for ECR. Never set it for a real deploy.
TEST_REGISTRY_ENV = "DEPLOY_TEST_REGISTRY"
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>: the repository URL names its region.
ECR_URL = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
                     r"\.amazonaws\.com(?:\.cn)?/(?P<name>.+)$")

EXIT_STEP_FAILED = 1
EXIT_PREREQUISITE = 2
EXIT_ROLLOUT_FAILED = 3


class DeployError(Exception):
    """A failure with a message meant for the user, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_STEP_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Plans: what a step does, as data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """Input a command reads at run time and no printout shows: the plan prints where it
    comes from (`source`) instead."""

    source: str
    fetch: Callable[[], str] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Command:
    """A local command. `env` adds variables for this command only (printed in front of it);
    `stdin` is a secret piped in; `capture` returns its standard output."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    stdin: Secret | None = None
    capture: bool = False
    # Output that means "nothing there" although the command failed (a state list with no state).
    empty_if_failed_with: str | None = None
    dry_result: str = ""

    def __str__(self) -> str:
        piped = f"{self.stdin} | " if self.stdin else ""
        prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in self.env)
        return f"$ {piped}{prefix}{shlex.join(self.argv)}"

    def run(self) -> str:
        capture = self.capture or self.empty_if_failed_with is not None
        try:
            result = subprocess.run(self.argv, cwd=REPO, env={**os.environ, **dict(self.env)}, text=True,
                                    input=self.stdin.fetch() if self.stdin else None,
                                    stdout=subprocess.PIPE if capture else None,
                                    stderr=subprocess.PIPE if self.empty_if_failed_with else None)
        except FileNotFoundError:
            raise DeployError(f"{self.argv[0]} is not installed or not on PATH", EXIT_PREREQUISITE) from None
        if result.returncode != 0:
            if self.empty_if_failed_with and self.empty_if_failed_with in (result.stdout or "") + result.stderr:
                return ""
            details = f":\n{result.stderr.strip()}" if result.stderr else ""
            raise DeployError(f"command failed with exit code {result.returncode}: {str(self)[2:]}{details}")
        return result.stdout or ""


@dataclass(frozen=True)
class ApiCall:
    """An AWS API call, printed as its AWS CLI equivalent."""

    shown: str
    call: Callable[[], Any] = field(repr=False, compare=False)
    dry_result: Any = None

    def __str__(self) -> str:
        return f"$ {self.shown}"

    def run(self) -> Any:
        return self.call()


@dataclass(frozen=True)
class Lookup:
    """A silent, read-only look at what a plan decides on (the latest bento, whether a tag is
    in ECR, the Terraform outputs); a dry run looks at nothing and takes `dry_result`."""

    what: str
    call: Callable[[], Any] = field(repr=False, compare=False)
    dry_result: Any = None

    def __str__(self) -> str:
        return ""

    def run(self) -> Any:
        return self.call()


@dataclass(frozen=True)
class Note:
    """A line for the reader. `dry_run_text`, when set, replaces it in a dry run, which
    cannot know which case holds ("" prints nothing)."""

    text: str
    dry_run_text: str | None = None
    dry_result: None = None

    def __str__(self) -> str:
        return self.text

    def run(self) -> None:
        return None


Action = Command | ApiCall | Lookup | Note
T = TypeVar("T")
# A plan yields actions and gets each one's result back, so that a later action can use an
# earlier one's (the version `bentoml build` printed, the deployment `update-service` started).
Plan = Generator[Action, Any, T]


class Executor:
    """Runs plans, or prints them in a dry run: the one place where the two differ."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def begin(self, command: str, preflight: Callable[[], None]) -> None:
        """Check the prerequisites of a real run; a dry run needs none."""
        if self.dry_run:
            say(f"# dry run of '{command}': commands are printed, not run")
        else:
            preflight()

    def execute(self, plan: Plan[T]) -> T:
        result = None
        while True:
            try:
                action = plan.send(result)
            except StopIteration as done:
                return done.value
            result = self.perform(action)

    def perform(self, action: Action) -> Any:
        shown = str(action)
        if self.dry_run and isinstance(action, Note) and action.dry_run_text is not None:
            shown = action.dry_run_text
        if shown:
            say(shown)
        return action.dry_result if self.dry_run else action.run()


# --------------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------------

TOOL_HINTS = {
    "bentoml": "install the project's requirements (pip install -r requirements-dev.txt)",
    "docker": "install Docker (https://docs.docker.com/get-docker/) or pick --backend buildah/podman",
    "buildah": "install buildah (apt-get install buildah) or pick --backend docker",
    "podman": "install podman (apt-get install podman) or pick --backend docker",
    "terraform": "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)",
}


def tools_for(command: str, backend: str) -> list[str]:
    needs = {
        "build": ["bentoml", backend],
        "push": [backend, "terraform"],
        "apply": ["terraform"],
        "roll": [],
        "destroy": ["terraform"],
    }
    steps = ["build", "push", "apply", "roll"] if command == "all" else [command]
    ordered: list[str] = []
    for step in steps:
        for tool in needs[step]:
            if tool not in ordered:
                ordered.append(tool)
    return ordered


def check_tools(command: str, args: argparse.Namespace) -> None:
    tools = tools_for(command, args.backend)
    if command == "push" and args.repository_url:
        tools.remove("terraform")  # the repository is given, not looked up in the state
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        lines = [f"  - {tool}: {TOOL_HINTS.get(tool, 'install it')}" for tool in missing]
        raise DeployError(f"missing prerequisites for '{command}':\n" + "\n".join(lines), EXIT_PREREQUISITE)
    if command in ("build", "all") and not bentofile_path(args).is_file():
        raise DeployError(f"no {bentofile_path(args)}: 'build' runs bentoml build from the repository root",
                          EXIT_PREREQUISITE)
    if command in ("apply", "destroy", "push", "all") and not (args.tf_dir / "versions.tf").is_file():
        raise DeployError(f"no Terraform module at {args.tf_dir} (--tf-dir)", EXIT_PREREQUISITE)
    if command in ("build", "all"):
        check_models_in_store(args)


def bentofile_path(args: argparse.Namespace) -> Path:
    return Path(args.bentofile).resolve() if args.bentofile else REPO / "bentofile.yaml"


def bento_models(bentofile: Path) -> list[str]:
    """Model names the bento carries (bentofile.yaml `models`), without their versions."""
    import yaml

    config = yaml.safe_load(bentofile.read_text()) or {}
    names = []
    for entry in config.get("models") or []:
        tag = entry if isinstance(entry, str) else (entry or {}).get("tag", "")
        if tag:
            names.append(tag.partition(":")[0])
    return names


def check_models_in_store(args: argparse.Namespace) -> None:
    """`bentoml build` needs the bento's models in the local BentoML store: say how to put them
    there before anything is built, not after a stack trace from deep inside the build."""
    wanted = bento_models(bentofile_path(args))
    if not wanted:
        return
    result = subprocess.run(["bentoml", "models", "list", "-o", "json"], cwd=REPO, capture_output=True, text=True)
    try:
        present = {str(m.get("tag", "")).partition(":")[0] for m in json.loads(result.stdout or "[]")}
    except ValueError:
        present = set()
    missing = [name for name in wanted if name not in present]
    if missing:
        store = os.environ.get("BENTOML_HOME") or str(Path.home() / "bentoml")
        raise DeployError(
            f"models {', '.join(missing)} are not in the BentoML store ({store}). Import them first:\n"
            "  python scripts/models/import_models.py      # (scripts/setup_and_serve.sh does it too)",
            EXIT_PREREQUISITE,
        )


def check_credentials(region: str | None) -> str:
    """Fail early, and clearly, when boto3 finds no usable AWS credentials."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise DeployError("boto3 is not installed: pip install -r requirements-dev.txt", EXIT_PREREQUISITE) from None
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials found. Configure them with `aws configure`, `aws sso login` plus AWS_PROFILE, "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.",
            EXIT_PREREQUISITE,
        )
    if session.region_name is None:
        raise DeployError("no AWS region: pass --region or set AWS_REGION", EXIT_PREREQUISITE)
    try:
        identity = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"AWS credentials were rejected or STS is unreachable: {exc}", EXIT_PREREQUISITE) from None
    say(f"# AWS account {identity['Account']} as {identity['Arn']} in {session.region_name}")
    return session.region_name


# --------------------------------------------------------------------------------------------
# What a run works on: the options, the Terraform module's outputs and targets, AWS clients
# --------------------------------------------------------------------------------------------


class StackOutputs:
    """Outputs of the current Terraform state: read once per run, and again only after an
    apply of this run changed them. Empty before the first apply (and in a dry run)."""

    def __init__(self, executor: Executor, tf_dir: Path) -> None:
        self._executor = executor
        self._tf_dir = tf_dir
        self._values: dict[str, Any] | None = None

    def get(self, name: str) -> Any:
        if self._values is None:
            self._values = self._executor.perform(
                Lookup("terraform output -json", lambda: read_terraform_outputs(self._tf_dir), dry_result={}))
        return self._values.get(name)

    def forget(self) -> None:
        """After an apply: the next get() reads the changed outputs."""
        self._values = None


def read_terraform_outputs(tf_dir: Path) -> dict[str, Any]:
    if shutil.which("terraform") is None:
        return {}
    result = subprocess.run(["terraform", f"-chdir={tf_dir}", "output", "-json"], cwd=REPO, capture_output=True,
                            text=True)
    if result.returncode != 0:
        return {}
    try:
        return {key: value["value"] for key, value in json.loads(result.stdout or "{}").items()}
    except (ValueError, KeyError, TypeError):
        return {}


DEPLOY_TARGETS_OUTPUT = re.compile(r'output\s+"deploy_targets"\s*\{.*?^\s*value\s*=\s*\{(?P<body>[^{}]*)\}',
                                   re.DOTALL | re.MULTILINE)
LIST_ENTRY = re.compile(r'(?P<key>\w+)\s*=\s*\[(?P<items>[^\]]*)\]')


@functools.cache
def deploy_targets(tf_dir: Path) -> dict[str, list[str]]:
    """The module's `deploy_targets` output as its outputs.tf declares it: the configuration
    Terraform is about to apply decides the addresses, and dry runs and the first push have
    no state to ask."""
    outputs_tf = tf_dir / "outputs.tf"
    match = DEPLOY_TARGETS_OUTPUT.search(outputs_tf.read_text()) if outputs_tf.is_file() else None
    if match is None:
        raise DeployError(f"{outputs_tf} declares no `deploy_targets` output (--tf-dir must be this project's "
                          "terraform/ module)", EXIT_PREREQUISITE)
    return {entry["key"]: re.findall(r'"([^"]*)"', entry["items"]) for entry in LIST_ENTRY.finditer(match["body"])}


@functools.cache
def aws_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region or None)


@dataclass
class Deployment:
    """One run: the options as given (never changed), the executor and the stack's outputs."""

    args: argparse.Namespace
    executor: Executor
    outputs: StackOutputs

    @classmethod
    def for_args(cls, args: argparse.Namespace) -> Deployment:
        executor = Executor(dry_run=args.dry_run)
        return cls(args, executor, StackOutputs(executor, args.tf_dir))

    def region(self) -> str | None:
        """The region the stack is (or will be) in: --region, the state, then terraform.tfvars;
        None leaves it to boto3's own configuration (AWS_REGION, profile)."""
        return (self.args.region or self.outputs.get("region")
                or region_of_repository(self.outputs.get("ecr_repository_url") or "")
                or tfvars_value(self.args, "region"))

    def stack_name(self) -> str:
        return tfvars_value(self.args, "name") or DEFAULT_STACK_NAME

    def targets(self, key: str) -> list[str]:
        """One list of the module's `deploy_targets` output."""
        targets = deploy_targets(self.args.tf_dir)
        if key not in targets:
            raise DeployError(f"the `deploy_targets` output in {self.args.tf_dir / 'outputs.tf'} has no `{key}` list",
                              EXIT_PREREQUISITE)
        return targets[key]


def tfvars_value(args: argparse.Namespace, name: str) -> str | None:
    """A string variable as the operator set it: --var-file first, then terraform.tfvars."""
    files = [Path(args.var_file)] if args.var_file else []
    files.append(args.tf_dir / "terraform.tfvars")
    for path in files:
        if path.is_file():
            match = re.search(rf'^\s*{name}\s*=\s*"([^"]+)"', path.read_text(), re.MULTILINE)
            if match:
                return match.group(1)
    return None


def region_of_repository(repository_url: str) -> str | None:
    """The region named in an ECR repository URL; None for anything else."""
    match = ECR_URL.match(repository_url)
    return match.group("region") if match else None


def repository_name(repository_url: str) -> str:
    return repository_url.split("/", 1)[1] if "/" in repository_url else repository_url


# --------------------------------------------------------------------------------------------
# Terraform commands
# --------------------------------------------------------------------------------------------


def terraform(args: argparse.Namespace, *words: str) -> Command:
    return Command(("terraform", f"-chdir={args.tf_dir}", *words))


def terraform_apply(args: argparse.Namespace, image_tag: str, *extra: str, verb: str = "apply") -> Command:
    """`terraform apply` (or destroy) with the run's variables; terraform/terraform.tfvars,
    when present, is loaded by Terraform itself."""
    var_args = [f"-var-file={Path(args.var_file).resolve()}"] if args.var_file else []
    var_args.append(f"-var=image_tag={image_tag}")
    if args.region:
        var_args.append(f"-var=region={args.region}")
    approve = ["-auto-approve"] if args.auto_approve else []
    return terraform(args, verb, "-input=false", *approve, *extra, *var_args)


def init_plan(deployment: Deployment) -> Plan[None]:
    tf_dir = deployment.args.tf_dir
    initialised = yield Lookup("terraform init done", lambda: (tf_dir / ".terraform").is_dir(), dry_result=False)
    if not initialised:
        yield terraform(deployment.args, "init", "-input=false")


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------


def git_commit() -> str:
    """Short commit of the working tree, recorded as a bento label (bentofile.yaml asks for it)."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def containerize_tmpdir() -> Path:
    """A temporary folder for `bentoml containerize` under the working directory, outside any
    hidden folder. BentoML 1.4.40 resolves the bento's `dockerfile_template` inside its
    temporary build context and refuses it when that lies outside the working directory
    (the default /tmp) or under a hidden folder (bentoml/BentoML#5566). build/ is git-ignored
    and left out of the bento."""
    return REPO / "build" / "tmp"


def bento_version_built(output: str) -> str:
    match = re.search(r"__tag__:([^\s:]+):(\S+)", output)
    if not match:
        raise DeployError(f"bentoml build printed no tag:\n{output}")
    return match.group(2)


# The image platform each task cpu_architecture runs (variables.tf); anything else fails on
# Fargate only as "exec format error", after the circuit breaker has tried three tasks.
PLATFORM_OF_ARCHITECTURE = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
DEFAULT_CPU_ARCHITECTURE = "X86_64"  # the module's default (a test keeps the two equal)
MACHINE_PLATFORMS = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}


def check_platform(args: argparse.Namespace) -> None:
    """Refuse to build an image the task cannot run, naming both fixes."""
    architecture = tfvars_value(args, "cpu_architecture") or DEFAULT_CPU_ARCHITECTURE
    wanted = PLATFORM_OF_ARCHITECTURE.get(architecture)
    if wanted is None:
        raise DeployError(f"cpu_architecture = {architecture!r} is not one of {', '.join(PLATFORM_OF_ARCHITECTURE)}",
                          EXIT_PREREQUISITE)
    platform = args.platform or MACHINE_PLATFORMS.get(os.uname().machine.lower(), os.uname().machine)
    if platform != wanted:
        other = next(arch for arch, plat in PLATFORM_OF_ARCHITECTURE.items() if plat == platform) \
            if platform in PLATFORM_OF_ARCHITECTURE.values() else None
        alternative = f', or set cpu_architecture = "{other}" in terraform.tfvars' if other else ""
        raise DeployError(f"the image would be built for {platform} but the task's cpu_architecture is {architecture} "
                          f"(it would fail to start with 'exec format error'): build with --platform {wanted}"
                          f"{alternative}", EXIT_PREREQUISITE)


def build_plan(deployment: Deployment, tag: str | None) -> Plan[str]:
    """bentoml build + containerize; returns the bento version (= image tag)."""
    args = deployment.args
    check_platform(args)
    yield Note("==> build: bento and container image")
    commit = yield Lookup("git commit", git_commit, dry_result="<git-commit>")
    build = ["bentoml", "build", "--output", "tag", "--label", f"git_commit={commit}"]
    if args.bentofile:
        build += ["-f", str(bentofile_path(args))]
    if tag:
        build += ["--version", tag]
    output = yield Command(tuple(build), capture=True, dry_result=f"__tag__:{args.bento}:{tag or VERSION_PLACEHOLDER}")
    version = bento_version_built(output)
    bento = f"{args.bento}:{version}"
    containerize = ["bentoml", "containerize", bento, "--backend", args.backend, "--image-tag", bento]
    if args.platform:
        containerize += ["--opt", f"platform={args.platform}"]
    tmpdir = containerize_tmpdir()
    yield Command(("mkdir", "-p", str(tmpdir)))
    yield Command(tuple(containerize), env=(("TMPDIR", str(tmpdir)),))
    yield Note(f"# built image {bento}")
    return version


# --------------------------------------------------------------------------------------------
# push
# --------------------------------------------------------------------------------------------


def latest_bento_version(bento_name: str) -> str:
    result = subprocess.run(["bentoml", "get", f"{bento_name}:latest", "-o", "json"], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(f"no bento '{bento_name}' in the local store: run `deploy.sh build` first, or pass --tag",
                          EXIT_PREREQUISITE)
    info = json.loads(result.stdout)
    version = info.get("version") or str(info.get("tag", "")).partition(":")[2]
    if not version:
        raise DeployError(f"could not read the version of {bento_name}:latest from bentoml get")
    return version


def image_in_ecr(repository_url: str, region: str, version: str) -> bool:
    """Whether the tag is in the repository; a missing repository is an error that says where
    it was looked for."""
    ecr = aws_client("ecr", region)
    name = repository_name(repository_url)
    try:
        ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": version}])
        return True
    except ecr.exceptions.ImageNotFoundException:
        return False
    except ecr.exceptions.RepositoryNotFoundException:
        raise DeployError(f"ECR repository {name} does not exist in {region or 'the default region'} "
                          f"({repository_url}); run `deploy.sh push` to create it") from None


def registry_password(region: str) -> str:
    token = aws_client("ecr", region).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


def repository_region(deployment: Deployment, repository_url: str) -> str:
    """The repository is where its URL says, whatever the AWS profile's default region is
    (after the first, targeted apply the state has no `region` output yet)."""
    return region_of_repository(repository_url) or deployment.region() or ""


def created_repository(deployment: Deployment) -> tuple[str, str]:
    deployment.outputs.forget()
    url = deployment.outputs.get("ecr_repository_url")
    if not url:
        raise DeployError("terraform has no ecr_repository_url output after creating the repository")
    return url, repository_region(deployment, url)


def repository_plan(deployment: Deployment, version: str) -> Plan[tuple[str, str]]:
    """The ECR repository URL and region: --repository-url, else Terraform's; on the first
    push Terraform creates the repository alone first, since the service cannot be created
    before its image exists (`apply` creates everything else)."""
    args = deployment.args
    url = args.repository_url or deployment.outputs.get("ecr_repository_url")
    if url:
        return url, repository_region(deployment, url)
    yield Note("# no ECR repository in the Terraform state yet: creating it first",
               dry_run_text="# (only when the Terraform state has no ECR repository yet: create it first)")
    yield from init_plan(deployment)
    yield terraform_apply(args, version, *[f"-target={address}" for address in deployment.targets("first_push")])
    region = deployment.region() or "<region>"
    placeholder = f"{REGISTRY_PLACEHOLDER.replace('<region>', region)}/{deployment.stack_name()}"
    return (yield Lookup("the repository Terraform created", lambda: created_repository(deployment),
                         dry_result=(placeholder, region)))


def push_plan(deployment: Deployment, version: str) -> Plan[None]:
    args = deployment.args
    yield Note("==> push: image to ECR")
    repository_url, region = yield from repository_plan(deployment, version)
    registry = repository_url.split("/", 1)[0]
    tls: tuple[str, ...] = ()
    test_registry = os.environ.get(TEST_REGISTRY_ENV)
    if test_registry:
        # Only tests set this: the image goes to a local plain-HTTP registry under the ECR
        # repository's name; every ECR API call still goes to ECR (or its emulator).
        yield Note(f"# {TEST_REGISTRY_ENV}={test_registry}: pushing to that registry instead of {registry}")
        registry = test_registry
        tls = ("--tls-verify=false",) if args.backend in ("buildah", "podman") else ()
    if (yield Lookup("the tag in ECR", lambda: image_in_ecr(repository_url, region, version), dry_result=False)):
        yield Note(f"# {repository_url}:{version} is already in ECR (tags are immutable): nothing to push")
        return
    remote_image = f"{registry}/{repository_name(repository_url)}:{version}"
    password = Secret(f"aws ecr get-login-password --region {region}", lambda: registry_password(region))
    yield Command((args.backend, "login", *tls, "--username", "AWS", "--password-stdin", registry), stdin=password)
    yield Command((args.backend, "tag", f"{args.bento}:{version}", remote_image))
    yield Command((args.backend, "push", *tls, remote_image))
    yield Note(f"# pushed {remote_image}")


# --------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------


def deployed_tag(outputs: StackOutputs) -> str:
    """The tag the stack runs now. Never the newest local bento: it may not have been pushed."""
    if outputs.get("image_tag"):
        return outputs.get("image_tag")
    raise DeployError("no image tag to apply: the stack runs none yet. Pass --tag VERSION (a version "
                      "`deploy.sh push` pushed), or run `deploy.sh all`", EXIT_PREREQUISITE)


def require_image_in_ecr(deployment: Deployment, repository_url: str | None, version: str) -> None:
    """Refuse to point the service at an image ECR does not have: its tasks would fail with
    CannotPullContainerError until the circuit breaker rolled the service back."""
    if not repository_url:
        raise DeployError("the Terraform state has no ECR repository yet: run `deploy.sh push` (or `all`) first",
                          EXIT_PREREQUISITE)
    if not image_in_ecr(repository_url, repository_region(deployment, repository_url), version):
        raise DeployError(f"{repository_url}:{version} is not in ECR. Push it first "
                          f"(`deploy.sh --tag {version} push`), or pick a pushed tag with --tag", EXIT_PREREQUISITE)


def image_tag_of(image: str) -> str:
    """The tag of `registry/name:tag` (a registry host may have a port; `latest` when untagged)."""
    name = image.rpartition("/")[2].partition("@")[0]
    return name.rpartition(":")[2] if ":" in name else "latest"


@dataclass(frozen=True)
class RolledBack:
    """The service runs another task definition than the one Terraform last applied."""

    running_task_definition: str
    running_tag: str
    applied_task_definition: str
    applied_tag: str


def rolled_back(ecs: Any, cluster: str, service: str, applied_task_definition: str,
                applied_tag: str) -> RolledBack | None:
    """What the service runs when it is not what the state says. Terraform sets the service's
    task definition on apply; only ECS moves it back, when the deployment circuit breaker rolls
    a failed deployment back. A deployment of the applied one still in progress counts as applied."""
    described = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not described or described[0].get("status") != "ACTIVE":
        return None
    running = described[0].get("taskDefinition")
    if not running or running == applied_task_definition:
        return None
    containers = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]["containerDefinitions"]
    image = next((c["image"] for c in containers if c.get("essential", True)), containers[0]["image"])
    return RolledBack(running, image_tag_of(image), applied_task_definition, applied_tag)


def require_not_rolled_back(deployment: Deployment, command: str) -> None:
    """Refuse to redeploy what the circuit breaker rolled back (apply without --tag applies the
    state's tag, the failed one) or to roll the service while the state disagrees with it."""
    outputs = deployment.outputs
    applied = outputs.get("task_definition_arn")
    cluster, service = outputs.get("cluster_name"), outputs.get("service_name")
    if not (applied and cluster and service):
        return  # nothing applied yet
    if (deployment.args.cluster or cluster, deployment.args.service or service) != (cluster, service):
        return  # --cluster/--service name another service than the state's
    found = rolled_back(aws_client("ecs", deployment.region()), cluster, service, applied,
                        outputs.get("image_tag") or "?")
    if found is None:
        return
    if found.running_tag == found.applied_tag:
        cause = (f"the last apply (task definition {found.applied_task_definition}) was rolled back to "
                 f"{found.running_task_definition}; both run image {found.running_tag}, so the settings "
                 "(service_environment, task_size, ...) of that apply failed")
        adopt = ("fix the settings, then `deploy.sh --tag {tag} apply`; see why the tasks failed with "
                 f"`aws logs tail /ecs/{service} --since 1h`").format(tag=found.running_tag)
    else:
        cause = (f"the service runs image {found.running_tag} ({found.running_task_definition}), but the last "
                 f"apply deployed {found.applied_tag} ({found.applied_task_definition}): the deployment circuit "
                 f"breaker rolled {found.applied_tag} back")
        adopt = (f"adopt the running image with `deploy.sh --tag {found.running_tag} apply`, or deploy a fixed "
                 f"version with `deploy.sh --tag VERSION apply`; see why {found.applied_tag}'s tasks failed with "
                 f"`aws logs tail /ecs/{service} --since 1h`")
    consequence = ("`apply` without --tag would deploy the failed image again" if command == "apply"
                   else "`roll` would restart the rolled-back version while Terraform's state names the failed one")
    raise DeployError(f"{cause}. {consequence}. To go on, {adopt}", EXIT_PREREQUISITE)


def rollback_check_plan(deployment: Deployment, command: str) -> Plan[None]:
    cluster = deployment.args.cluster or deployment.outputs.get("cluster_name") or "<cluster>"
    service = deployment.args.service or deployment.outputs.get("service_name") or "<service>"
    yield ApiCall(f"aws ecs describe-services --cluster {cluster} --services {service}"
                  "  # the service must run the task definition Terraform applied (no rollback since)",
                  lambda: require_not_rolled_back(deployment, command))


def apply_plan(deployment: Deployment, tag: str | None) -> Plan[None]:
    """terraform apply of `tag` (in `all`: the one just built and pushed), else of the tag the
    stack runs now."""
    args, outputs = deployment.args, deployment.outputs
    yield Note("==> apply: terraform")
    if not tag:
        yield from rollback_check_plan(deployment, "apply")
    version = tag or (yield Lookup("the deployed tag", lambda: deployed_tag(outputs), dry_result="<deployed-tag>"))
    repository_url = args.repository_url or outputs.get("ecr_repository_url")
    name = repository_name(repository_url) if repository_url else deployment.stack_name()
    yield ApiCall(f"aws ecr describe-images --repository-name {name} --image-ids imageTag={version}"
                  "  # the tag must be in ECR", lambda: require_image_in_ecr(deployment, repository_url, version))
    yield from init_plan(deployment)
    yield terraform_apply(args, version)
    outputs.forget()
    if outputs.get("api_url"):
        yield Note(f"# API: {outputs.get('api_url')}")


# --------------------------------------------------------------------------------------------
# roll
# --------------------------------------------------------------------------------------------


def service_target(deployment: Deployment) -> tuple[str, str]:
    args, outputs = deployment.args, deployment.outputs
    cluster = args.cluster or outputs.get("cluster_name")
    service = args.service or outputs.get("service_name")
    if not cluster or not service:
        raise DeployError("no ECS cluster/service: run `deploy.sh apply` first, or pass --cluster and --service",
                          EXIT_PREREQUISITE)
    return cluster, service


def deployment_in_progress(ecs: Any, cluster: str, service: str) -> str | None:
    """The primary deployment's id while it is still rolling out, else None."""
    current = ecs.describe_services(cluster=cluster, services=[service])["services"]
    primary = next((d for d in current[0]["deployments"] if d["status"] == "PRIMARY"), None) if current else None
    return primary["id"] if primary and primary.get("rolloutState") == "IN_PROGRESS" else None


def force_new_deployment(ecs: Any, cluster: str, service: str) -> str:
    response = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    return next(d for d in response["service"]["deployments"] if d["status"] == "PRIMARY")["id"]


def wait_until_stable(ecs: Any, cluster: str, service: str, deployment_id: str, timeout_s: float,
                      poll_s: float, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Wait until `deployment_id` is the only deployment and all its tasks run.

    Raises DeployError (exit 3) when ECS marks the deployment FAILED (the circuit breaker
    gave up on it and, with rollback on, went back to the previous task definition), when
    the service disappears, or on timeout.
    """
    deadline = clock() + timeout_s
    last_note = ""
    while True:
        described = ecs.describe_services(cluster=cluster, services=[service])
        if not described.get("services") or described["services"][0].get("status") != "ACTIVE":
            raise DeployError(f"service {service} in cluster {cluster} is missing or inactive", EXIT_ROLLOUT_FAILED)
        svc = described["services"][0]
        deployments = svc.get("deployments", [])
        ours = next((d for d in deployments if d.get("id") == deployment_id), None)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        events = [e.get("message", "") for e in svc.get("events", [])[:5]]

        if ours is None or ours.get("rolloutState") == "FAILED" or (primary and primary.get("id") != deployment_id):
            reason = (ours or {}).get("rolloutStateReason") or "the deployment was replaced"
            rolled_back_to = (primary or {}).get("taskDefinition", "?")
            raise DeployError(
                f"deployment {deployment_id} FAILED: {reason}\n"
                f"The circuit breaker rolled the service back to {rolled_back_to}.\n"
                "Recent service events:\n" + "\n".join(f"  - {m}" for m in events) +
                f"\nSee the task logs: aws logs tail /ecs/{service} --since 30m",
                EXIT_ROLLOUT_FAILED,
            )
        if (ours.get("rolloutState") == "COMPLETED" and len(deployments) == 1
                and svc.get("runningCount") == svc.get("desiredCount")):
            say(f"# service {service} is stable: {svc['runningCount']}/{svc['desiredCount']} tasks on "
                f"{ours.get('taskDefinition')}")
            return svc
        note = (f"# waiting: {ours.get('rolloutState', '?')}, running {ours.get('runningCount', 0)}/"
                f"{ours.get('desiredCount', 0)}, {len(deployments)} deployment(s)")
        if note != last_note:
            say(note)
            last_note = note
        if clock() >= deadline:
            raise DeployError(
                f"service {service} did not become stable within {timeout_s:.0f}s ({note.lstrip('# ')}).\n"
                "Recent service events:\n" + "\n".join(f"  - {m}" for m in events),
                EXIT_ROLLOUT_FAILED,
            )
        sleep(poll_s)


def roll_plan(deployment: Deployment, after_apply: bool) -> Plan[None]:
    """Force a new deployment and wait until it is stable; right after an apply, wait for the
    deployment the apply usually started instead (each deployment reloads the model)."""
    args = deployment.args
    yield Note("==> roll: new ECS deployment")
    cluster, service = yield Lookup("the ECS service", lambda: service_target(deployment),
                                    dry_result=(args.cluster or "<cluster>", args.service or "<service>"))

    def ecs() -> Any:
        return aws_client("ecs", deployment.region())

    timeout = f"(timeout {args.timeout:.0f}s)"
    started = None
    if not after_apply:
        yield from rollback_check_plan(deployment, "roll")
    if after_apply:
        started = yield ApiCall(f"aws ecs describe-services --cluster {cluster} --services {service}"
                                "  # the deployment apply started, when it is still in progress:",
                                lambda: deployment_in_progress(ecs(), cluster, service),
                                dry_result="<deployment-id>")
    if started:
        yield Note(f"# apply started deployment {started}; waiting for it {timeout}",
                   dry_run_text="# (only when apply started no deployment, e.g. the tag was already deployed: "
                                f"aws ecs update-service --cluster {cluster} --service {service} "
                                "--force-new-deployment, then wait)")
    else:
        started = yield ApiCall(f"aws ecs update-service --cluster {cluster} --service {service} "
                                "--force-new-deployment",
                                lambda: force_new_deployment(ecs(), cluster, service),
                                dry_result="<deployment-id>")
        yield Note(f"# deployment {started} started; waiting for it to become stable {timeout}")
    yield ApiCall(f"aws ecs wait services-stable --cluster {cluster} --services {service}"
                  "  # polled; fails if the circuit breaker rolls back",
                  lambda: wait_until_stable(ecs(), cluster, service, started, args.timeout, args.poll_interval))


# --------------------------------------------------------------------------------------------
# destroy
# --------------------------------------------------------------------------------------------


def destroy_plan(deployment: Deployment, tag: str | None) -> Plan[None]:
    """Lift the deletion guards first, then destroy. The guards (ALB deletion protection, the
    non-empty-repository refusal) live in the state, so a targeted apply lifts them; only on
    guarded resources the state has: a targeted apply of a missing one would create it (and
    its VPC), the opposite of what destroy is for."""
    args = deployment.args
    yield Note("==> destroy: everything terraform/ created")
    image_tag = tag or deployment.outputs.get("image_tag") or "destroy"
    guarded = deployment.targets("guarded")
    guards_off = [f"-var={setting}" for setting in deployment.targets("guards_off")]
    yield from init_plan(deployment)
    in_state = yield replace(terraform(args, "state", "list"), capture=True,
                             empty_if_failed_with="No state file was found", dry_result="\n".join(guarded))
    yield Note("", dry_run_text=f"# (of {', '.join(guarded)}: only those `state list` shows are targeted)")
    targets = [address for address in guarded if address in in_state.split()]
    if targets:
        yield terraform_apply(args, image_tag, *[f"-target={address}" for address in targets], *guards_off)
    yield terraform_apply(args, image_tag, *guards_off, verb="destroy")


def push_latest_plan(deployment: Deployment) -> Plan[None]:
    """push on its own: --tag, else the latest bento in the store."""
    args = deployment.args
    version = args.tag or (yield Lookup("the latest bento", lambda: latest_bento_version(args.bento),
                                        dry_result=VERSION_PLACEHOLDER))
    yield from push_plan(deployment, version)


def all_plan(deployment: Deployment) -> Plan[None]:
    version = yield from build_plan(deployment, deployment.args.tag)
    yield from push_plan(deployment, version)
    yield from apply_plan(deployment, version)
    yield from roll_plan(deployment, after_apply=True)


PLANS: dict[str, Callable[[Deployment], Plan[None]]] = {
    "build": lambda deployment: build_plan(deployment, deployment.args.tag),
    "push": push_latest_plan,
    "apply": lambda deployment: apply_plan(deployment, deployment.args.tag),
    "roll": lambda deployment: roll_plan(deployment, after_apply=False),
    "all": all_plan,
    "destroy": lambda deployment: destroy_plan(deployment, deployment.args.tag),
}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def add_common_options(parser: argparse.ArgumentParser, suppress_defaults: bool) -> None:
    """Options accepted before and after the command. The command's copy has no defaults, so
    that `deploy.sh --dry-run all` is not reset by the subcommand parser."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress_defaults else value

    add = parser.add_argument
    add("--dry-run", action="store_true", default=default(False), help="print every command and API call; run nothing")
    add("--backend", choices=BACKENDS, default=default(os.environ.get("DEPLOY_BACKEND", "docker")),
        help="container tool for containerize/login/tag/push (default: docker, or $DEPLOY_BACKEND)")
    add("--bento", default=default(DEFAULT_BENTO), help=f"bento name (default: {DEFAULT_BENTO})")
    add("--tag", default=default(None),
        help="bento version / image tag (default: what build made, else the latest bento)")
    add("--platform", default=default("linux/amd64"),
        help="image platform passed to containerize; must match the task's cpu_architecture "
             "(default: linux/amd64; '' for the builder's own)")
    add("--region", default=default(None),
        help="AWS region (default: Terraform's output, then terraform.tfvars, then the AWS configuration)")
    add("--bentofile", default=default(None),
        help="bentofile for build (default: bentofile.yaml at the repository root)")
    add("--tf-dir", type=Path, default=default(REPO / "terraform"), help="Terraform module directory")
    add("--var-file", default=default(None),
        help="extra terraform -var-file (terraform/terraform.tfvars is read anyway)")
    add("--auto-approve", action="store_true", default=default(False), help="do not ask before terraform apply/destroy")
    add("--repository-url", default=default(None), help="push to this ECR repository instead of Terraform's")
    add("--cluster", default=default(None), help="ECS cluster for roll (default: Terraform output)")
    add("--service", default=default(None), help="ECS service for roll (default: Terraform output)")
    add("--timeout", type=float, default=default(1800.0), help="seconds roll waits for a stable service")
    add("--poll-interval", type=float, default=default(15.0), help="seconds between roll's status checks")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deploy.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser, suppress_defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "build": "bentoml build + containerize",
        "push": "ECR login, tag and push (tag = bento version)",
        "apply": "terraform apply with --tag (default: the tag deployed now); the tag must be in ECR",
        "roll": "force a new deployment and wait until the service is stable",
        "all": "build, push, apply, roll",
        "destroy": "terraform destroy (lifts deletion protection first)",
    }
    for name, text in helps.items():
        add_common_options(commands.add_parser(name, help=text, description=text), suppress_defaults=True)
    args = parser.parse_args(argv)
    args.tf_dir = args.tf_dir.resolve()
    return args


def aws_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return ()
    return (BotoCoreError, ClientError)


def prepare_environment() -> None:
    """Tools of this Python's virtualenv (bentoml) are found without activating it. The
    BentoML store is BentoML's own choice, as for every script: $BENTOML_HOME, else ~/bentoml."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path if path else bin_dir


def check_prerequisites(deployment: Deployment) -> None:
    command = deployment.args.command
    check_tools(command, deployment.args)
    if command != "build":
        check_credentials(deployment.region())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    prepare_environment()
    deployment = Deployment.for_args(args)
    try:
        deployment.executor.begin(args.command, preflight=lambda: check_prerequisites(deployment))
        deployment.executor.execute(PLANS[args.command](deployment))
    except DeployError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except aws_errors() as exc:
        print(f"deploy: error: AWS call failed: {exc}", file=sys.stderr, flush=True)
        return EXIT_STEP_FAILED
    except KeyboardInterrupt:
        print("deploy: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
