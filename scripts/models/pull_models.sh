#!/usr/bin/env bash
# Pull the two model folders from the DVC remote, then import them into the BentoML store.
#   scripts/models/pull_models.sh            # uses the remote in .dvc/config (+ .dvc/config.local)
# Only the model outputs are fetched, not the rest of the DVC cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python}"
DVC="${DVC:-dvc}"
outputs=(models/t5_base models/baseline_classifier)
# botocore's default retries, multiplied by s3fs's own five, make an unreachable remote take
# a minute to fail; two attempts per call still ride out a transient error.
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-standard}" AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-2}"

if ! command -v "$DVC" >/dev/null 2>&1; then
  echo "error: '$DVC' not found; install the project's requirements (see docs/models.md)" >&2
  exit 2
fi
echo "pulling ${outputs[*]} from the DVC remote..."
if ! "$DVC" pull "${outputs[@]}"; then
  cat >&2 <<MSG
error: dvc pull failed, nothing was imported.
  - remote unreachable or bucket missing: check 'dvc remote list' and your AWS credentials;
  - a checksum mismatch means a blob in the remote is corrupted: re-push it from a good copy.
MSG
  exit 1
fi
"$PYTHON" scripts/models/import_models.py --models-dir models --source dvc
