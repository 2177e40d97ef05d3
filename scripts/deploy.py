#!/usr/bin/env python3
"""Build, push and deploy the pls-service bento to AWS ECS Fargate (terraform/).

    scripts/deploy.sh [options] build     bentoml build + bentoml containerize
    scripts/deploy.sh [options] push      ECR login, tag and push (tag = bento version)
    scripts/deploy.sh [options] apply     terraform apply with that image tag
    scripts/deploy.sh [options] roll      force a new ECS deployment, wait until stable
    scripts/deploy.sh [options] all       build, push, apply, roll
    scripts/deploy.sh [options] destroy   lift the ALB/ECR guards, terraform destroy

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

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BENTO = "pls-service"
BACKENDS = ("docker", "buildah", "podman")
VERSION_PLACEHOLDER = "<bento-version>"
REPOSITORY_PLACEHOLDER = "<account>.dkr.ecr.<region>.amazonaws.com/pls-service"

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
            shown: str | None = None) -> str:
        """Run `argv` (printed first); in a dry run, only print it. `shown` replaces the
        printed form where the real input is a secret (the registry password)."""
        say(f"$ {shown or shlex.join(argv)}")
        if self.dry_run:
            return ""
        try:
            result = subprocess.run(argv, cwd=cwd, env=self.env, input=stdin, text=True,
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
    if command in ("build", "all") and not (REPO / "bentofile.yaml").is_file():
        raise DeployError(f"no bentofile.yaml in {REPO}: 'build' runs bentoml build from the repository root",
                          EXIT_PREREQUISITE)
    if command in ("apply", "destroy", "push", "all") and not (args.tf_dir / "versions.tf").is_file():
        raise DeployError(f"no Terraform module at {args.tf_dir} (--tf-dir)", EXIT_PREREQUISITE)


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


def configured_region(runner: Runner, args: argparse.Namespace) -> str | None:
    """The region the stack is (or will be) in: --region, the state, then terraform.tfvars."""
    if args.region:
        return args.region
    region = terraform_outputs(runner, args).get("region")
    if region:
        return region
    tfvars = args.tf_dir / "terraform.tfvars"
    if tfvars.is_file():
        match = re.search(r'^\s*region\s*=\s*"([a-z0-9-]+)"', tfvars.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return None  # boto3's own configuration (AWS_REGION, profile) decides


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


def step_build(runner: Runner, args: argparse.Namespace) -> str:
    say("==> build: bento and container image")
    build = ["bentoml", "build", "--output", "tag", "--label", f"git_commit={git_commit(runner)}"]
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
    runner.run(containerize)
    say(f"# built image {bento}")
    args.tag = version  # later steps of `all` use this version
    return version


def ensure_repository(runner: Runner, args: argparse.Namespace, version: str) -> tuple[str, str]:
    """ECR repository URL and region; creates the repository (only) on the first push."""
    if args.repository_url:
        return args.repository_url, configured_region(runner, args) or ""
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
        return REPOSITORY_PLACEHOLDER.replace("<region>", region), region
    if not outputs.get("ecr_repository_url"):
        raise DeployError("terraform has no ecr_repository_url output after creating the repository")
    return outputs["ecr_repository_url"], configured_region(runner, args) or ""


def step_push(runner: Runner, args: argparse.Namespace) -> None:
    say("==> push: image to ECR")
    version = latest_bento_version(runner, args)
    repository_url, region = ensure_repository(runner, args, version)
    registry = repository_url.split("/", 1)[0]
    local_image = f"{args.bento}:{version}"
    remote_image = f"{repository_url}:{version}"

    ecr = None
    if not runner.dry_run:
        import boto3

        ecr = boto3.client("ecr", region_name=region or None)
        repository_name = repository_url.split("/", 1)[1]
        try:
            ecr.describe_images(repositoryName=repository_name, imageIds=[{"imageTag": version}])
            say(f"# {remote_image} is already in ECR (tags are immutable): nothing to push")
            return
        except ecr.exceptions.ImageNotFoundException:
            pass

    def password() -> str:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().partition(":")[2]

    secret = None if runner.dry_run else password()
    runner.run([args.backend, "login", "--username", "AWS", "--password-stdin", registry], stdin=secret,
               shown=f"aws ecr get-login-password --region {region} | {args.backend} login --username AWS "
                     f"--password-stdin {registry}")
    runner.run([args.backend, "tag", local_image, remote_image])
    runner.run([args.backend, "push", remote_image])
    say(f"# pushed {remote_image}")


def step_apply(runner: Runner, args: argparse.Namespace) -> None:
    say("==> apply: terraform")
    version = latest_bento_version(runner, args)
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
    if args.command == "all" and not runner.dry_run:
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


def step_destroy(runner: Runner, args: argparse.Namespace) -> None:
    say("==> destroy: everything terraform/ created")
    outputs = terraform_outputs(runner, args)
    image_tag = args.tag or outputs.get("image_tag") or "destroy"
    guards = ["-var=alb_deletion_protection=false", "-var=ecr_force_delete=true"]
    terraform_init(runner, args)
    # Deletion protection and the non-empty-repository guard live in the state: lift them
    # first, on those two resources only, so the destroy that follows can remove them.
    runner.run([*terraform_base(args), "apply", "-input=false", *approve_flag(args),
                "-target=aws_lb.this", "-target=aws_ecr_repository.this",
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
        "apply": "terraform apply with the image tag",
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
    """Tools of this Python's virtualenv (bentoml) are found without activating it, and the
    bento store is the project's, as for the other scripts."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path if path else bin_dir
    os.environ.setdefault("BENTOML_HOME", str(REPO / ".bentoml"))


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
