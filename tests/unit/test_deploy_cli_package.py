"""The pls_deploy package scripts/deploy/deploy.sh runs: small modules, found as installed, the
same CLI as `python -m pls_deploy`, and no setting that is there for tests."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pls_deploy
from tests.support.deploy import DEPLOY_PACKAGE, clean_env, deploy

MODULE_LINES_LIMIT = 400


def test_the_deploy_cli_is_small_modules_of_the_installed_package() -> None:
    """pls_deploy is imported as the project installs it (no path set up by the test), from this
    tree, and no module of it reaches 400 lines."""
    assert Path(pls_deploy.__file__).resolve().parent == DEPLOY_PACKAGE
    sources = sorted(DEPLOY_PACKAGE.glob("*.py"))
    assert {path.stem for path in sources} >= {"plans", "stack", "image", "ecs", "commands", "cli"}, sources
    too_long = {path.name: lines for path in sources
                if (lines := len(path.read_text().splitlines())) >= MODULE_LINES_LIMIT}
    assert not too_long, f"modules of {MODULE_LINES_LIMIT} lines or more: {too_long}"


@pytest.mark.timeout(60)
def test_python_m_runs_what_deploy_sh_runs(tmp_path: Path) -> None:
    """`python -m pls_deploy` works from any folder (the installed package, not the working
    directory) and is the CLI deploy.sh runs."""
    direct = subprocess.run([sys.executable, "-m", "pls_deploy", "--help"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == deploy(["--help"], clean_env()).stdout


def test_the_deploy_cli_reads_no_test_only_setting() -> None:
    """Tests reach their stand-ins the way users reach theirs (options, AWS_ENDPOINT_URL, the
    container tools' own configuration): no environment variable of the package is for tests."""
    read = set()
    for path in DEPLOY_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+",
                                                                                               node.value):
                read.add(node.value)
    assert not {name for name in read if "TEST" in name}, sorted(read)
