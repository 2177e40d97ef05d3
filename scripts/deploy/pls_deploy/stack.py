"""What a run works on: the options, the Terraform module's outputs and targets, AWS clients, and
the Terraform commands the plans run."""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pls_deploy.plans import EXIT_PREREQUISITE, REPO, Command, DeployError, Executor, Lookup, Plan

DEFAULT_STACK_NAME = "pls-service"  # terraform/variables.tf `name`, which names the ECR repository
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>: the repository URL names its region.
ECR_URL = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
                     r"\.amazonaws\.com(?:\.cn)?/(?P<name>.+)$")


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
