"""The web page in a real browser (tests/e2e/conftest.py) against a server with API keys on (its
own: keys change every answer): the page asks for a key and keeps it for the browser session only,
also when it is hosted on another site."""

from __future__ import annotations

import pytest

from loadtests.server import bentoml_serve
from tests.support.ui_driver import (
    TECHNICAL,
    fill_and_submit_with_keyboard,
    open_page,
    set_viewport,
    texts,
    wait_for,
    wait_for_summary,
)

KEY = "browser-key-0123456789abcdef"
KEY_STORAGE = "pls-api-key"  # ui/app.js's sessionStorage item

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def keyed_server(bento_home, page_host, tmp_path_factory):
    """Keys on; the page host's copies of the page may call it (CORS)."""
    folder = tmp_path_factory.mktemp("keyed-ui")
    with bentoml_serve(bento_home, folder / "bentoml.log", PLS_API_KEYS=KEY, PLS_MAX_LATENCY_MS="120000",
                       PLS_CORS_ORIGINS=page_host.origin) as url:
        yield url


def watch_key_prompt(driver) -> None:
    """Count the times the key prompt opens (it may open and close between two polls)."""
    driver.execute_script("""
        window.__keyPrompts = 0;
        const dialog = document.getElementById('key-dialog');
        new MutationObserver(() => { if (dialog.open) window.__keyPrompts += 1; })
            .observe(dialog, {attributes: true, attributeFilter: ['open']});
    """)


def wait_for_key_prompt(driver, says: str) -> None:
    wait_for(driver, "document.getElementById('key-dialog').open && "
                     f"document.getElementById('key-message').textContent.includes({says!r})", 60)


def enter_key(driver, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.ID, "api-key")
    field.send_keys(key)
    field.send_keys(Keys.ENTER)


def key_storage(driver) -> dict:
    return driver.execute_script("""return {session: sessionStorage.getItem(arguments[0]),
        sessionItems: sessionStorage.length, cookie: document.cookie, local: JSON.stringify({...localStorage})};""",
                                 KEY_STORAGE)


def assert_key_kept_for_the_session_only(driver) -> None:
    stored = key_storage(driver)
    assert stored["session"] == KEY and stored["sessionItems"] == 1, stored
    assert KEY not in stored["cookie"] and stored["local"] == "{}", stored
    assert not any(KEY in str(cookie) for cookie in driver.get_cookies()), driver.get_cookies()
    # Not left in the page either: the field is emptied once the key is taken.
    assert driver.execute_script("return document.getElementById('api-key').value") == ""


def test_a_keyed_service_gets_its_key_from_a_prompt_kept_for_the_browser_session_only(browser, keyed_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    set_viewport(browser, 1280, 900)
    open_page(browser, keyed_server + "/ui")  # the page and its examples need no key
    assert browser.find_element(By.ID, "forget-key").is_displayed() is False
    fill_and_submit_with_keyboard(browser, TECHNICAL)

    # The API answered 401: a modal prompt with a labelled password field, focused.
    wait_for_key_prompt(browser, "needs an API key")
    field = browser.switch_to.active_element
    assert field.get_attribute("id") == "api-key" and field.get_attribute("type") == "password"
    assert texts(browser, "label[for=api-key]") == ["API key"]
    assert browser.execute_script("return document.getElementById('key-dialog').matches(':modal')") is True

    # A wrong key: refused, said so, asked again; it is not kept.
    enter_key(browser, "wrong-key-0123456789abcdef")
    wait_for_key_prompt(browser, "did not accept")
    assert key_storage(browser)["session"] is None

    # The right key: the request is sent again with it, and the summary comes.
    enter_key(browser, KEY)
    wait_for_summary(browser)
    assert "heart attack" in texts(browser, "#summary")[0].lower()
    assert_key_kept_for_the_session_only(browser)
    assert browser.find_element(By.ID, "forget-key").is_displayed()

    # The same tab keeps it across a reload: no prompt.
    open_page(browser, keyed_server + "/ui")
    watch_key_prompt(browser)
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for_summary(browser)
    assert browser.execute_script("return window.__keyPrompts") == 0
    assert_key_kept_for_the_session_only(browser)

    # Another browser session (a new window of the same browser profile: localStorage and cookies
    # would be shared with it, sessionStorage is not) asks again; Escape cancels, in plain words.
    first = browser.current_window_handle
    browser.switch_to.new_window("window")
    try:
        open_page(browser, keyed_server + "/ui")
        assert key_storage(browser)["session"] is None
        fill_and_submit_with_keyboard(browser, TECHNICAL)
        wait_for_key_prompt(browser, "needs an API key")
        browser.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_for(browser, "!document.getElementById('error').hidden", 30)
        assert "needs an API key" in texts(browser, "#error")[0]
        assert browser.execute_script("return document.getElementById('submit').disabled") is False
    finally:
        browser.close()
        browser.switch_to.window(first)

    # Forget the key: gone from storage, and the next request asks again.
    browser.find_element(By.ID, "forget-key").click()
    assert key_storage(browser)["session"] is None
    assert "forgotten" in texts(browser, "#status-text")[0]
    assert browser.find_element(By.ID, "forget-key").is_displayed() is False
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for_key_prompt(browser, "needs an API key")
    enter_key(browser, KEY)
    wait_for_summary(browser)
    assert_key_kept_for_the_session_only(browser)
    browser.find_element(By.ID, "forget-key").click()  # leave the browser as it was


def test_a_page_hosted_elsewhere_reads_the_401_and_sends_the_key_across_origins(browser, keyed_server, page_host):
    """CORS lets the other site's page read the 401 and send `Authorization`; its key is that
    site's own (sessionStorage belongs to an origin)."""
    set_viewport(browser, 1280, 900)
    open_page(browser, page_host.page_for("keyed", keyed_server))
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for_key_prompt(browser, "needs an API key")
    enter_key(browser, KEY)
    wait_for_summary(browser)
    assert texts(browser, "#summary mark.plain") == ["heart attack"]
    assert_key_kept_for_the_session_only(browser)
    browser.find_element("id", "forget-key").click()
