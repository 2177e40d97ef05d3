"""scripts/deploy/deploy.sh before it does anything: the tools and credentials it needs, with
clear errors, its help, and the BentoML store and the models it must hold before a build."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy import DEPLOY_PACKAGE, DEPLOY_SH, clean_env, deploy
from tests.support.moto import FAKE_CREDENTIALS, free_port
from tests.support.processes import REPO

# --------------------------------------------------------------------------------------------
# Prerequisites and credentials
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_missing_tools_are_listed_with_how_to_install_them(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pls_deploy", "all", "--backend", "buildah"], cwd=REPO,
                            env=clean_env(PATH=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "missing prerequisites for 'all'" in result.stderr
    # (bentoml is found next to the Python that runs the script: the project's virtualenv)
    for tool in ("buildah", "terraform"):
        assert f"- {tool}:" in result.stderr
    assert "install Terraform" in result.stderr
    assert result.stdout == ""  # nothing ran


@pytest.mark.timeout(60)
def test_missing_credentials_give_a_clear_error() -> None:
    result = deploy(["roll", "--cluster", "c", "--service", "s", "--region", "us-east-1"], clean_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no AWS credentials found" in result.stderr
    assert "aws configure" in result.stderr


@pytest.mark.timeout(90)
def test_unreachable_or_rejected_credentials_give_a_clear_error() -> None:
    env = clean_env(**FAKE_CREDENTIALS, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1")
    result = deploy(["roll", "--cluster", "c", "--service", "s"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "AWS credentials were rejected or STS is unreachable" in result.stderr


@pytest.mark.timeout(60)
def test_help_lists_every_command() -> None:
    result = deploy(["--help"], clean_env())
    assert result.returncode == 0
    for command in ("build", "push", "apply", "roll", "all", "destroy", "--dry-run", "--backend"):
        assert command in result.stdout


# --------------------------------------------------------------------------------------------
# The BentoML store, and the models it must hold before a build
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_build_looks_in_bentomls_default_store_and_says_how_to_import(tmp_path: Path) -> None:
    """No BENTOML_HOME: the store is ~/bentoml, as for setup_and_serve.sh's import. An empty
    store stops the build before it starts, with the import command (exit 2)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    buildah = bin_dir / "buildah"
    buildah.write_text(f'#!/bin/sh\necho "buildah $*" >> "{tmp_path}/calls.log"\n')
    buildah.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    env.pop("BENTOML_HOME", None)
    result = deploy(["--backend", "buildah", "build"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"not in the BentoML store ({home / 'bentoml'})" in result.stderr
    assert "python scripts/models/import_models.py" in result.stderr
    assert "pls-simplifier" in result.stderr and "pls-classifier" in result.stderr
    assert "bentoml build" not in result.stdout
    assert not (tmp_path / "calls.log").exists()


def test_deploy_leaves_the_store_to_bentoml() -> None:
    """One rule for every script: $BENTOML_HOME when set, else BentoML's ~/bentoml."""
    for script in (*sorted(DEPLOY_PACKAGE.glob("*.py")), REPO / "scripts" / "container" / "smoke.sh", DEPLOY_SH):
        text = script.read_text()
        assert ".bentoml" not in text, f"{script.name} names a store of its own"
        assert not re.search(r"BENTOML_HOME\"?\]?\s*=|setdefault\(\"BENTOML_HOME\"|export BENTOML_HOME", text), \
            f"{script.name} sets BENTOML_HOME"
