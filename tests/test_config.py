"""Configuration: defaults, environment overrides, validation, and the README table."""

from pathlib import Path

import pytest

from pls_core.config import SETTINGS, ConfigError, load_config
from pls_core.resources import cgroup_cpu_limit, cpu_share, torch_threads

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_suit_the_fargate_task():
    config = load_config({})
    assert config.max_text_chars == 20000 and config.min_text_chars == 10
    assert config.simplifier_tag == "pls-simplifier:latest"
    assert config.classifier_tag == "pls-classifier:latest"
    assert config.device == "auto"


def test_environment_overrides_each_setting():
    config = load_config({"PLS_MAX_BATCH_SIZE": "4", "PLS_DEVICE": "cpu", "PLS_SIMPLIFIER_TAG": "pls-simplifier:abc"})
    assert (config.max_batch_size, config.device, config.simplifier_tag) == (4, "cpu", "pls-simplifier:abc")


@pytest.mark.parametrize("env,message", [
    ({"PLS_MAX_BATCH_SIZE": "many"}, "PLS_MAX_BATCH_SIZE='many' is not an integer"),
    ({"PLS_MAX_BATCH_SIZE": "0"}, "outside 1..256"),
    ({"PLS_DEVICE": "tpu"}, "must be one of auto, cpu, cuda"),
    ({"PLS_SIMPLIFIER_TAG": " "}, "must not be empty"),
    ({"PLS_MIN_TEXT_CHARS": "500", "PLS_MAX_TEXT_CHARS": "400"}, "smaller than"),
])
def test_bad_settings_are_refused_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_readme_configuration_table_lists_every_setting_with_its_default():
    readme = README.read_text()
    for setting in SETTINGS.values():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{setting.env}`")), None)
        assert row is not None, f"{setting.env} missing from the README configuration table"
        assert f"`{setting.default}`" in row, f"{setting.env}: README default differs from {setting.default}"


def test_cgroup_v2_quota_caps_the_cpu_share(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    assert cpu_share(tmp_path) == 1
    assert torch_threads(0, workers=1, root=tmp_path) == 1
    assert torch_threads(3, workers=1, root=tmp_path) == 3


def test_cgroup_v1_quota_and_no_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    assert cgroup_cpu_limit(tmp_path) == 2.0
    unlimited = tmp_path / "v2"
    unlimited.mkdir()
    (unlimited / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(unlimited) is None


def test_threads_are_split_between_workers(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    share = cpu_share(tmp_path)
    assert torch_threads(0, workers=share + 1, root=tmp_path) == 1
    assert torch_threads(0, workers=1, root=tmp_path) == share
