"""The bento as bentofile.yaml describes it, read without building: the pins the image installs,
what it carries and leaves out, its settings and health check, the offline build's copy, and
the scripts' syntax. The image itself is built and run by tests/e2e/test_container.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import hcl2
import pytest
import yaml

from pls_core.config import SETTINGS, load_config
from pls_core.model_layout import CLASSIFIER_MODEL_NAME, SIMPLIFIER_MODEL_NAME
from tests.support.image_scan import AWS_KEY_ID, PRIVATE_KEY, secret_values
from tests.support.processes import REPO
from tests.support.service_contract import HEALTH_PATH, LIVENESS_PATH, SERVICE_PORT

BENTOFILE = REPO / "bentofile.yaml"

# BentoML's include/exclude matcher uses pathspec's deprecated "gitwildmatch" name.
pytestmark = pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")

# In requirements.txt but not in the image: they fetch models at build time (dvc) only.
BUILD_ONLY = {"dvc", "dvc-s3", "aiobotocore"}

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _PIN.match(line)
        assert m, f"not an exact pin: {line!r}"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


@pytest.fixture(scope="module")
def bentofile() -> dict:
    return yaml.safe_load(BENTOFILE.read_text())


# --- fast: bentofile.yaml --------------------------------------------------------------------

def test_bentoml_accepts_the_bentofile():
    from bentoml._internal.bento.build_config import BentoBuildConfig

    with BENTOFILE.open() as f:
        config = BentoBuildConfig.from_yaml(f)
    assert config.service == "service:PLSService"
    assert config.name == "pls-service"


def _bento_python_env(bentofile_path: Path, build_ctx: Path, out: Path) -> tuple[dict[str, str], list[str]]:
    """What BentoML writes into a bento for this bentofile: the pins of env/python/requirements.txt
    and the arguments install.sh gives the installer (BentoML's own code, no build)."""
    from bentoml._internal.bento.build_config import BentoBuildConfig

    with bentofile_path.open() as f:
        python = BentoBuildConfig.from_yaml(f).python
    with contextlib.chdir(build_ctx):  # `bentoml build` runs there; BentoML refuses files outside it
        python.write_to_bento(out, str(build_ctx))
    install = (out / "env/python/install.sh").read_text()
    args = shlex.split(re.search(r"^PIP_ARGS=\((.*)\)$", install, re.MULTILINE).group(1))
    return _pins((out / "env/python/requirements.txt").read_text().splitlines()), args


def test_the_image_installs_the_pins_pip_installs(tmp_path, bentofile):
    """One file of runtime pins: the bento's requirements are requirements.txt's, as BentoML
    writes them, and bentofile.yaml repeats none of them."""
    assert bentofile["python"]["requirements_txt"] == "requirements.txt"
    assert "packages" not in bentofile["python"], "BentoML ignores `packages` next to `requirements_txt`"
    serving = _pins((REPO / "requirements.txt").read_text().splitlines())
    image, _ = _bento_python_env(BENTOFILE, REPO, tmp_path)
    assert image == serving
    assert {"torch", "bentoml", "transformers", "ctranslate2"} <= serving.keys()


def test_build_and_test_tools_stay_out_of_the_image():
    serving = _pins((REPO / "requirements.txt").read_text().splitlines())
    dev_lines = (REPO / "requirements-dev.txt").read_text().splitlines()
    dev = _pins(dev_lines)
    assert "-r requirements.txt" in [line.strip() for line in dev_lines], \
        "requirements-dev.txt builds on requirements.txt"
    assert dev.keys() >= BUILD_ONLY, "the tools to pull models and deploy are in requirements-dev.txt"
    assert not (BUILD_ONLY | {"pytest", "moto", "boto3", "uv"}) & serving.keys(), "a build or test tool in the image"
    assert not serving.keys() & dev.keys(), f"pinned twice: {sorted(serving.keys() & dev.keys())}"


def test_torch_comes_from_the_pytorch_cpu_index(bentofile):
    python = bentofile["python"]
    assert "https://download.pytorch.org/whl/cpu" in python["extra_index_url"]
    # uv must be allowed to take numpy & co. from PyPI although the PyTorch index lists them.
    assert "--index-strategy unsafe-best-match" in python.get("pip_args", "")


def _fake_wheel(folder: Path, version: str, tag: str = "py3-none-any") -> str:
    """An empty wheel of torch `version`: enough for an installer to resolve, never installed."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"torch-{version}-{tag}.whl"
    info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(folder / name, "w") as wheel:
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
        wheel.writestr(f"{info}/RECORD", "")
    return name


def _simple_index(root: Path, version: str) -> str:
    """A one-package PEP 503 index holding torch `version`; returns its file:// URL."""
    wheel = _fake_wheel(root / "files", version)
    (root / "simple" / "torch").mkdir(parents=True)
    (root / "simple" / "torch" / "index.html").write_text(f'<a href="../../files/{wheel}">{wheel}</a>')
    return (root / "simple").as_uri()


def _image_uv() -> str:
    """uv from this environment, checked to be the version BentoML's Dockerfile installs."""
    import bentoml

    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is not installed (requirements-dev.txt)"
    macros = Path(bentoml.__file__).parent / "_internal/container/frontend/dockerfile/templates/_macros.j2"
    image_version = re.search(r"uv==([0-9.]+)", macros.read_text()).group(1)
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    assert version == image_version, f"uv {version} here, {image_version} in the image: pin uv=={image_version}"
    return uv


def _resolve_torch(uv: str, requirements: dict[str, str], args: list[str], work: Path) -> str:
    (work / "in.txt").write_text(f"torch=={requirements['torch']}\n")
    # For the image's platform: Python 3.11 on Linux x86_64.
    result = subprocess.run([uv, "pip", "compile", str(work / "in.txt"), *args, "--python-version", "3.11",
                             "--python-platform", "x86_64-manylinux_2_28",
                             "--no-header", "--no-annotate", "--no-cache"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return re.search(r"^torch==(\S+)$", result.stdout, re.MULTILINE).group(1)


def test_the_image_installer_takes_torchs_cpu_build(tmp_path, bentofile):
    """requirements.txt pins torch without its build label (so pip works on every platform);
    with the bento's installer arguments, uv takes the PyTorch CPU index's `+cpu` build over
    PyPI's, which pulls ~3 GB of CUDA. Both indexes are stood in for by local ones."""
    uv = _image_uv()
    requirements, args = _bento_python_env(BENTOFILE, REPO, tmp_path / "bento")
    version = requirements["torch"].split("+")[0]
    pypi = _simple_index(tmp_path / "pypi", version)  # PyPI's (CUDA) build of the same version
    cpu = _simple_index(tmp_path / "cpu", f"{version}+cpu")
    args = [cpu if "download.pytorch.org/whl/cpu" in arg else arg for arg in args]
    assert cpu in args, f"the bento's installer does not use the PyTorch CPU index: {args}"
    assert _resolve_torch(uv, requirements, ["--index-url", pypi, *args], tmp_path) == f"{version}+cpu"
    # The same resolution without the bento's arguments takes PyPI's build: the check can fail.
    assert _resolve_torch(uv, requirements, ["--index-url", pypi], tmp_path) == version


def test_bento_carries_both_models(bentofile):
    assert bentofile["models"] == [f"{SIMPLIFIER_MODEL_NAME}:latest", f"{CLASSIFIER_MODEL_NAME}:latest"]
    assert bentofile["labels"]["simplifier_model"] == SIMPLIFIER_MODEL_NAME
    assert bentofile["labels"]["classifier_model"] == CLASSIFIER_MODEL_NAME


@pytest.mark.parametrize("path", [
    "tests/test_service.py", "tests/aws/conftest.py", "terraform/main.tf", ".venv/lib/x.py",
    ".venv-checkov/bin/checkov", "data/raw/corpus.csv", ".dvc/cache/files/md5/ab/cd", "models/t5_base/config.json",
    "scripts/models/import_models.py", ".work/containers/storage.conf", ".bentoml/models/x/model.yaml",
    "build/container-wheels/torch.whl", "pls_core/__pycache__/config.cpython-311.pyc",
    "requirements.txt", "dvc.yaml", "README.md", "loadtests/locustfile.py", "tests/pls_core/x.py",
])
def test_bento_leaves_out(bentofile, path, tmp_path):
    from bentoml._internal.bento.build_config import BentoPathSpec

    # The patterns alone: with the repository as its context the spec walks the whole tree for
    # .bentoignore files (there are none), .work/'s container storage included, which a build
    # running beside the tests changes under it.
    spec = BentoPathSpec(bentofile["include"], bentofile["exclude"], str(tmp_path))
    assert not spec.includes(path)


def test_bento_holds_the_serving_code(bentofile, tmp_path):
    from bentoml._internal.bento.build_config import BentoPathSpec

    spec = BentoPathSpec(bentofile["include"], bentofile["exclude"], str(tmp_path))
    code = ["service.py"] + [p.relative_to(REPO).as_posix()
                             for folder in ("runners", "pls_core") for p in (REPO / folder).glob("*.py")]
    assert len(code) > 3
    assert not list(REPO.glob("*.bentoignore")) and not any(REPO.glob("*/.bentoignore"))  # patterns are all there is
    for path in code:
        assert spec.includes(path), path


def test_docker_env_sets_real_settings_with_valid_values(bentofile):
    env = bentofile["docker"]["env"]
    known = {setting.env for setting in SETTINGS.values()}
    pls = {name: value for name, value in env.items() if name.startswith("PLS_")}
    assert pls, "no PLS_* defaults for the Fargate task"
    assert set(pls) <= known, f"not settings in pls_core/config.py: {sorted(set(pls) - known)}"
    config = load_config(pls)  # raises on a value the service would refuse
    # One process per service on a 2 vCPU / 4 GB task: one copy of each model in memory.
    assert (config.api_workers, config.simplifier_workers, config.classifier_workers) == (1, 1, 1)
    assert config.device == "cpu"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        assert int(env[name]) <= 2
    assert env["HF_HUB_OFFLINE"] == "1", "the image must never download models at start"


def test_image_is_python_311_with_a_liveness_health_check(bentofile):
    docker = bentofile["docker"]
    assert "3.11" in docker["base_image"]
    template = (REPO / docker["dockerfile_template"]).read_text()
    assert "{% extends bento_base_template %}" in template
    assert "{{ super() }}" in template
    healthcheck = next(line for line in template.splitlines() if "HEALTHCHECK" in line)
    assert healthcheck
    # The container check asks whether the process answers, not whether it is ready (the ALB's
    # question): a busy or restarting task must not be killed for it.
    assert f"127.0.0.1:{SERVICE_PORT}{LIVENESS_PATH}" in template
    assert HEALTH_PATH not in template.split("#}")[-1]


def test_the_image_restarts_a_dead_worker_instead_of_stopping():
    """BentoML's base Dockerfile sets BENTOML_CONTAINERIZED, which turns its process manager's
    restart of a dead worker off (the server shuts down); the image's entrypoint drops it."""
    template = (REPO / "scripts/container/Dockerfile.template").read_text()
    entrypoints = re.findall(r"^ENTRYPOINT (.+)$", template, re.MULTILINE)
    assert entrypoints == ['["env", "-u", "BENTOML_CONTAINERIZED", "{{ bento__entrypoint }}"]']


@pytest.fixture
def local_build(tmp_path) -> tuple[Path, Path]:
    """A build context with the project's bentofile and requirements, and the local bentofile
    scripts/container/local_bentofile.py writes for it from a folder holding torch's CPU wheel."""
    version = _pins((REPO / "requirements.txt").read_text().splitlines())["torch"]
    wheel_dir = tmp_path / "wheels"
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    _fake_wheel(wheel_dir, f"{version}+cpu", f"{py}-{py}-manylinux_2_28_x86_64")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for name in ("bentofile.yaml", "requirements.txt"):
        shutil.copy(REPO / name, ctx / name)
    out = tmp_path / "local.yaml"
    subprocess.run([sys.executable, str(REPO / "scripts/container/local_bentofile.py"), "--build-ctx", str(ctx),
                    "--base-image", "localhost/base:test", "--out", str(out), "--wheel-dir", str(wheel_dir)],
                   check=True, capture_output=True, text=True)
    return ctx, out


def test_local_bentofile_changes_only_where_packages_come_from(local_build):
    ctx, out = local_build
    local = yaml.safe_load(out.read_text())
    assert local["docker"].pop("base_image") == "localhost/base:test"
    wheel = local["python"].pop("wheels")[0]
    assert (ctx / wheel).is_file() and not Path(wheel).is_absolute()
    assert "+cpu" in Path(wheel).name
    assert local["python"].pop("find_links")
    assert "extra_index_url" not in local["python"]
    production = yaml.safe_load(BENTOFILE.read_text())
    production["docker"].pop("base_image")
    production["python"].pop("extra_index_url")
    assert local == production


def test_the_offline_build_installs_torchs_cpu_wheel_too(local_build, tmp_path):
    """The local build's bento: the same pins, and uv takes the carried `+cpu` wheel over PyPI's."""
    ctx, out = local_build
    uv = _image_uv()
    requirements, args = _bento_python_env(out, ctx, tmp_path / "bento")
    assert requirements == _pins((REPO / "requirements.txt").read_text().splitlines())
    version = requirements["torch"]
    wheels = tmp_path / "bento" / "env/python/wheels"
    assert [p.name for p in wheels.glob(f"torch-{version}+cpu-*.whl")], "the bento carries no torch CPU wheel"
    # The bento's wheels folder, where the image has it, is this one here.
    args = [str(wheels) if arg.endswith("/env/python/wheels") else arg for arg in args]
    pypi = _simple_index(tmp_path / "pypi", version)
    assert _resolve_torch(uv, requirements, ["--index-url", pypi, *args], tmp_path) == f"{version}+cpu"


def test_smoke_script_is_valid_bash():
    for script in [*sorted((REPO / "scripts" / "container").glob("*.sh"))]:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert os.access(script, os.X_OK), f"{script} is not executable"


# --- slow: build, containerize, run ----------------------------------------------------------

def _terraform_variable_default(name: str):
    for path in sorted((REPO / "terraform").glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("variable", []):
                if name in block:
                    return block[name]["default"]
    raise KeyError(name)


def test_image_keeps_idle_connections_longer_than_the_alb():
    """The image's default command sets the keep-alive an ALB in front needs (the task
    definition passes its own, checked against alb_idle_timeout by Terraform)."""
    template = (REPO / "scripts/container/Dockerfile.template").read_text()
    match = re.search(r'^CMD \["serve", "--timeout-keep-alive", "(\d+)"\]$', template, re.MULTILINE)
    assert match, "the Dockerfile template sets no keep-alive for `bentoml serve`"
    assert int(match.group(1)) > _terraform_variable_default("alb_idle_timeout")
    assert int(match.group(1)) == _terraform_variable_default("server_keep_alive_timeout")


def test_secret_values_are_taken_from_secret_names_only():
    key = "k" * 24
    env = {"PLS_API_KEYS": key, "AWS_SECRET_ACCESS_KEY": "s" * 40, "PLS_GENERATION_TOKEN_BUDGET": "1" * 20,
           "AWS_SESSION_TOKEN": "short", "HOME": "/home/someone/with/a/long/path"}
    assert secret_values(env) == {key.encode(), b"s" * 40}
    assert PRIVATE_KEY.search(b"x\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
    assert AWS_KEY_ID.search(b"id=AKIA0123456789ABCDEF;") and not AWS_KEY_ID.search(b"AKIA0123")
