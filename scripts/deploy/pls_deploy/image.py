"""The image: `build` (bentoml build + containerize, for the platform the task runs) and `push`
(ECR login, tag and push, the tag being the bento version; on the first push Terraform creates
the repository first)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
from pathlib import Path

from pls_deploy.plans import EXIT_PREREQUISITE, REPO, Command, DeployError, Lookup, Note, Plan, Secret
from pls_deploy.stack import (
    Deployment,
    aws_client,
    init_plan,
    region_of_repository,
    repository_name,
    terraform_apply,
    tfvars_value,
)

DEFAULT_BENTO = "pls-service"
BACKENDS = ("docker", "buildah", "podman")
VERSION_PLACEHOLDER = "<bento-version>"
REGISTRY_PLACEHOLDER = "<account>.dkr.ecr.<region>.amazonaws.com"


def bentofile_path(args: argparse.Namespace) -> Path:
    return Path(args.bentofile).resolve() if args.bentofile else REPO / "bentofile.yaml"


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
    """Log in, tag and push, through the repository URL's registry or the one --registry names
    (another endpoint of it); the check for the tag always asks ECR."""
    args = deployment.args
    yield Note("==> push: image to ECR")
    repository_url, region = yield from repository_plan(deployment, version)
    registry = args.registry or repository_url.split("/", 1)[0]
    if args.registry:
        yield Note(f"# --registry: login, tag and push go through {registry}; ECR's repository is {repository_url}")
    if (yield Lookup("the tag in ECR", lambda: image_in_ecr(repository_url, region, version), dry_result=False)):
        yield Note(f"# {repository_url}:{version} is already in ECR (tags are immutable): nothing to push")
        return
    remote_image = f"{registry}/{repository_name(repository_url)}:{version}"
    password = Secret(f"aws ecr get-login-password --region {region}", lambda: registry_password(region))
    yield Command((args.backend, "login", "--username", "AWS", "--password-stdin", registry), stdin=password)
    yield Command((args.backend, "tag", f"{args.bento}:{version}", remote_image))
    yield Command((args.backend, "push", remote_image))
    yield Note(f"# pushed {remote_image}")


def push_latest_plan(deployment: Deployment) -> Plan[None]:
    """push on its own: --tag, else the latest bento in the store."""
    args = deployment.args
    version = args.tag or (yield Lookup("the latest bento", lambda: latest_bento_version(args.bento),
                                        dry_result=VERSION_PLACEHOLDER))
    yield from push_plan(deployment, version)


def require_image_in_ecr(deployment: Deployment, repository_url: str | None, version: str) -> None:
    """Refuse to point the service at an image ECR does not have: its tasks would fail with
    CannotPullContainerError until the circuit breaker rolled the service back."""
    if not repository_url:
        raise DeployError("the Terraform state has no ECR repository yet: run `deploy.sh push` (or `all`) first",
                          EXIT_PREREQUISITE)
    if not image_in_ecr(repository_url, repository_region(deployment, repository_url), version):
        raise DeployError(f"{repository_url}:{version} is not in ECR. Push it first "
                          f"(`deploy.sh --tag {version} push`), or pick a pushed tag with --tag", EXIT_PREREQUISITE)
