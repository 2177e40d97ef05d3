"""The web page at /ui in a real browser (tests/e2e/conftest.py) against the shared `bentoml serve`,
also hosted on other sites (one the server allows, one it does not): keyboard, terms, summary,
chart, errors, a busy service, a phone's width and dark mode.

    PLS_UI_SCREENSHOTS=docs/screenshots python -m pytest tests/e2e/test_ui_page.py   # also saves screenshots
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.support.ui_driver import (
    TECHNICAL,
    fill_and_submit_with_keyboard,
    open_page,
    set_viewport,
    texts,
    wait_for,
    wait_for_summary,
    watch_progress,
)

REFERENCE = "The patient had a heart attack."

pytestmark = pytest.mark.timeout(900)


def bar_value(driver, metric: str, when: str) -> float | None:
    raw = driver.execute_script(
        "const r = document.querySelector(`#chart rect[data-metric='${arguments[0]}'][data-when='${arguments[1]}']`);"
        "return r ? r.getAttribute('data-value') : null;", metric, when)
    return float(raw) if raw not in (None, "") else None


def save_screenshot(driver, name: str, width: int) -> None:
    """With PLS_UI_SCREENSHOTS=DIR, save the whole page at `width` as DIR/<name>.png."""
    folder = os.environ.get("PLS_UI_SCREENSHOTS")
    if not folder:
        return
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def test_keyboard_reaches_every_control_in_order(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    set_viewport(browser, 1280, 900)
    open_page(browser, server + "/ui")
    order = []
    for _ in range(8):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(browser.execute_script(
            "const e = document.activeElement; return e.id || e.tagName.toLowerCase()"))
    assert order == ["a", "a", "example", "text", "summary", "beams", "length", "submit"], order
    labels = browser.execute_script(
        "return ['example', 'text', 'reference', 'beams', 'length'].map(id => "
        "document.querySelector(`label[for=${id}]`) ? document.querySelector(`label[for=${id}]`).textContent : null)")
    assert all(labels), labels


def test_page_matches_terms_by_the_servers_rule(browser, server):
    """The page's highlighter follows pls_core/lexicon.find_terms: inside a term, spaces, line
    breaks and hyphens stand for one another; a hyphen separates words; any case."""
    from pls_core.lexicon import find_terms

    open_page(browser, server + "/ui")
    text = "Acute Myocardial-infarction, myocardial\ninfarction and infarction-related hypertension."
    lexicon = {"myocardial infarction": "heart attack", "hypertension": "high blood pressure",
               "acute": "sudden", "infarction related": "caused by the heart attack"}
    found = browser.execute_script(
        "const p = phrasePattern(arguments[1]);"
        "return [...arguments[0].matchAll(p)].map(m => phraseKey(m[1]));",
        text, list(lexicon))
    assert found == find_terms(text, lexicon) == [
        "acute", "myocardial infarction", "myocardial infarction", "infarction related", "hypertension"]


def _highlights(driver, page_host, name: str, lexicon: dict, original: str, summary: str) -> dict:
    """Run the page hosted by `page_host` on `original`, its API a /lexicon file holding `lexicon`
    and, answered in the page, /classify and /generate-with-metrics giving `summary`; return the
    marks it shows."""
    import json

    api = page_host.root / f"{name}-api"
    api.mkdir(exist_ok=True)
    (api / "lexicon").write_text(json.dumps(lexicon))
    open_page(driver, page_host.page_for(name, f"{page_host.origin}/{name}-api/"))
    wait_for(driver, f"Object.keys(lexicon).length === {len(lexicon)}", 30)  # the page's lexicon, from the file
    driver.execute_script("""
        const realFetch = window.fetch;
        const answers = {
            'classify': {is_pls: false, confidence: 0.1, reasoning: 'Judged technical.',
                         flesch_reading_ease: 30, flesch_kincaid_grade: 14, avg_word_length: 6,
                         technical_terms_count: 3},
            'generate-with-metrics': {generated_pls: arguments[0], generation_time: 0.1, num_chunks: 1,
                metrics: {flesch_reading_ease: 60, flesch_kincaid_grade: 8, compression_ratio: 1,
                          word_length: 12, original_word_length: 12}},
        };
        window.fetch = async (url, init) => {
            const name = String(url).split('/').pop();
            if (!(init && init.method === 'POST' && name in answers)) return realFetch(url, init);
            return new Response(JSON.stringify(answers[name]),
                                {status: 200, headers: {'Content-Type': 'application/json'}});
        };
    """, summary)
    fill_and_submit_with_keyboard(driver, original)
    wait_for_summary(driver)
    return {
        "summary": driver.execute_script("return [...document.querySelectorAll('#summary mark')]"
                                         ".map(m => [m.className, m.textContent, m.title])"),
        "original": texts(driver, "#original mark.term"),
        "verdicts": texts(driver, "#terms tbody td")[2::3],
    }


def test_hyphenated_plain_words_and_terms_are_highlighted(browser, page_host):
    """Plain words with hyphens ("mini-stroke") are marked as plain words, and a lexicon term
    written with a hyphen is found too: the page keys every lookup by phraseKey. Before, the
    summary's "mini-stroke" got class "undefined" (looked up as "mini stroke" in a map keyed
    "mini-stroke") and a hyphenated term stopped the page with a TypeError.

    No server of its own: the page host serves the page and, as its API, a /lexicon file; the two
    POSTs are answered in the page."""
    from pls_core.lexicon import LEXICON

    set_viewport(browser, 1280, 900)
    shown = _highlights(browser, page_host, "hyphen-plain", LEXICON,
                        "Patients with a transient ischemic attack and chronic osteoarthritis.",
                        "People with a mini-stroke and long-term wear-and-tear arthritis.")
    assert shown == {
        "summary": [["plain", "mini-stroke", "replaces: transient ischemic attack"],
                    ["plain", "long-term", "replaces: chronic"],
                    ["plain", "wear-and-tear arthritis", "replaces: osteoarthritis"]],
        "original": ["transient ischemic attack", "chronic", "osteoarthritis"],
        "verdicts": ["replaced by the plain words"] * 3,
    }, shown

    # A term the lexicon writes with a hyphen matches "beta blocker" in the text (the server's rule).
    shown = _highlights(browser, page_host, "hyphen-term", {**LEXICON, "beta-blocker": "heart-slowing medicine"},
                        "Patients took a beta blocker.", "People took a heart-slowing medicine.")
    assert shown == {
        "summary": [["plain", "heart-slowing medicine", "replaces: beta blocker"]],
        "original": ["beta blocker"],
        "verdicts": ["replaced by the plain words"],
    }, shown


def test_simplify_shows_classification_summary_terms_and_chart(browser, server):
    set_viewport(browser, 1280, 900)
    open_page(browser, server + "/ui")
    fill_and_submit_with_keyboard(browser, TECHNICAL, reference=REFERENCE)
    wait_for_summary(browser)

    seen = browser.execute_script("return window.__seen")
    assert seen["disabled"] and seen["spinner"] and seen["working"].startswith("Working"), seen
    assert re.fullmatch(r"\d+\.\d s", seen["elapsed"]), seen
    assert browser.execute_script("return document.getElementById('submit').disabled") is False
    assert browser.execute_script("return document.activeElement.id") == "results-heading"

    with httpx.Client(base_url=server, timeout=120) as http:
        classified = http.post("/classify", json={"text": TECHNICAL}).json()
    assert texts(browser, "#verdict") == ["Technical"]
    assert f"{round(classified['confidence'] * 100)} %" in texts(browser, "#confidence")[0]
    assert texts(browser, "#reasoning") == [classified["reasoning"]]

    summary = texts(browser, "#summary")[0]
    assert "heart attack" in summary.lower(), summary
    assert texts(browser, "#original mark.term") == ["myocardial infarction"]
    assert texts(browser, "#summary mark.plain") == ["heart attack"]
    assert texts(browser, "#terms tbody td") == ["myocardial infarction", "heart attack", "replaced by the plain words"]

    # The chart: before from /classify on the input, after from the summary's metrics.
    assert bar_value(browser, "reading-ease", "before") == pytest.approx(classified["flesch_reading_ease"])
    assert bar_value(browser, "grade-level", "before") == pytest.approx(classified["flesch_kincaid_grade"])
    assert bar_value(browser, "words", "before") == len(TECHNICAL.split())
    assert bar_value(browser, "words", "after") == len(summary.split())
    assert bar_value(browser, "reading-ease", "after") > bar_value(browser, "reading-ease", "before")
    heights = browser.execute_script(
        "return [...document.querySelectorAll('#chart rect')].map(r => r.getBoundingClientRect().height)")
    assert len(heights) == 6 + 5 and all(h > 0 for h in heights[:6]), heights
    for score in ("rouge1", "rouge2", "rougeL", "bleu", "sari"):
        assert 0 <= bar_value(browser, score, "after") <= 1, score
    assert "easier" in texts(browser, "#chart-sentence")[0]

    # Copy: the summary lands on the clipboard.
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.find_element("id", "copy").click()
    wait_for(browser, "document.getElementById('copy-status').textContent === 'Copied.'", 10)
    clipboard = browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error: ' + e))")
    assert clipboard == summary

    # Nothing came from anywhere but the service: no CDN, no web fonts.
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(url.startswith(server + "/") for url in urls), urls
    save_screenshot(browser, "ui-desktop", 1280)


def test_too_short_text_gets_a_plain_error(browser, server):
    set_viewport(browser, 1280, 900)
    open_page(browser, server + "/ui")
    fill_and_submit_with_keyboard(browser, "too short")
    wait_for(browser, "!document.getElementById('error').hidden", 30)
    error = texts(browser, "#error")[0]
    assert "too short" in error and "at least 10 characters" in error, error
    assert browser.execute_script("return document.activeElement.id") == "error"
    assert browser.execute_script("return document.getElementById('submit').disabled") is False

    too_long = "The patient had a myocardial infarction. " * 500  # 20,500 characters
    browser.execute_script("document.getElementById('text').value = arguments[0]", too_long)
    watch_progress(browser)
    browser.find_element("id", "submit").click()
    wait_for(browser, "document.getElementById('error').textContent.includes('too long')", 30)
    error = texts(browser, "#error")[0]
    assert "at most 20000 characters" in error, error


def test_busy_service_and_summary_confidence_in_plain_words(browser, server):
    """The page's reading of a 503 with Retry-After and of optional confidence fields.

    A busy service cannot be produced on demand, so the page's fetch is wrapped to answer 503
    for the generation once; the next request goes to the real service, with the confidence
    fields a later version of /generate-with-metrics may add.
    """
    set_viewport(browser, 1280, 900)
    open_page(browser, server + "/ui")
    browser.execute_script("""
        const realFetch = window.fetch;
        let calls = 0;
        window.fetch = async (url, init) => {
            if (!String(url).endsWith('/generate-with-metrics')) return realFetch(url, init);
            calls += 1;
            if (calls === 1) return new Response('{"error": "busy"}', {status: 503, headers: {'Retry-After': '7'}});
            const answer = await realFetch(url, init);
            const body = await answer.json();
            return new Response(JSON.stringify({...body, confidence: 0.42, low_confidence: true}),
                                {status: 200, headers: {'Content-Type': 'application/json'}});
        };
    """)
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for(browser, "!document.getElementById('error').hidden", 60)
    assert texts(browser, "#error") == ["The service is busy. Please try again in 7 s."]
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for_summary(browser)
    note = texts(browser, "#summary-confidence")[0]
    assert "42 %" in note and "unsure" in note, note


def test_phone_width_has_no_horizontal_overflow_and_dark_mode(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    set_viewport(browser, 390, 844, dark=True)
    open_page(browser, server + "/ui")
    examples = browser.find_element(By.ID, "example")
    examples.send_keys(Keys.DOWN, Keys.DOWN)  # the keyboard picks the second example
    assert Select(examples).first_selected_option.text == "Demo: blood pressure and a painkiller"
    assert browser.find_element(By.ID, "text").get_property("value").startswith("Patients with hypertension")
    Select(browser.find_element(By.ID, "beams")).select_by_value("1")
    browser.find_element(By.ID, "submit").send_keys(Keys.ENTER)
    wait_for_summary(browser)
    assert len(texts(browser, "#original mark.term")) >= 2
    overflow = browser.execute_script("""
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 0.5 && e.getClientRects().length)
            .map(e => e.id || e.tagName);
        return {width, scroll: document.documentElement.scrollWidth, wide};
    """)
    assert overflow["width"] == 390 and overflow["scroll"] <= 390 and not overflow["wide"], overflow
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background  # the dark palette
    save_screenshot(browser, "ui-phone-dark", 390)
    set_viewport(browser, 390, 844, dark=False)
    save_screenshot(browser, "ui-phone", 390)


def test_page_hosted_elsewhere_works_only_where_cors_allows(browser, server, page_host, foreign_page_host):
    set_viewport(browser, 1280, 900)
    open_page(browser, page_host.page_for("allowed", server))
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for_summary(browser)
    assert texts(browser, "#summary mark.plain") == ["heart attack"]

    open_page(browser, foreign_page_host.page_for("refused", server))  # an origin the server does not list
    fill_and_submit_with_keyboard(browser, TECHNICAL)
    wait_for(browser, "!document.getElementById('error').hidden", 60)
    assert "cannot be reached" in texts(browser, "#error")[0]
