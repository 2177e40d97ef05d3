"""One real `scripts/deploy/deploy.sh --backend buildah build` per test session (a pytest plugin).

tests/e2e/test_container.py runs its smoke checks on the image this build made and scans it for
key material, and tests/e2e/test_deploy.py pushes and deploys it: the image is containerized
once, by the deploy path users run. API keys lie in the build's environment (PLS_API_KEYS, and
a key file PLS_API_KEYS_FILE names), as on a machine that also runs the service: the scan looks
for them in the image. The build is the README's path for a new user: the models are imported into
BentoML's default store (no BENTOML_HOME; HOME is a fresh folder), then `deploy.sh build`
runs with the same environment, with TMPDIR inside a hidden folder (.work/containers/tmp,
as scripts/container/env.sh sets it), which BentoML 1.4.40's containerize refuses unless
deploy.py works around it.

Two things differ from a user's machine, because nothing outside can be reached here: the
base image is a local one and torch's CPU wheel comes from a local folder
(scripts/container/local_bentofile.py writes that copy of bentofile.yaml, passed with
--bentofile). buildah/podman are installed with apt under CI=true (as root); elsewhere the
tests that need the image skip, saying why, when they are missing or cannot run.

The build starts in a background thread as soon as the tests are collected (when one needs the
image and the demo models are built): it runs while the fast and integration tiers do, and the
first test that needs the image waits for it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINER_TOOLS = ("buildah", "podman", "runc", "debootstrap", "iptables", "curl")
APT_PACKAGES = ("buildah", "podman", "debootstrap", "runc", "iptables", "curl", "docker-registry")
BUILD_TIMEOUT_S = 3000
PLANTED_KEY = "bento-leak-check-6f1d2c9a8b7e"
PLANTED_FILE_KEY = "bento-leak-check-from-file-0d9e8f7a"


@dataclass
class BuiltImage:
    version: str           # bento version = image tag
    image: str             # the image in the local container storage
    env: dict[str, str]    # HOME with the default store, container tool settings, no BENTOML_HOME
    home: Path
    build_output: str
    build_seconds: float
    planted_secrets: set[bytes]  # keys that were in the build's environment, to be found nowhere in the image


def _cannot_build(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the image must build here)")
    pytest.skip(reason)


def _install_tools_in_ci() -> None:
    """Under CI=true (as root, with apt) install what is missing, the stand-in registry of the
    deploy test included; elsewhere skip when the container tools themselves are missing."""
    missing = [tool for tool in CONTAINER_TOOLS if shutil.which(tool, path=_path_with_sbin()) is None]
    registry_missing = shutil.which("docker-registry") is None
    if not missing and not registry_missing:
        return
    if os.environ.get("CI") == "true" and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *APT_PACKAGES]):
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        return
    if missing:
        _cannot_build(f"missing tools: {', '.join(missing)} (apt-get install -y {' '.join(APT_PACKAGES)})")


def _path_with_sbin() -> str:
    return os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"


def container_env() -> dict[str, str]:
    """The environment scripts/container/env.sh sets up (storage, runtime, buildah settings)."""
    result = subprocess.run(["bash", "-c", 'source scripts/container/env.sh && env -0'], cwd=REPO,
                            capture_output=True, text=True, check=True)
    env = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    env["PATH"] = _path_with_sbin()
    return env


def _run(argv: list[str], env: dict[str, str], what: str, timeout: float = 900) -> str:
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{output[-6000:]}"
    return output


def build_image(tmp_path_factory: pytest.TempPathFactory, demo_models: Path) -> BuiltImage:
    """The base image, the models in a fresh default store, `deploy.sh build`: the image, or a
    skip/fail saying why it cannot be built here."""
    _install_tools_in_ci()
    env = container_env()
    for tool in ("podman", "buildah"):
        probe = subprocess.run([tool, "info"], env=env, capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            _cannot_build(f"{tool} cannot run here: {(probe.stderr or probe.stdout).strip()[-500:]}")

    _run([str(REPO / "scripts/container/make_base_image.sh")], env, "making the local base image", timeout=1200)
    local_bentofile = Path(env["PLS_CONTAINER_WORKDIR"]) / "bentofile.deploy.yaml"
    # (pip's own configuration, which names the local wheel folder, lives in the real HOME)
    _run([sys.executable, str(REPO / "scripts/container/local_bentofile.py"), "--base-image", env["PLS_BASE_IMAGE"],
          "--out", str(local_bentofile)], env, "writing the local bentofile")

    # A new user's machine: BentoML's default store under HOME, no BENTOML_HOME anywhere.
    home = tmp_path_factory.mktemp("home")
    env = {key: value for key, value in env.items() if key != "BENTOML_HOME"}
    env.update({"HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "PYTHON": sys.executable})
    key_file = tmp_path_factory.mktemp("keys") / "keys"
    key_file.write_text(f"{PLANTED_FILE_KEY}\n")
    env.update({"PLS_API_KEYS": PLANTED_KEY, "PLS_API_KEYS_FILE": str(key_file)})
    _run([sys.executable, str(REPO / "scripts/models/import_models.py"), "--models-dir", str(demo_models)], env,
         "importing the models into the default store")
    assert (home / "bentoml" / "models").is_dir(), "import_models.py did not use BentoML's default store"

    started = time.monotonic()
    output = _run(["bash", str(REPO / "scripts/deploy/deploy.sh"), "--backend", "buildah",
                   "--bentofile", str(local_bentofile),
                   "build"], env, "scripts/deploy/deploy.sh --backend buildah build", timeout=BUILD_TIMEOUT_S)
    build_seconds = time.monotonic() - started
    match = re.search(r"^# built image ([^:\s]+):(\S+)$", output, re.MULTILINE)
    assert match, f"deploy.sh build named no image:\n{output[-4000:]}"
    version = match.group(2)
    image = f"localhost/{match.group(1)}:{version}"
    exists = subprocess.run(["podman", "image", "exists", image], env=env)
    assert exists.returncode == 0, f"{image} is not in the local container storage"
    # vfs keeps every image in full (~2 GB each): keep only this build's image of the service.
    listed = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=env,
                            capture_output=True, text=True).stdout.split()
    stale = [name for name in listed if name.startswith(f"localhost/{match.group(1)}:") and name != image]
    if stale:
        subprocess.run(["podman", "rmi", "-f", *stale], env=env, capture_output=True)
    return BuiltImage(version=version, image=image, env=env, home=home, build_output=output,
                      build_seconds=build_seconds, planted_secrets={PLANTED_KEY.encode(), PLANTED_FILE_KEY.encode()})


# Work on the built image that may run in the build's background thread, right after it: by the
# name of the test that waits for its result (registered by that test's module at import).
AfterBuild = Callable[[BuiltImage, Path], object]
_AFTER_BUILD: dict[str, AfterBuild] = {}


def after_the_image_build(test_name: str) -> Callable[[AfterBuild], AfterBuild]:
    """Register `job(built, tmp_path)` to run after the background build when `test_name` is
    selected; that test gets its result (or its exception) from `after_build_result`."""
    def register(job: AfterBuild) -> AfterBuild:
        _AFTER_BUILD[test_name] = job
        return job
    return register


class _Outcome:
    def __init__(self) -> None:
        self.result: object = None
        self.error: BaseException | None = None

    def run(self, work: Callable[[], object]) -> None:
        try:
            self.result = work()
        except BaseException as error:  # a skip or a failure too: the test that waits re-raises it
            self.error = error

    def value(self):
        if self.error is not None:
            raise self.error
        return self.result


class _BackgroundBuild:
    """The session's build, started once the tests are known and waited for by the first test
    that needs the image, then the registered work on the image: all of it runs while the fast
    and integration tiers do."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, models: Path, jobs: dict[str, AfterBuild]) -> None:
        self.build = _Outcome()
        self.jobs = {job: _Outcome() for job in jobs.values()}
        self.built = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(tmp_path_factory, models),
                                       name="image-build", daemon=True)
        self.thread.start()

    def _run(self, tmp_path_factory: pytest.TempPathFactory, models: Path) -> None:
        self.build.run(lambda: build_image(tmp_path_factory, models))
        self.built.set()
        for job, outcome in self.jobs.items():
            if self.build.error is not None:
                outcome.error = self.build.error
                continue
            outcome.run(lambda job=job: job(self.build.result, tmp_path_factory.mktemp(job.__name__)))

    def wait(self) -> BuiltImage:
        self.built.wait()
        return self.build.value()

    def job_result(self, job: AfterBuild):
        self.thread.join()
        return self.jobs[job].value()


_background: _BackgroundBuild | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _background
    if session.config.option.collectonly or _background is not None:
        return
    if not any("deploy_built_image" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    # The demo models first, in the foreground, as the `demo_models` fixture makes them (a no-op
    # when the test command already has): the build imports them.
    models = REPO / "models"
    made = subprocess.run([sys.executable, str(REPO / "scripts/models/make_demo_models.py"), "--out", str(models)],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)
    if made.returncode != 0:
        return  # the `demo_models` fixture reports it
    selected = {item.name for item in session.items}
    jobs = {name: job for name, job in _AFTER_BUILD.items() if name in selected}
    _background = _BackgroundBuild(session.config._tmp_path_factory, models, jobs)


@pytest.fixture(scope="session")
def deploy_built_image(tmp_path_factory: pytest.TempPathFactory, demo_models: Path) -> BuiltImage:
    if _background is not None:
        return _background.wait()
    return build_image(tmp_path_factory, demo_models)


def after_build_result(job: AfterBuild, built: BuiltImage, tmp_path: Path):
    """What `job` returned: from the background thread when it ran there, else run here now."""
    if _background is not None and job in _background.jobs:
        return _background.job_result(job)
    return job(built, tmp_path)
