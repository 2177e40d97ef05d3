"""A real DVC round trip against S3 emulated by a moto server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import boto3
import pytest
import yaml

from tests.support.moto import FAKE_CREDENTIALS, free_port, moto_server
from tests.support.processes import BIN, PYTHON, REPO, run

pytestmark = pytest.mark.timeout(600)

BUCKET = "pls-test-models"
PREFIX = "dvc"
PROJECT_FILES = ["dvc.yaml", ".dvc/config", ".dvc/.gitignore", ".dvcignore", "scripts", "pls_core", "demo", "data"]


def dvc(project: Path, *args: str, **kwargs):
    return run([BIN / "dvc", *args], cwd=project, env=project_env(project), **kwargs)


def project_env(project: Path) -> dict[str, str]:
    return {**os.environ, **FAKE_CREDENTIALS, "BENTOML_HOME": str(project / "bentoml_home"),
            "PYTHON": PYTHON, "DVC": str(BIN / "dvc"), "BENTOML_DO_NOT_TRACK": "true"}



def file_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def stored_models(project: Path) -> list[str]:
    result = run([BIN / "bentoml", "models", "list", "-o", "json"], env=project_env(project))
    assert result.returncode == 0, result.stderr
    return sorted(item["tag"] for item in json.loads(result.stdout or "[]"))


def pull(project: Path):
    return run(["bash", "scripts/models/pull_models.sh"], cwd=project, env=project_env(project), timeout=300)


@pytest.fixture
def project(tmp_path: Path, models_copy: Path) -> Path:
    """A git + DVC project with this repo's DVC config, stage and scripts, models committed."""
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    shutil.move(str(models_copy), project / "models")
    assert run(["git", "init", "-q"], cwd=project).returncode == 0
    result = dvc(project, "commit", "--force", "demo_models")
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def point_remote_at(project: Path, endpoint: str) -> None:
    for args in (("url", f"s3://{BUCKET}/{PREFIX}"), ("endpointurl", endpoint)):
        result = dvc(project, "remote", "modify", "--local", "models", *args)
        assert result.returncode == 0, result.stderr


def wipe_workspace_and_cache(project: Path) -> None:
    shutil.rmtree(project / "models" / "t5_base")
    shutil.rmtree(project / "models" / "baseline_classifier")
    shutil.rmtree(project / ".dvc" / "cache")


@pytest.fixture
def s3() -> str:
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_boto_creds()).create_bucket(Bucket=BUCKET)
        yield endpoint


def _boto_creds() -> dict[str, str]:
    return {"aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}


def test_push_then_pull_into_a_clean_workspace_restores_and_imports_the_models(project, s3):
    original = {name: file_hashes(project / "models" / name) for name in ("t5_base", "baseline_classifier")}
    point_remote_at(project, s3)
    pushed = dvc(project, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    wipe_workspace_and_cache(project)
    result = pull(project)
    assert result.returncode == 0, result.stdout + result.stderr

    for name, hashes in original.items():
        assert file_hashes(project / "models" / name) == hashes
    tags = stored_models(project)
    assert [tag.split(":")[0] for tag in tags] == ["pls-classifier", "pls-simplifier"]

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    md5s = {out["path"]: out["md5"] for out in lock["stages"]["demo_models"]["outs"]}
    for tag in tags:
        info = _model_info(tag, project)
        folder = "t5_base" if tag.startswith("pls-simplifier") else "baseline_classifier"
        assert info["labels"]["source"] == "dvc"
        assert info["labels"]["dvc_md5"] == md5s[f"models/{folder}"]
        assert info["metadata"]["files_sha256"] == original[folder]


def _model_info(tag: str, project: Path) -> dict:
    result = run([BIN / "bentoml", "models", "get", tag, "-o", "json"], env=project_env(project))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_corrupted_blob_in_the_remote_fails_the_pull_and_imports_nothing(project, s3):
    point_remote_at(project, s3)
    assert dvc(project, "push").returncode == 0
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1", **_boto_creds())
    objects = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    # Corrupt the largest file blob (the T5 weights), keeping its key: only a re-hash can tell.
    victim = max((o for o in objects if not o["Key"].endswith(".dir")), key=lambda o: o["Size"])
    client.put_object(Bucket=BUCKET, Key=victim["Key"], Body=b"corrupted" * 100)

    wipe_workspace_and_cache(project)
    result = pull(project)
    assert result.returncode != 0
    output = (result.stdout + result.stderr).lower()
    assert "nothing was imported" in output
    assert "checksum" in output or "corrupt" in output or "hash" in output, output[-2000:]
    assert stored_models(project) == []
    weights = project / "models" / "t5_base" / "model.safetensors"
    assert not weights.exists() or weights.read_bytes()[:9] != b"corrupted"


def test_an_unreachable_remote_fails_within_seconds_with_a_clear_error(project):
    point_remote_at(project, f"http://127.0.0.1:{free_port()}")
    wipe_workspace_and_cache(project)
    started = time.monotonic()
    result = pull(project)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "nothing was imported" in result.stderr
    assert elapsed < 30, f"took {elapsed:.0f}s"
    assert stored_models(project) == []
