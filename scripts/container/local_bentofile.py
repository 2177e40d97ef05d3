#!/usr/bin/env python3
"""Write a copy of bentofile.yaml for building the image on a machine without registries.

    python scripts/container/local_bentofile.py --base-image IMG --out PATH [--bentofile F]
        [--wheel-dir DIR]

Only the parts that reach the outside change: the base image becomes a local one, and torch's
CPU wheel comes from a local folder (carried into the bento as `python.wheels`, found by uv
through `--find-links`) instead of the PyTorch index. Every package pin (the same
requirements.txt), the models, the environment and the health check stay exactly as users get them.

BentoML accepts `python.wheels` only as relative paths inside the build context and outside
hidden folders, so the wheel is hard-linked (or copied) to <build ctx>/build/container-wheels/
(git-ignored, and outside the bento's `include`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTORCH_INDEX = "download.pytorch.org"
BENTO_PATH_IN_IMAGE = "/home/bentoml/bento"


def runtime_requirements(config: dict, build_ctx: Path) -> list[str]:
    """The bento's requirement lines: the file `python.requirements_txt` names (relative to the
    build context, as BentoML reads it), else `python.packages`."""
    python = config.get("python") or {}
    if python.get("requirements_txt"):
        return (build_ctx / python["requirements_txt"]).read_text().splitlines()
    return list(python.get("packages") or [])


def torch_pin(requirements: list[str]) -> str:
    """The pinned torch version, e.g. `2.13.0` (or `2.13.0+cpu` when the pin names the build)."""
    for line in requirements:
        m = re.fullmatch(r"\s*torch\s*==\s*([^\s;#]+)\s*(#.*)?", line)
        if m:
            return m.group(1)
    raise SystemExit("the bento's requirements pin no `torch==...`")


def wheel_dirs(explicit: str | None) -> list[Path]:
    """Where to look for the wheel: --wheel-dir, PIP_FIND_LINKS, pip's `find-links` setting."""
    found: list[str] = []
    if explicit:
        found.append(explicit)
    found += os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                             capture_output=True, text=True, timeout=60).stdout
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key.endswith("find-links"):
                found += value.strip().strip("'\"").split()
    except (OSError, subprocess.SubprocessError):
        pass
    dirs = []
    for entry in found:
        path = Path(entry.removeprefix("file://"))
        if path.is_dir() and path not in dirs:
            dirs.append(path)
    return dirs


def find_torch_wheel(version: str, dirs: list[Path]) -> Path:
    """torch's CPU wheel of `version` (`2.13.0` means its CPU build `2.13.0+cpu`, as the image
    gets it from the PyTorch CPU index)."""
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    build = version if "+" in version else f"{version}+cpu"
    pattern = f"torch-{build}-{py}-{py}-*linux*x86_64.whl"
    for folder in dirs:
        hits = sorted(folder.glob(pattern))
        if hits:
            return hits[0]
    searched = ", ".join(str(d) for d in dirs) or "nowhere (no --wheel-dir, PIP_FIND_LINKS or pip find-links)"
    raise SystemExit(f"no wheel {pattern} in {searched}")


def stage_wheel(wheel: Path, build_ctx: Path) -> str:
    """Place the wheel inside the build context; return its path relative to the context."""
    folder = build_ctx / "build" / "container-wheels"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / wheel.name
    if not (target.is_file() and target.stat().st_size == wheel.stat().st_size):
        target.unlink(missing_ok=True)
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)
    return str(target.relative_to(build_ctx))


def localise(config: dict, base_image: str, wheel: str) -> dict:
    docker = config.setdefault("docker", {})
    docker["base_image"] = base_image
    python = config.setdefault("python", {})
    python["extra_index_url"] = [u for u in python.get("extra_index_url", []) if PYTORCH_INDEX not in u]
    if not python["extra_index_url"]:
        del python["extra_index_url"]
    python["wheels"] = [wheel]
    # install.sh runs uv once from env/python and once from the bento root: point uv at the
    # bento's wheels folder by its absolute path in the image (BentoML's BENTO_PATH).
    python["find_links"] = [f"{BENTO_PATH_IN_IMAGE}/env/python/wheels"]
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-ctx", default=str(REPO_ROOT))
    parser.add_argument("--bentofile", help="default: <build ctx>/bentofile.yaml")
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--wheel-dir", default=os.environ.get("PLS_TORCH_WHEEL_DIR"))
    args = parser.parse_args()

    build_ctx = Path(args.build_ctx).resolve()
    bentofile = Path(args.bentofile or build_ctx / "bentofile.yaml")
    config = yaml.safe_load(bentofile.read_text())
    wheel = find_torch_wheel(torch_pin(runtime_requirements(config, build_ctx)), wheel_dirs(args.wheel_dir))
    config = localise(config, args.base_image, stage_wheel(wheel, build_ctx))
    header = f"# Generated by {Path(__file__).name} from {bentofile}; do not edit.\n"
    Path(args.out).write_text(header + yaml.safe_dump(config, sort_keys=False))
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
