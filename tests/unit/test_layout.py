"""The house rules of the layout, read from the code itself (imports parsed with ast, not run):

* pls_core/ is the plain domain package: no BentoML, no runners, no demo, no service;
* nothing that serves, measures or builds (service.py, runners/, pls_core/, loadtests/,
  benchmarks/, scripts/) imports the tests;
* the served code (service.py, runners/) does not import the demo-model generator;
* the bento carries the serving code only: its include list takes in none of demo/, tests/,
  scripts/, loadtests/, benchmarks/.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
import yaml
from pathspec import PathSpec

from tests.support.processes import REPO

OUTSIDE_THE_BENTO = ("demo", "tests", "scripts", "loadtests", "benchmarks")


def python_files(*places: str) -> list[Path]:
    files: list[Path] = []
    for place in places:
        path = REPO / place
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    assert files, f"no Python files in {places}"
    return files


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside functions, as a dotted name."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's own package
                package = path.relative_to(REPO).parent.parts
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    return modules


def module_names_of(folder: str) -> set[str]:
    """`folder` as a package, and the bare names its files can be imported by once a script
    runs from inside the folder (`from convert_ct2 import ...`)."""
    root = REPO / folder
    return {folder} | {path.stem for path in root.rglob("*.py") if path.stem != "__init__"}


def imports_of(files: list[Path], forbidden: set[str]) -> list[str]:
    """'file: module' for each import of a module whose first name is in `forbidden`."""
    return [f"{path.relative_to(REPO)}: {module}"
            for path in files for module in sorted(imported_modules(path))
            if module.split(".")[0] in forbidden]


def test_imports_are_found_wherever_they_are_written(tmp_path):
    # The parser the rules below rely on: top level, aliases, from-imports, inside functions.
    sample = tmp_path / "sample.py"
    sample.write_text("import bentoml as b\nfrom runners.simplifier import Simplifier\n"
                      "def later():\n    from demo import corpus\n    import tests.moto_support\n")
    assert imported_modules(sample) >= {"bentoml", "runners.simplifier", "demo", "demo.corpus",
                                        "tests.moto_support"}


def test_pls_core_is_plain_python_without_the_serving_layers():
    forbidden = {"bentoml", "runners", "demo", "service"}
    assert imports_of(python_files("pls_core"), forbidden) == []


def test_nothing_outside_tests_imports_the_tests():
    files = python_files("service.py", "runners", "pls_core", "loadtests", "benchmarks", "scripts")
    assert imports_of(files, module_names_of("tests")) == []


def test_the_served_code_does_not_import_the_demo_generator():
    assert imports_of(python_files("service.py", "runners"), module_names_of("demo")) == []


def test_the_served_code_imports_only_what_the_bento_carries():
    # service.py, runners/ and pls_core/ run inside the bento: scripts, load tests and tests are not there.
    files = python_files("service.py", "runners", "pls_core")
    forbidden = set().union(*(module_names_of(folder) for folder in OUTSIDE_THE_BENTO))
    assert imports_of(files, forbidden) == []


@pytest.fixture(scope="module")
def bento_include() -> PathSpec:
    # The include list as BentoML reads it: gitignore-style patterns (pathspec's gitwildmatch).
    include = yaml.safe_load((REPO / "bentofile.yaml").read_text())["include"]
    with warnings.catch_warnings():  # pathspec calls the name BentoML 1.4.40 uses deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return PathSpec.from_lines("gitwildmatch", include)


@pytest.mark.parametrize("folder", OUTSIDE_THE_BENTO)
def test_the_bento_include_list_leaves_out(bento_include, folder):
    files = [path.relative_to(REPO).as_posix() for path in (REPO / folder).rglob("*") if path.is_file()]
    assert files, folder
    assert [name for name in files if bento_include.match_file(name)] == []


def test_the_bento_include_list_takes_in_the_serving_code(bento_include):
    for name in ("service.py", "runners/simplifier.py", "runners/classifier.py", "pls_core/chunking.py"):
        assert bento_include.match_file(name), name
