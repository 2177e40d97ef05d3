"""Looking for key material in a container's filesystem: the build environment's secret values
anywhere, private keys and AWS access key ids in the image's own trees."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile

# Names of variables that hold secrets: the service's keys, cloud credentials, passwords.
SECRET_NAME = re.compile(r"API_KEYS?(_FILE)?$|SECRET|PASSWORD|ACCESS_KEY|SESSION_TOKEN|PRIVATE_KEY", re.IGNORECASE)
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----")
AWS_KEY_ID = re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# Where the bento, its user's home and anything a build step leaves behind live. Third-party
# packages (/app/.venv, /usr) ship test certificates and documented example keys: only the
# build machine's own secret values are looked for there.
OWN_TREES = ("home/", "root/", "tmp/", "var/tmp/")
SCANNED_FILE_BYTES = 20_000_000


def secret_values(*environments: dict[str, str]) -> set[bytes]:
    """Values of the build environment's secret-like variables, long enough to be specific."""
    return {value.encode() for env in environments for name, value in env.items()
            if SECRET_NAME.search(name) and len(value) >= 16}


def leaks_in_container(container: str, image: str, env: dict[str, str],
                       secrets: set[bytes]) -> tuple[list[str], list[str]]:
    """What leaks in `image`'s settings and `container`'s files (`podman export`), and the paths of
    the image's own files that were read (proof the scan saw the bento)."""
    leaks, own_files = [], []
    inspect = subprocess.run(["podman", "image", "inspect", image], env=env, capture_output=True, text=True,
                             check=True)
    for entry in json.loads(inspect.stdout)[0]["Config"].get("Env") or []:
        name, _, value = entry.partition("=")
        if SECRET_NAME.search(name) and value:
            leaks.append(f"image environment sets {name}")
    export = subprocess.Popen(["podman", "export", container], env=env, stdout=subprocess.PIPE)
    with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or member.size > SCANNED_FILE_BYTES:
                continue
            data = tar.extractfile(member).read()
            path = member.name.lstrip("./")
            if any(secret in data for secret in secrets):
                leaks.append(f"{path}: a secret value of the build environment")
            if path.startswith(OWN_TREES):
                own_files.append(path)
                if PRIVATE_KEY.search(data) or AWS_KEY_ID.search(data):
                    leaks.append(f"{path}: a private key or an AWS access key id")
    assert export.wait() == 0, "podman export failed"
    return leaks, own_files
