#!/usr/bin/env bash
# One-command deploy of the pls-service bento to AWS ECS Fargate; see scripts/deploy/deploy.py or
# `scripts/deploy/deploy.sh --help`. Example: scripts/deploy/deploy.sh --auto-approve all
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The project's virtualenv has boto3 and bentoml; fall back to the python on PATH.
if [[ -n "${PYTHON:-}" ]]; then
  python="$PYTHON"
elif [[ -x "$repo/.venv/bin/python" ]]; then
  python="$repo/.venv/bin/python"
else
  python="$(command -v python3 || true)"
fi
if [[ -z "$python" ]]; then
  echo "deploy: error: python3 not found; set PYTHON or create .venv (see README)" >&2
  exit 2
fi

exec "$python" "$here/deploy.py" "$@"
