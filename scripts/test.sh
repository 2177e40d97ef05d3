#!/usr/bin/env bash
# The second of the README's two commands: install what the tests need, run the whole suite.
#   scripts/test.sh [pytest args]     # e.g. scripts/test.sh -k chunking
source "$(dirname "$0")/bootstrap.sh"
ensure_venv
ensure_demo_models
"$REPO_ROOT/scripts/install_checkov.sh" >/dev/null
cd "$REPO_ROOT"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
