#!/usr/bin/env bash
# Create (once) a virtualenv holding a pinned checkov and print the path of its `checkov`.
#
# checkov gets its own environment because it installs a `hcl2` module (bc-python-hcl2) that
# clashes with python-hcl2, which the consistency tests import from the project's .venv.
# Idempotent: a venv that already has the pinned version is reused as it is.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CHECKOV_VENV:-$repo_root/.venv-checkov}"
python="${PYTHON:-python3}"

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true
}

if [[ -x "$venv/bin/checkov" && "$(installed_version)" == "$CHECKOV_VERSION" ]]; then
  echo "$venv/bin/checkov"
  exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "install_checkov: '$python' not found; set PYTHON to a Python 3.9+ interpreter" >&2
  exit 1
fi

# Progress goes to stderr so that stdout carries only the path.
{
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
} >&2

echo "$venv/bin/checkov"
