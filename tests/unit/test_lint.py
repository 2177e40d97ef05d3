"""Code is read more than written: ruff, with the rules pyproject.toml chooses, finds nothing
anywhere in the tree, and the tests keep to their own house rule (helpers live in
tests/support/, never in another test module)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO


def test_ruff_finds_nothing_in_the_tree() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (requirements-dev.txt)")
    result = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", str(REPO)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _test_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if name.startswith("tests.") or name == "tests"]
    return found


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for name in _test_imports(path):
            if name == "tests" or not name.startswith("tests.support"):
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders, "shared helpers belong in tests/support/:\n" + "\n".join(offenders)


def test_the_tiers_are_folders_and_each_holds_tests() -> None:
    for tier in ("unit", "integration", "e2e"):
        assert list((REPO / "tests" / tier).glob("test_*.py")), f"tests/{tier}/ holds no test module"
    stray = sorted(p.name for p in (REPO / "tests").glob("test_*.py"))
    assert not stray, f"test modules outside a tier folder: {stray}"


@pytest.mark.parametrize("fixture", ["demo_models", "bento_home", "server", "models_copy"])
def test_a_fast_tier_test_that_asks_for_the_full_tier_fails_saying_where_it_belongs(tmp_path: Path,
                                                                                     fixture: str) -> None:
    """The rule of tests/unit/conftest.py, run on a test of its own in a copy of that folder."""
    shutil.copy(REPO / "tests" / "unit" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_asks.py").write_text(f"def test_asks({fixture}):\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"tests/unit/ is the fast tier: a test here may not use `{fixture}`" in output
    assert "Move it to tests/integration/" in output
