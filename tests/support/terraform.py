"""Terraform for the tests: the module's files read with python-hcl2, and the CLI run offline
(providers from the machine's local mirror) with a timeout around every step, so a call moto
lacks fails the step instead of hanging the run. See ../shared/EMULATED_AWS.md."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from tests.support.processes import IN_CI, REPO

MODULE = REPO / "terraform"
OVERRIDE_TEMPLATE = REPO / "tests" / "support" / "aws" / "emulated_override.tf.tpl"
MOTO_WRAPPER = REPO / "tests" / "support" / "aws" / "moto_wrapper.py"

# Upper bounds per Terraform step (seconds). Measured here: apply ~105 s, plan ~20 s, destroy ~45 s.
INIT_TIMEOUT = 180
VALIDATE_TIMEOUT = 120
APPLY_TIMEOUT = 600
PLAN_TIMEOUT = 300
DESTROY_TIMEOUT = 600

MOTO_ENV = {
    # ECS services report their tasks as running, so deployments complete.
    "MOTO_ECS_SERVICE_RUNNING": "1",
    # ACM certificates are issued at once instead of after 60 s.
    "MOTO_ACM_VALIDATION_WAIT": "0",
}


def missing_tool(message: str) -> None:
    """Skip for a tool this machine lacks, except under CI=true, where it must be there."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the CI machine must provide it)")
    pytest.skip(message)


def terraform_binary() -> str:
    path = shutil.which("terraform")
    if path is None:
        missing_tool("terraform is not installed (needed for fmt/validate/test/apply checks)")
    return path


# --- the module's files, parsed ---------------------------------------------------------------

def terraform_files() -> list[Path]:
    return sorted(MODULE.glob("*.tf"))


def parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle)


def blocks(kind: str) -> dict[str, dict]:
    """All top-level `variable`/`output` blocks of the module, by name."""
    found: dict[str, dict] = {}
    for path in terraform_files():
        for block in parse(path).get(kind, []):
            found.update(block)
    return found


def module_locals() -> dict:
    merged: dict = {}
    for path in terraform_files():
        for block in parse(path).get("locals", []):
            merged.update(block)
    return merged


def variable_default(name: str):
    return blocks("variable")[name]["default"]


def time_to_serve_s() -> int:
    """task_ready_seconds plus the passing health checks before the ALB sends traffic."""
    values = module_locals()
    return variable_default("task_ready_seconds") + values["health_check_threshold"] * values["health_check_interval"]


# --- the CLI ----------------------------------------------------------------------------------

def find_plugin_dir() -> Path | None:
    """The machine's local provider mirror, if any (see shared/EMULATED_AWS.md)."""
    candidates = [os.environ.get("TF_PLUGIN_DIR", ""), "/opt/tf-plugins", str(REPO / "tf-plugins"),
                  str(REPO.parent / "shared" / "tf-plugins"), "/tf-plugins", *sorted(glob.glob("/*/tf-plugins"))]
    for candidate in candidates:
        if candidate and (Path(candidate) / "registry.terraform.io").is_dir():
            return Path(candidate)
    return None


# Terraform without update checks or prompts, as CI runs it.
AUTOMATION_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def terraform_env() -> dict[str, str]:
    env = {**os.environ, **AUTOMATION_ENV}
    # A CLI configuration variable naming a file that does not exist only produces warnings.
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if cli_config and not Path(cli_config).is_file():
        env.pop("TF_CLI_CONFIG_FILE")
    return env


def run_terraform(terraform: str, args: list[str], cwd: Path, timeout_s: int,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one Terraform step under coreutils `timeout` (and a Python-side backstop)."""
    argv = ["timeout", "--kill-after=15", str(timeout_s), terraform, *args]
    try:
        return subprocess.run(argv, cwd=cwd, env=env or terraform_env(), capture_output=True, text=True,
                              timeout=timeout_s + 30)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - timeout(1) should fire first
        pytest.fail(f"terraform {' '.join(args)} exceeded {timeout_s}s: {exc}")


def check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode == 124:
        pytest.fail(f"{what} timed out\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    assert result.returncode == 0, \
        f"{what} failed ({result.returncode})\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"


def copy_module(destination: Path, with_tests: bool = False) -> Path:
    """Copy the module's configuration (not its .terraform/ or state) to `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in MODULE.iterdir():
        if path.is_file() and (path.suffix == ".tf" or path.name == "terraform.tfvars.example") \
                and not path.name.endswith("_override.tf"):
            shutil.copy2(path, destination / path.name)
    if with_tests and (MODULE / "tests").is_dir():
        shutil.copytree(MODULE / "tests", destination / "tests")
    return destination


def terraform_init(terraform: str, workdir: Path) -> None:
    args = ["init", "-backend=false", "-input=false", "-no-color"]
    plugin_dir = find_plugin_dir()
    if plugin_dir is not None:
        # Offline machines: providers only from the local mirror, never the registry.
        args.append(f"-plugin-dir={plugin_dir}")
    check(run_terraform(terraform, args, workdir, INIT_TIMEOUT), "terraform init")


def console(terraform: str, workdir: Path, expression: str, *variables: str):
    """Evaluate `expression` with `terraform console` (no AWS call): (JSON value or None, stderr)."""
    result = subprocess.run(["timeout", "60", terraform, "console", "-var=image_tag=console", *variables],
                            input=expression + "\n", cwd=workdir, env=terraform_env(), capture_output=True,
                            text=True, timeout=90)
    if result.returncode != 0:
        return None, " ".join(result.stderr.split())
    return json.loads(json.loads(result.stdout.strip())), result.stderr
