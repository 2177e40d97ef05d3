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
import os
import sys
from pathlib import Path
from typing import Any

from pls_deploy.commands import PLANS
from pls_deploy.image import BACKENDS, DEFAULT_BENTO
from pls_deploy.plans import EXIT_STEP_FAILED, REPO, DeployError
from pls_deploy.prerequisites import check_prerequisites
from pls_deploy.stack import Deployment


def registry_host(value: str) -> str:
    """--registry: a registry host, with a port when it needs one; never a URL or a path."""
    if not value or "://" in value or "/" in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a registry HOST[:PORT] (no scheme, no path)")
    return value


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
    add("--registry", type=registry_host, default=default(None), metavar="HOST[:PORT]",
        help="push (login, tag, push) through this endpoint of the repository's registry instead of the host in "
             "its URL, such as ECR's dual-stack endpoint for IPv6; the ECR checks and the image the service runs "
             "keep the repository URL")
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
