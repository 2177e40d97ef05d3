"""The browser the web page's tests drive (test_ui_page.py, test_ui_api_keys.py): Debian's
chromium driven by selenium through Debian's chromedriver: nothing is downloaded. Without chromium
the browser tests are skipped with that reason, except under CI=true, where they install it (as
root, with apt-get) like the container test installs buildah."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Helpers of this tier that assert: their failures explain themselves as a test's own asserts do.
pytest.register_assert_rewrite("tests.support.ui_driver", "tests.support.deployment_life")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=True,
                   capture_output=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI") == "true" and os.geteuid() == 0 and shutil.which("apt-get"):
            _install_chromium()
        else:
            pytest.skip("the browser tests need Debian's chromium and chromedriver: "
                        "apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 "--window-size=1280,900"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
