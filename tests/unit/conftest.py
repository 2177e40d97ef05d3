"""The fast tier: no server, no container, no Terraform apply, no demo build.

`scripts/test.sh --fast` runs this folder alone, in minutes. A test here that asks for what
only the full tier has fails with the message below instead of quietly starting it."""

from __future__ import annotations

import pytest

FULL_TIER_ONLY = {
    "demo_models": "the demo build (7-15 minutes)",
    "models_copy": "a copy of the demo build",
    "bento_home": "a BentoML store with the demo models imported",
    "server": "a served model (`bentoml serve`)",
}


def _refuse(name: str) -> None:
    pytest.fail(f"tests/unit/ is the fast tier: a test here may not use `{name}` ({FULL_TIER_ONLY[name]}). "
                "Move it to tests/integration/ (served models, moto, Terraform, the demo build) or "
                "tests/e2e/ (the image, the deploy path, the browser), or use the small fixtures "
                "in tests/fixtures/.", pytrace=False)


@pytest.fixture(scope="session")
def demo_models():
    _refuse("demo_models")


@pytest.fixture
def models_copy():
    _refuse("models_copy")


@pytest.fixture(scope="session")
def bento_home():
    _refuse("bento_home")


@pytest.fixture(scope="session")
def server():
    _refuse("server")
