# Sourced by setup_and_serve.sh and test.sh: create .venv with the pinned requirements,
# reinstalling only when a requirements file changed.
# Users outside our machines get the CPU build of torch with
#   export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PYTHON_BIN="${PYTHON_BIN:-python3.11}"
export BENTOML_DO_NOT_TRACK=true

ensure_venv() {
  command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
  if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 is required (found: $("$PYTHON_BIN" --version 2>&1)); set PYTHON_BIN" >&2
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON_BIN" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON_BIN" -m venv "$VENV"
      else
        echo "error: cannot create a virtualenv; install it: sudo apt-get install python3.11-venv" >&2
        exit 2
      fi
    fi
  fi
  local stamp="$VENV/.requirements.sha256" want
  want="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-dev.txt" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing pinned requirements into .venv (a few minutes the first time)..."
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REPO_ROOT/requirements-dev.txt" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" || true
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$REPO_ROOT" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" || true
    "$VENV/bin/python" -c "import torch, bentoml, transformers, dvc" || { echo "error: install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_demo_models() {
  # Builds models/ from the embedded demo corpus; a no-op when they are up to date.
  "$VENV/bin/python" "$REPO_ROOT/scripts/models/make_demo_models.py" --out "$REPO_ROOT/models"
}
