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

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BENTO = "pls-service"
BACKENDS = ("docker", "buildah", "podman")
VERSION_PLACEHOLDER = "<bento-version>"
REGISTRY_PLACEHOLDER = "<account>.dkr.ecr.<region>.amazonaws.com"
DEFAULT_STACK_NAME = "pls-service"  # terraform/variables.tf `name`, which names the ECR repository
# Test-only: push to this plain-HTTP registry (host:port) instead of the ECR registry; the ECR
# repository, its API calls and the image tag stay as they are. tests/test_deploy.py points it
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
# Running (or, in a dry run, only printing) commands
# --------------------------------------------------------------------------------------------


@dataclass
class Runner:
    dry_run: bool
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))  # taken after prepare_environment

    def run(self, argv: list[str], *, cwd: Path = REPO, stdin: str | None = None, capture: bool = False,
            shown: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run `argv` (printed first); in a dry run, only print it. `shown` replaces the
        printed form where the real input is a secret (the registry password); `env` adds
        variables for this command only (printed in front of it)."""
        prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in (env or {}).items())
        say(f"$ {prefix}{shown or shlex.join(argv)}")
        if self.dry_run:
            return ""
        try:
            result = subprocess.run(argv, cwd=cwd, env={**self.env, **(env or {})}, input=stdin, text=True,
                                    stdout=subprocess.PIPE if capture else None)
        except FileNotFoundError:
            raise DeployError(f"{argv[0]} is not installed or not on PATH", EXIT_PREREQUISITE) from None
        if result.returncode != 0:
            raise DeployError(f"command failed with exit code {result.returncode}: {shown or shlex.join(argv)}")
        return result.stdout or ""

    def api(self, shown: str, call: Callable[[], Any]) -> Any:
        """An AWS API call, printed as its AWS CLI equivalent."""
        say(f"$ {shown}")
        if self.dry_run:
            return None
        return call()


# --------------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------------

TOOL_HINTS = {
    "bentoml": "install the project's requirements (pip install -r requirements.txt)",
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
        raise DeployError("boto3 is not installed: pip install -r requirements.txt", EXIT_PREREQUISITE) from None
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
# Terraform
# --------------------------------------------------------------------------------------------


def terraform_base(args: argparse.Namespace) -> list[str]:
    return ["terraform", f"-chdir={args.tf_dir}"]


def terraform_var_args(args: argparse.Namespace, image_tag: str) -> list[str]:
    # terraform/terraform.tfvars, when present, is loaded by Terraform itself.
    var_args = []
    if args.var_file:
        var_args.append(f"-var-file={Path(args.var_file).resolve()}")
    var_args.append(f"-var=image_tag={image_tag}")
    if args.region:
        var_args.append(f"-var=region={args.region}")
    return var_args


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


def configured_region(runner: Runner, args: argparse.Namespace) -> str | None:
    """The region the stack is (or will be) in: --region, the state, then terraform.tfvars."""
    if args.region:
        return args.region
    outputs = terraform_outputs(runner, args)
    region = outputs.get("region") or region_of_repository(outputs.get("ecr_repository_url") or "")
    if region:
        return region
    return tfvars_value(args, "region")  # None: boto3's own configuration (AWS_REGION, profile) decides


def region_of_repository(repository_url: str) -> str | None:
    """The region named in an ECR repository URL; None for anything else."""
    match = ECR_URL.match(repository_url)
    return match.group("region") if match else None


def repository_name(repository_url: str) -> str:
    return repository_url.split("/", 1)[1] if "/" in repository_url else repository_url


def terraform_init(runner: Runner, args: argparse.Namespace) -> None:
    if runner.dry_run or not (args.tf_dir / ".terraform").is_dir():
        runner.run([*terraform_base(args), "init", "-input=false"])


def terraform_outputs(runner: Runner, args: argparse.Namespace) -> dict[str, Any]:
    """Outputs of the current state; empty before the first apply (or in a dry run)."""
    if runner.dry_run or shutil.which("terraform") is None:
        return {}
    result = subprocess.run([*terraform_base(args), "output", "-json"], cwd=REPO, env=runner.env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {}
    try:
        return {key: value["value"] for key, value in json.loads(result.stdout or "{}").items()}
    except (ValueError, KeyError, TypeError):
        return {}


def approve_flag(args: argparse.Namespace) -> list[str]:
    return ["-auto-approve"] if args.auto_approve else []


# --------------------------------------------------------------------------------------------
# Bento version (= image tag)
# --------------------------------------------------------------------------------------------


def latest_bento_version(runner: Runner, args: argparse.Namespace) -> str:
    if args.tag:
        return args.tag
    if runner.dry_run:
        return VERSION_PLACEHOLDER
    result = subprocess.run(["bentoml", "get", f"{args.bento}:latest", "-o", "json"], cwd=REPO, env=runner.env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(f"no bento '{args.bento}' in the local store: run `deploy.sh build` first, or pass --tag",
                          EXIT_PREREQUISITE)
    info = json.loads(result.stdout)
    version = info.get("version") or str(info.get("tag", "")).partition(":")[2]
    if not version:
        raise DeployError(f"could not read the version of {args.bento}:latest from bentoml get")
    return version


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def git_commit(runner: Runner) -> str:
    """Short commit of the working tree, recorded as a bento label (bentofile.yaml asks for it)."""
    if runner.dry_run:
        return "<git-commit>"
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def containerize_tmpdir() -> Path:
    """A temporary folder for `bentoml containerize` under the working directory, outside any
    hidden folder. BentoML 1.4.40 resolves the bento's `dockerfile_template` inside its
    temporary build context and refuses it when that lies outside the working directory
    (the default /tmp) or under a hidden folder (bentoml/BentoML#5566). build/ is git-ignored
    and left out of the bento."""
    return REPO / "build" / "tmp"


def step_build(runner: Runner, args: argparse.Namespace) -> str:
    say("==> build: bento and container image")
    build = ["bentoml", "build", "--output", "tag", "--label", f"git_commit={git_commit(runner)}"]
    if args.bentofile:
        build += ["-f", str(bentofile_path(args))]
    if args.tag:
        build += ["--version", args.tag]
    output = runner.run(build, capture=True)
    if runner.dry_run:
        version = args.tag or VERSION_PLACEHOLDER
    else:
        match = re.search(r"__tag__:([^\s:]+):(\S+)", output)
        if not match:
            raise DeployError(f"bentoml build printed no tag:\n{output}")
        version = match.group(2)
    bento = f"{args.bento}:{version}"
    containerize = ["bentoml", "containerize", bento, "--backend", args.backend, "--image-tag", bento]
    if args.platform:
        containerize += ["--opt", f"platform={args.platform}"]
    tmpdir = containerize_tmpdir()
    if not runner.dry_run:
        tmpdir.mkdir(parents=True, exist_ok=True)
    runner.run(containerize, env={"TMPDIR": str(tmpdir)})
    say(f"# built image {bento}")
    args.tag = version  # later steps of `all` use this version
    return version


def ensure_repository(runner: Runner, args: argparse.Namespace, version: str) -> tuple[str, str]:
    """ECR repository URL and region; creates the repository (only) on the first push.

    The region is read from the repository URL: after the first, targeted apply the state
    has no `region` output yet, and the repository is where the URL says, whatever the
    AWS profile's default region is."""
    if args.repository_url:
        url = args.repository_url
        return url, region_of_repository(url) or configured_region(runner, args) or ""
    outputs = terraform_outputs(runner, args)
    if runner.dry_run:
        say("# (only when the Terraform state has no ECR repository yet: create it first)")
    if not outputs.get("ecr_repository_url"):
        # First deploy: the service cannot be created before its image exists, so create the
        # repository alone first; `apply` creates everything else.
        if not runner.dry_run:
            say("# no ECR repository in the Terraform state yet: creating it first")
        terraform_init(runner, args)
        runner.run([*terraform_base(args), "apply", "-input=false", *approve_flag(args),
                    "-target=aws_ecr_repository.this", "-target=aws_ecr_lifecycle_policy.this",
                    *terraform_var_args(args, version)])
        outputs = terraform_outputs(runner, args)
    if runner.dry_run:
        region = configured_region(runner, args) or "<region>"
        name = tfvars_value(args, "name") or DEFAULT_STACK_NAME
        return f"{REGISTRY_PLACEHOLDER.replace('<region>', region)}/{name}", region
    url = outputs.get("ecr_repository_url")
    if not url:
        raise DeployError("terraform has no ecr_repository_url output after creating the repository")
    return url, region_of_repository(url) or configured_region(runner, args) or ""


def ecr_client(region: str) -> Any:
    import boto3

    return boto3.client("ecr", region_name=region or None)


def image_in_ecr(ecr: Any, repository_url: str, region: str, version: str) -> bool:
    """Whether the tag is in the repository; a missing repository is an error that says where
    it was looked for."""
    name = repository_name(repository_url)
    try:
        ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": version}])
        return True
    except ecr.exceptions.ImageNotFoundException:
        return False
    except ecr.exceptions.RepositoryNotFoundException:
        raise DeployError(f"ECR repository {name} does not exist in {region or 'the default region'} "
                          f"({repository_url}); run `deploy.sh push` to create it") from None


def step_push(runner: Runner, args: argparse.Namespace) -> None:
    say("==> push: image to ECR")
    version = latest_bento_version(runner, args)
    repository_url, region = ensure_repository(runner, args, version)
    registry = repository_url.split("/", 1)[0]
    tls: list[str] = []
    test_registry = os.environ.get(TEST_REGISTRY_ENV)
    if test_registry:
        # Only tests set this: the image goes to a local plain-HTTP registry under the ECR
        # repository's name; every ECR API call still goes to ECR (or its emulator).
        say(f"# {TEST_REGISTRY_ENV}={test_registry}: pushing to that registry instead of {registry}")
        registry = test_registry
        tls = ["--tls-verify=false"] if args.backend in ("buildah", "podman") else []
    local_image = f"{args.bento}:{version}"
    remote_image = f"{registry}/{repository_name(repository_url)}:{version}"

    ecr = None
    if not runner.dry_run:
        ecr = ecr_client(region)
        if image_in_ecr(ecr, repository_url, region, version):
            say(f"# {repository_url}:{version} is already in ECR (tags are immutable): nothing to push")
            return

    def password() -> str:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().partition(":")[2]

    secret = None if runner.dry_run else password()
    runner.run([args.backend, "login", *tls, "--username", "AWS", "--password-stdin", registry], stdin=secret,
               shown=f"aws ecr get-login-password --region {region} | {args.backend} login {' '.join(tls + [''])}"
                     f"--username AWS --password-stdin {registry}")
    runner.run([args.backend, "tag", local_image, remote_image])
    runner.run([args.backend, "push", *tls, remote_image])
    say(f"# pushed {remote_image}")


def deployed_or_given_tag(runner: Runner, args: argparse.Namespace, outputs: dict[str, Any]) -> str:
    """The tag `apply` deploys: --tag (or what `all` just built and pushed), else the tag the
    stack already runs. Never the newest local bento: it may not have been pushed."""
    if args.tag:
        return args.tag
    if runner.dry_run:
        return outputs.get("image_tag") or "<deployed-tag>"
    if outputs.get("image_tag"):
        return outputs["image_tag"]
    raise DeployError("no image tag to apply: the stack runs none yet. Pass --tag VERSION (a version "
                      "`deploy.sh push` pushed), or run `deploy.sh all`", EXIT_PREREQUISITE)


def check_image_pushed(runner: Runner, args: argparse.Namespace, outputs: dict[str, Any], version: str) -> None:
    """Refuse to point the service at an image ECR does not have: its tasks would fail with
    CannotPullContainerError until the circuit breaker rolled the service back."""
    repository_url = args.repository_url or outputs.get("ecr_repository_url")
    name = repository_name(repository_url) if repository_url else tfvars_value(args, "name") or DEFAULT_STACK_NAME
    shown = (f"aws ecr describe-images --repository-name {name} "
             f"--image-ids imageTag={version}  # the tag must be in ECR")
    if runner.dry_run:
        say(f"$ {shown}")
        return
    if not repository_url:
        raise DeployError("the Terraform state has no ECR repository yet: run `deploy.sh push` (or `all`) first",
                          EXIT_PREREQUISITE)
    region = region_of_repository(repository_url) or configured_region(runner, args) or ""
    say(f"$ {shown}")
    if not image_in_ecr(ecr_client(region), repository_url, region, version):
        raise DeployError(f"{repository_url}:{version} is not in ECR. Push it first "
                          f"(`deploy.sh --tag {version} push`), or pick a pushed tag with --tag", EXIT_PREREQUISITE)


def step_apply(runner: Runner, args: argparse.Namespace) -> None:
    say("==> apply: terraform")
    outputs = terraform_outputs(runner, args)
    version = deployed_or_given_tag(runner, args, outputs)
    check_image_pushed(runner, args, outputs, version)
    terraform_init(runner, args)
    runner.run([*terraform_base(args), "apply", "-input=false", *approve_flag(args),
                *terraform_var_args(args, version)])
    outputs = terraform_outputs(runner, args)
    if outputs.get("api_url"):
        say(f"# API: {outputs['api_url']}")


def service_target(runner: Runner, args: argparse.Namespace) -> tuple[str, str, str | None]:
    if args.cluster and args.service:
        return args.cluster, args.service, configured_region(runner, args)
    outputs = terraform_outputs(runner, args)
    cluster = args.cluster or outputs.get("cluster_name")
    service = args.service or outputs.get("service_name")
    if runner.dry_run:
        return cluster or "<cluster>", service or "<service>", args.region or outputs.get("region")
    if not cluster or not service:
        raise DeployError("no ECS cluster/service: run `deploy.sh apply` first, or pass --cluster and --service",
                          EXIT_PREREQUISITE)
    return cluster, service, configured_region(runner, args)


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


def step_roll(runner: Runner, args: argparse.Namespace) -> None:
    say("==> roll: new ECS deployment")
    cluster, service, region = service_target(runner, args)
    ecs = None
    if not runner.dry_run:
        import boto3

        ecs = boto3.client("ecs", region_name=region or None)

    # In `all`, the apply just before usually started a deployment of the new task definition;
    # wait for that one instead of replacing it (each deployment reloads the model).
    if args.command == "all" and runner.dry_run:
        say(f"$ aws ecs describe-services --cluster {cluster} --services {service}"
            "  # the deployment apply started, when it is still in progress:")
        say(f"$ aws ecs wait services-stable --cluster {cluster} --services {service}"
            "  # polled; fails if the circuit breaker rolls back")
        say("# (only when apply started no deployment, e.g. the tag was already deployed: "
            f"aws ecs update-service --cluster {cluster} --service {service} --force-new-deployment, then wait)")
        return
    if args.command == "all":
        current = ecs.describe_services(cluster=cluster, services=[service])["services"]
        primary = next((d for d in current[0]["deployments"] if d["status"] == "PRIMARY"), None) if current else None
        if primary and primary.get("rolloutState") == "IN_PROGRESS":
            say(f"# apply started deployment {primary['id']}; waiting for it (timeout {args.timeout:.0f}s)")
            wait_until_stable(ecs, cluster, service, primary["id"], args.timeout, args.poll_interval)
            return

    response = runner.api(
        f"aws ecs update-service --cluster {cluster} --service {service} --force-new-deployment",
        lambda: ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True),
    )
    if runner.dry_run:
        say(f"$ aws ecs wait services-stable --cluster {cluster} --services {service}"
            "  # polled; fails if the circuit breaker rolls back")
        return
    primary = next(d for d in response["service"]["deployments"] if d["status"] == "PRIMARY")
    say(f"# deployment {primary['id']} started; waiting for it to become stable (timeout {args.timeout:.0f}s)")
    wait_until_stable(ecs, cluster, service, primary["id"], args.timeout, args.poll_interval)


GUARDED_RESOURCES = ("aws_lb.this", "aws_ecr_repository.this")


def resources_in_state(runner: Runner, args: argparse.Namespace) -> list[str]:
    """Resource addresses `terraform state list` shows (none when there is no state yet)."""
    argv = [*terraform_base(args), "state", "list"]
    say(f"$ {shlex.join(argv)}")
    if runner.dry_run:
        return []
    result = subprocess.run(argv, cwd=REPO, env=runner.env, capture_output=True, text=True)
    if result.returncode != 0:
        if "No state file was found" in result.stderr + result.stdout:
            return []
        raise DeployError(f"terraform state list failed ({result.returncode}):\n{result.stderr.strip()}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def step_destroy(runner: Runner, args: argparse.Namespace) -> None:
    say("==> destroy: everything terraform/ created")
    outputs = terraform_outputs(runner, args)
    image_tag = args.tag or outputs.get("image_tag") or "destroy"
    guards = ["-var=alb_deletion_protection=false", "-var=ecr_force_delete=true"]
    terraform_init(runner, args)
    # Deletion protection and the non-empty-repository guard live in the state: lift them
    # first, so the destroy that follows can remove those resources. Only on guarded
    # resources the state has: a targeted apply of one that is missing would create it (and
    # its VPC), which is the opposite of what destroy is for.
    in_state = set(resources_in_state(runner, args))
    if runner.dry_run:
        say(f"# (of {', '.join(GUARDED_RESOURCES)}: only those `state list` shows are targeted)")
        targets = list(GUARDED_RESOURCES)
    else:
        targets = [address for address in GUARDED_RESOURCES if address in in_state]
    if targets:
        runner.run([*terraform_base(args), "apply", "-input=false", *approve_flag(args),
                    *[f"-target={address}" for address in targets],
                    *terraform_var_args(args, image_tag), *guards])
    runner.run([*terraform_base(args), "destroy", "-input=false", *approve_flag(args),
                *terraform_var_args(args, image_tag), *guards])


STEPS: dict[str, list[Callable[[Runner, argparse.Namespace], Any]]] = {
    "build": [step_build],
    "push": [step_push],
    "apply": [step_apply],
    "roll": [step_roll],
    "all": [step_build, step_push, step_apply, step_roll],
    "destroy": [step_destroy],
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
    add("--var-file", default=default(None), help="extra terraform -var-file (terraform/terraform.tfvars is read anyway)")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    prepare_environment()
    runner = Runner(dry_run=args.dry_run)
    try:
        if args.dry_run:
            say(f"# dry run of '{args.command}': commands are printed, not run")
        else:
            check_tools(args.command, args)
            if args.command != "build":
                check_credentials(configured_region(runner, args))
        for step in STEPS[args.command]:
            step(runner, args)
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
