"""The deploy CLI as the tests drive it: scripts/deploy/deploy.sh (the pls_deploy package, installed
with the project) run with a clean environment (no AWS credentials or configuration of the
machine), stand-in tools that only record their calls, and moto's ECR. A pytest plugin
(tests/conftest.py loads it) for the `recording_path` fixture."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO

DEPLOY_SH = REPO / "scripts" / "deploy" / "deploy.sh"
DEPLOY_PACKAGE = REPO / "scripts" / "deploy" / "pls_deploy"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any AWS credentials or configuration of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "DEPLOY_BACKEND"}
    env.update({
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHON": sys.executable,
    })
    env.update(extra)
    return env


def deploy(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEPLOY_SH), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def recording_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose docker/buildah/terraform/bentoml/aws only record that they were run.

    The terraform stub answers `output -json` with the JSON in `<calls>.outputs` (as the state
    would), or `{}`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("docker", "buildah", "podman", "terraform", "bentoml", "aws"):
        script = bin_dir / tool
        # `login` reads the registry password from stdin: keep it to check what was passed.
        body = f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nif [ "$1" = login ]; then cat > "{calls}.stdin"; fi\n'
        if tool == "terraform":
            body += f'case " $* " in *" output -json "*) cat "{calls}.outputs" 2>/dev/null || echo "{{}}";; esac\n'
        script.write_text(body)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", calls


def output_reads(calls: Path) -> int:
    return sum(1 for call in recorded(calls) if call.startswith("terraform ") and call.endswith(" output -json"))


def state_outputs(calls: Path, **outputs: str) -> None:
    """What the terraform stub answers to `terraform output -json`."""
    Path(f"{calls}.outputs").write_text(json.dumps({key: {"value": value} for key, value in outputs.items()}))


def recorded(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def moto_kwargs(moto_url: str, region: str = "us-east-1") -> dict[str, str]:
    """boto3 client arguments for a test's moto server."""
    return {"endpoint_url": moto_url, "region_name": region, "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing"}


def moto_ecr(moto_url: str, region: str = "us-east-1"):
    import boto3

    return boto3.client("ecr", **moto_kwargs(moto_url, region))


def put_image(ecr, tag: str) -> None:
    """What ECR records of a push: a manifest under the tag."""
    ecr.put_image(repositoryName="pls-service", imageTag=tag,
                  imageManifest='{"schemaVersion": 2, "config": {"digest": "sha256:1"}, "layers": []}',
                  imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")
