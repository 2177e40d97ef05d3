"""Driving the web page (/ui, ui/app.js) in a selenium browser, as a person would: open it, fill
the form from the keyboard, wait for the answer, read what it shows (tests/e2e/test_ui_*.py)."""

from __future__ import annotations

TECHNICAL = "The patient had a myocardial infarction."
WAIT_S = 120


def set_viewport(driver, width: int, height: int, dark: bool = False) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def wait_for(driver, script: str, timeout_s: float = WAIT_S):
    """Wait until the JavaScript expression `script` is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script};"))


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, "document.querySelectorAll('#example option').length > 1", 30)


def watch_progress(driver) -> None:
    """Record what the page shows while it works: the answer may come faster than a poll."""
    driver.execute_script("""
        window.__seen = {disabled: false, spinner: false, working: '', elapsed: ''};
        new MutationObserver(() => {
            const s = window.__seen;
            s.disabled = s.disabled || document.getElementById('submit').disabled;
            s.spinner = s.spinner || !document.getElementById('spinner').hidden;
            const text = document.getElementById('status-text').textContent;
            if (text.startsWith('Working')) s.working = text;
            s.elapsed = document.getElementById('elapsed').textContent || s.elapsed;
        }).observe(document.body, {attributes: true, childList: true, subtree: true, characterData: true});
    """)


def fill_and_submit_with_keyboard(driver, text: str, reference: str | None = None, beams: str = "1") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    if reference is not None:
        driver.execute_script("document.getElementById('reference-box').open = true")
        driver.find_element(By.ID, "reference").send_keys(reference)
    Select(driver.find_element(By.ID, "beams")).select_by_value(beams)
    watch_progress(driver)
    driver.find_element(By.ID, "submit").send_keys(Keys.ENTER)


def wait_for_summary(driver) -> None:
    wait_for(driver, "!document.getElementById('summary-card').hidden || !document.getElementById('error').hidden")
    error = driver.execute_script("return document.getElementById('error').hidden ? '' : "
                                  "document.getElementById('error').textContent")
    assert not error, f"the page shows an error: {error}"


def texts(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())", selector)
