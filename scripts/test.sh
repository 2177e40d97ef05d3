#!/usr/bin/env bash
# The second of the README's two commands: install what the tests need, run the tests.
#   scripts/test.sh [pytest args]          # the whole suite (what CI runs), e.g. -k chunking
#   scripts/test.sh --fast [pytest args]   # the fast tier, tests/unit/: no server, container,
#                                          # Terraform apply or demo build (a minute or two)
#   scripts/test.sh --budget=full          # 5-10x the generated test cases (nightly, release)
source "$(dirname "$0")/bootstrap.sh"
fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi
ensure_venv
cd "$REPO_ROOT"
if [ "$fast" = 1 ]; then
  targets=(tests/unit)
  # A path given on the command line replaces the tier's folder.
  for arg in "$@"; do
    case "$arg" in tests/*) targets=() ;; esac
  done
else
  targets=()
  ensure_demo_models
  "$REPO_ROOT/scripts/install_checkov.sh" >/dev/null
fi
set +e
"$VENV/bin/python" -m pytest "${targets[@]}" "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
