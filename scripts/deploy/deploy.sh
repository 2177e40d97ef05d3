#!/usr/bin/env bash
# One-command deploy of the pls-service bento to AWS ECS Fargate: runs the pls_deploy package
# (scripts/deploy/pls_deploy/, installed with the project). See `scripts/deploy/deploy.sh --help`.
# Example: scripts/deploy/deploy.sh --auto-approve all
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The project's virtualenv has the package, boto3 and bentoml; fall back to the python on PATH.
if [[ -n "${PYTHON:-}" ]]; then
  python="$PYTHON"
elif [[ -x "$repo/.venv/bin/python" ]]; then
  python="$repo/.venv/bin/python"
else
  python="$(command -v python3 || true)"
fi
if [[ -z "$python" ]]; then
  echo "deploy: error: python3 not found; set PYTHON or create .venv (see docs/deploy.md)" >&2
  exit 2
fi
if ! "$python" -c 'import pls_deploy' 2>/dev/null; then
  echo "deploy: error: $python cannot import pls_deploy: install the project into it" \
       "(pip install --no-deps -e $repo; scripts/bootstrap.sh does it for .venv) or set PYTHON" >&2
  exit 2
fi

exec "$python" -m pls_deploy "$@"
