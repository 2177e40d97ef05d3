"""Shared by every tier: the test budget, and the session's demo models, BentoML store and
shared `bentoml serve` (which the fast tier, tests/unit/, may not ask for: see its conftest)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from loadtests.server import bentoml_serve
from tests.support import terraform as tf
from tests.support.budget import BUDGETS
from tests.support.page_host import PageHost
from tests.support.page_host import page_host as serve_pages
from tests.support.processes import PYTHON, REPO, import_env, run
from tests.support.shared_server import ALLOWED_ORIGIN, FAULTY_SERVICE, SERVER_KEEP_ALIVE_S

# Fixtures of their own modules: the session's image build, the deploy CLI's recording tools.
pytest_plugins = ["tests.support.image_build", "tests.support.deploy"]

# Property-based tests draw this many examples per test: enough for every commit by default,
# five to ten times as many with --budget=full (a nightly or release run).
for _name, _budget in BUDGETS.items():
    settings.register_profile(_name, max_examples=_budget.hypothesis_examples, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--budget", choices=sorted(BUDGETS), default=os.environ.get("PLS_TEST_BUDGET", "default"),
                     help="how many generated cases the property and fuzz tests try: 'default' for every "
                          "run, 'full' for a nightly or release run (also PLS_TEST_BUDGET)")


def pytest_configure(config: pytest.Config) -> None:
    budget = config.getoption("--budget")
    if budget not in BUDGETS:  # PLS_TEST_BUDGET is not checked by the option's choices
        raise pytest.UsageError(f"budget {budget!r} (PLS_TEST_BUDGET) is not one of {', '.join(sorted(BUDGETS))}")
    settings.load_profile(budget)


TIER_ORDER = {"unit": 0, "integration": 1, "e2e": 2}
SERVED = {"server", "keyed_server", "bento_home"}  # bento_home: the worker-kill test serves its own


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fast tier first (a mistake shows in a minute), the image and the deploy path last.
    Within a tier, modules that serve a model come after the others: the image build runs
    in the background meanwhile (tests/support/image_build.py), and timing checks of a server
    are better off without it."""
    tests = Path(__file__).resolve().parent
    served_modules = {item.path for item in items if SERVED & set(getattr(item, "fixturenames", ()))}
    items.sort(key=lambda item: (TIER_ORDER.get(item.path.relative_to(tests).parts[0], 1),
                                 item.path in served_modules))


@pytest.fixture(scope="session")
def budget(request: pytest.FixtureRequest):
    """The generated-case budget of this run (tests/support/budget.py)."""
    return BUDGETS[request.config.getoption("--budget")]


@pytest.fixture(scope="session")
def demo_models() -> Path:
    """The full demo models in models/: built once here if the test command has not yet."""
    result = run([PYTHON, "scripts/models/make_demo_models.py", "--out", "models"], timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return REPO / "models"


@pytest.fixture
def models_copy(demo_models: Path, tmp_path: Path) -> Path:
    """A private copy of the demo model folders that a test may change."""
    target = tmp_path / "models"
    for name in ("t5_base", "baseline_classifier"):
        shutil.copytree(demo_models / name, target / name)
    return target


@pytest.fixture(scope="session")
def bento_home(tmp_path_factory: pytest.TempPathFactory, demo_models: Path) -> Path:
    """A BentoML store holding the imported demo models, private to this test session."""
    home = tmp_path_factory.mktemp("bentoml_home")
    result = run([PYTHON, "scripts/models/import_models.py", "--models-dir", demo_models], env=import_env(home))
    assert result.returncode == 0, result.stdout + result.stderr
    return home


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    return tf.terraform_binary()


@pytest.fixture(scope="session")
def initialised_module(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/ (its tests/ included) after an offline `terraform init`."""
    workdir = tf.copy_module(tmp_path_factory.mktemp("tf-module") / "module", with_tests=True)
    tf.terraform_init(terraform_bin, workdir)
    return workdir


@pytest.fixture(scope="session")
def task_command(request: pytest.FixtureRequest) -> list[str] | None:
    """The command the task definition gives the container (terraform/locals.tf), with a keep-alive
    of SERVER_KEEP_ALIVE_S; None where Terraform is missing (outside CI)."""
    if shutil.which("terraform") is None and os.environ.get("CI") != "true":
        return None
    workdir = request.getfixturevalue("initialised_module")
    command, error = tf.console(request.getfixturevalue("terraform_bin"), workdir,
                                "jsonencode(local.container_command)",
                                f"-var=server_keep_alive_timeout={SERVER_KEEP_ALIVE_S}", "-var=alb_idle_timeout=5")
    assert command, f"terraform console could not evaluate local.container_command: {error}"
    assert command[0] == "serve", command  # the image's entrypoint runs `bentoml serve <options> <bento>`
    return command


@pytest.fixture(scope="session")
def page_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageHost]:
    """Another site that hosts the page and that the shared server allows (CORS)."""
    with serve_pages(tmp_path_factory.mktemp("page_host")) as host:
        yield host


@pytest.fixture(scope="session")
def foreign_page_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageHost]:
    """Another site that hosts the page and that no server allows."""
    with serve_pages(tmp_path_factory.mktemp("foreign_page_host")) as host:
        yield host


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "bentoml.log"


@pytest.fixture(scope="session")
def server(bento_home: Path, task_command: list[str] | None, page_host: PageHost, server_log: Path) -> Iterator[str]:
    """The one `bentoml serve` the API, page and fault tests share, started as ECS starts the
    container (the task definition's command). It serves tests/support/fault_service.py: the
    service itself, with a simplifier backend that fails any batch holding the word POISON (as
    a bad input would) and serves every other text unchanged. Browsers may call it from the
    page host's origin and ALLOWED_ORIGIN."""
    command = task_command or ["serve"]
    arguments = (command[0], FAULTY_SERVICE, *command[1:])
    # A generous latency budget: the shared CI machine must not turn slow batches into 503s.
    with bentoml_serve(bento_home, server_log, arguments=arguments, PLS_MAX_LATENCY_MS="120000",
                       PLS_CORS_ORIGINS=f"{page_host.origin},{ALLOWED_ORIGIN}") as url:
        yield url
