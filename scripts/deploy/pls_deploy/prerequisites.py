"""What a real run needs before it starts (a dry run needs none of it): the tools of its steps, the
models a build puts in the bento, and AWS credentials that work. Each missing piece stops the run
with exit 2 and says how to get it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from pls_deploy.image import bentofile_path
from pls_deploy.plans import EXIT_PREREQUISITE, REPO, DeployError, say
from pls_deploy.stack import Deployment

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


def check_prerequisites(deployment: Deployment) -> None:
    command = deployment.args.command
    check_tools(command, deployment.args)
    if command != "build":
        check_credentials(deployment.region())
