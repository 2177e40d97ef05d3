"""A local container registry standing in for an ECR endpoint (Debian's `docker-registry`, the CNCF
distribution registry) on 127.0.0.1, for the deploy tests' real `push`.

It serves HTTPS with a certificate of its own, as a private registry does: the deploy CLI pushes
to it with `--registry`, and the container tools trust it the way a user trusts such a registry,
its CA certificate in their certs.d folder (`trust`)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadtests.server import free_port
from tests.support.moto import stop_process

DOCKER_V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass(frozen=True)
class LocalRegistry:
    address: str     # host:port, what --registry takes
    ca_file: Path    # the certificate it serves, self-signed: its own CA

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("registry")


def _self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for the IP address `host` and its key, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"local registry {host}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "registry.crt", directory / "registry.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _wait_until_serving(registry: LocalRegistry, proc: subprocess.Popen, timeout_s: float) -> None:
    url = f"https://{registry.address}/v2/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2, context=registry.context())
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def local_registry(workdir: Path) -> Iterator[LocalRegistry]:
    """Run the registry with its storage and certificate under `workdir`."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    host, port = "127.0.0.1", free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = _self_signed_certificate(workdir, host)
    config = workdir / "config.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"{host}:{port}", "tls": {"certificate": str(cert_file), "key": str(key_file)}},
    }))
    registry = LocalRegistry(f"{host}:{port}", cert_file)
    with open(workdir / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(registry, proc, timeout_s=30)
            yield registry
        finally:
            stop_process(proc)


def trust(registry: LocalRegistry, home: Path) -> None:
    """What a user does for a registry with a certificate of its own: put its CA where buildah
    and podman look for that host's certificates (~/.config/containers/certs.d/<host:port>/)."""
    certs = home / ".config" / "containers" / "certs.d" / registry.address
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry.ca_file, certs / "ca.crt")


def registry_tags(registry: LocalRegistry, repository: str) -> list[str]:
    with urllib.request.urlopen(f"https://{registry.address}/v2/{repository}/tags/list", timeout=10,
                                context=registry.context()) as answer:
        return json.load(answer).get("tags") or []


def registry_manifest(registry: LocalRegistry, repository: str, tag: str) -> tuple[str, str]:
    """The image manifest as pushed (text and media type), as ECR would record it."""
    request = urllib.request.Request(f"https://{registry.address}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": DOCKER_V2_MANIFEST})
    with urllib.request.urlopen(request, timeout=10, context=registry.context()) as answer:
        return answer.read().decode(), answer.headers.get("Content-Type", DOCKER_V2_MANIFEST)
