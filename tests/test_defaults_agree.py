"""The tuned serving defaults are the same in pls_core/config.py, bentofile.yaml and Terraform.

The image's env (bentofile.yaml) and the ECS task's env (terraform service_environment) set
PLS_* values explicitly; a value that differs from the code's default would make the deployed
service behave unlike the one measured. PLS_DEVICE is the one deliberate difference: the code
says `auto`, the CPU image and task say `cpu`.
"""

from __future__ import annotations

from pathlib import Path

import hcl2
import yaml

from pls_core.config import SETTINGS

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = {setting.env: setting.default for setting in SETTINGS.values()}
DELIBERATE = {"PLS_DEVICE"}
TUNED = ("PLS_SIMPLIFIER_BACKEND", "PLS_CT2_COMPUTE_TYPE", "PLS_MAX_BATCH_SIZE", "PLS_MAX_LATENCY_MS",
         "PLS_SIMPLIFIER_WORKERS", "PLS_TORCH_THREADS")


def bentofile_env() -> dict[str, str]:
    return yaml.safe_load((REPO / "bentofile.yaml").read_text())["docker"]["env"]


def terraform_env() -> dict[str, str]:
    for path in sorted((REPO / "terraform").glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("variable", []):
                if "service_environment" in block:
                    return block["service_environment"]["default"]
    raise AssertionError("terraform declares no service_environment variable")


def test_image_and_task_set_the_tuned_settings_to_the_code_defaults():
    for where, env in (("bentofile.yaml", bentofile_env()), ("terraform", terraform_env())):
        pls = {k: str(v) for k, v in env.items() if k.startswith("PLS_") and k not in DELIBERATE}
        assert set(TUNED) <= set(pls), f"{where} lacks {sorted(set(TUNED) - set(pls))}"
        differing = {k: (v, DEFAULTS[k]) for k, v in pls.items() if v != DEFAULTS[k]}
        assert not differing, f"{where} differs from pls_core/config.py (value, default): {differing}"
