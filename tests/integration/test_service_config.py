"""Configuration: one table, read once; defaults, overrides, validation; the README table; and
the image's and the task's environment, which set only what differs from the code's defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.processes import REPO

RUNNER_PROBE = """
import json, sys
import runners.classifier as classifier_module
from runners.classifier import Classifier
classifier_alone = "runners.simplifier" not in sys.modules
from runners.simplifier import Simplifier
from service import PLSService
def api(service, name):
    method = service.apis[name]
    return {"batchable": method.batchable, "max_batch_size": method.max_batch_size,
            "max_latency_ms": method.max_latency_ms}
print(json.dumps({
    "classifier_alone": classifier_alone,
    "classifier": api(Classifier, "predict_proba"), "simplifier": api(Simplifier, "simplify"),
    "workers": [s.config.get("workers") for s in (PLSService, Simplifier, Classifier)],
    "timeouts": [s.config.get("traffic", {}).get("timeout") for s in (PLSService, Simplifier, Classifier)],
}))
"""


@pytest.mark.parametrize("batch", ["7", "1"])
def test_services_take_batching_workers_and_timeout_from_the_configuration(bento_home, batch):
    """Both runners and the API, imported as `bentoml serve` imports them, with a non-default
    environment: every decorator carries the configured value (the classifier without
    importing the simplifier)."""
    env = {**os.environ, "BENTOML_HOME": str(bento_home), "PYTHONPATH": str(REPO),
           "PLS_MAX_BATCH_SIZE": batch, "PLS_MAX_LATENCY_MS": "4321", "PLS_REQUEST_TIMEOUT_S": "77",
           "PLS_API_WORKERS": "2", "PLS_SIMPLIFIER_WORKERS": "3", "PLS_CLASSIFIER_WORKERS": "4"}
    result = subprocess.run([sys.executable, "-c", RUNNER_PROBE], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["classifier_alone"], "runners/classifier.py imports runners/simplifier.py"
    for runner in ("classifier", "simplifier"):
        if batch == "1":
            assert seen[runner]["batchable"] is False, runner
        else:
            assert seen[runner] == {"batchable": True, "max_batch_size": 7, "max_latency_ms": 4321}, runner
    assert seen["workers"] == [2, 3, 4]
    assert seen["timeouts"] == [77, 77, 77]
