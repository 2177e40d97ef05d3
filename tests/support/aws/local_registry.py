"""A local container registry standing in for ECR (Debian's `docker-registry`, the CNCF
distribution registry), on 127.0.0.1 over plain HTTP, for the deploy tests' real `push`."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from loadtests.server import free_port
from tests.support.moto import stop_process, wait_for_http

DOCKER_V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("registry")


@contextlib.contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """Run the registry with its storage under `workdir`; yield its `host:port`."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    with open(workdir / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v2/", timeout_s=30, proc=proc)
            yield f"127.0.0.1:{port}"
        finally:
            stop_process(proc)


def registry_tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as answer:
        return json.load(answer).get("tags") or []


def registry_manifest(registry: str, repository: str, tag: str) -> tuple[str, str]:
    """The image manifest as pushed (text and media type), as ECR would record it."""
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": DOCKER_V2_MANIFEST})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode(), answer.headers.get("Content-Type", DOCKER_V2_MANIFEST)
