#!/usr/bin/env bash
# The first of the README's two commands: set everything up, then serve the demo models.
#   scripts/setup_and_serve.sh        # http://127.0.0.1:3000 (PLS_HOST / PLS_PORT to change)
source "$(dirname "$0")/bootstrap.sh"
ensure_venv
ensure_demo_models
"$VENV/bin/python" "$REPO_ROOT/scripts/models/import_models.py" --models-dir "$REPO_ROOT/models"
cd "$REPO_ROOT"
echo "serving on http://${PLS_HOST:-127.0.0.1}:${PLS_PORT:-3000} (Swagger UI at /; Ctrl+C stops)"
exec "$VENV/bin/bentoml" serve --host "${PLS_HOST:-127.0.0.1}" --port "${PLS_PORT:-3000}"
