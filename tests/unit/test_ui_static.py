"""The web page without a browser or a server: the CORS setting parsed and refused, and the bento
carrying the page. The page served and in a browser: tests/integration/test_http_surface.py and
tests/e2e/test_ui_page.py."""

from __future__ import annotations

import re

import pytest
import yaml

from pls_core.config import ConfigError, load_config
from tests.support.processes import REPO

UI_DIR = REPO / "ui"


# --- the CORS setting -----------------------------------------------------------------------

def test_cors_origins_default_to_none_and_parse_a_list():
    assert load_config({}).cors_origins == ()
    config = load_config({"PLS_CORS_ORIGINS": " https://a.example.org, http://127.0.0.1:8080 ,"})
    assert config.cors_origins == ("https://a.example.org", "http://127.0.0.1:8080")


@pytest.mark.parametrize("value", ["https://a.example.org/", "a.example.org", "https://a.example.org/page",
                                   "ftp://a.example.org"])
def test_cors_origins_refuse_what_is_not_an_origin(value):
    with pytest.raises(ConfigError, match="PLS_CORS_ORIGINS"):
        load_config({"PLS_CORS_ORIGINS": value})


@pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")
def test_bento_carries_the_page():
    from bentoml._internal.bento.build_config import BentoPathSpec

    bentofile = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    spec = BentoPathSpec(bentofile["include"], bentofile["exclude"], str(REPO))
    files = [path.relative_to(REPO).as_posix() for path in UI_DIR.iterdir()]
    assert "ui/index.html" in files and "ui/app.js" in files
    for path in files:
        assert spec.includes(path), path


# --- the API key prompt ------------------------------------------------------------------------

def test_page_has_no_inline_script_or_style():
    """Everything runs from ui/app.js and ui/style.css: a strict Content-Security-Policy
    (script-src 'self') can hold the page, the key prompt included."""
    html = (UI_DIR / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="ui/app.js" defer>']
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "inline event handler"
    assert not re.search(r"\sstyle\s*=|<style\b", html, re.IGNORECASE), "inline style"
    assert "javascript:" not in html.lower()


def test_page_asks_for_a_key_in_a_labelled_password_field():
    html = (UI_DIR / "index.html").read_text()
    dialog = re.search(r'<dialog id="key-dialog"(.*?)</dialog>', html, re.DOTALL)
    assert dialog, "the key prompt: <dialog id=\"key-dialog\">"
    inside = dialog.group(0)
    assert re.search(r'<input id="api-key"[^>]*type="password"', inside), inside
    assert '<label for="api-key">' in inside
    assert 'aria-labelledby="key-heading"' in inside and 'id="key-heading"' in inside
    assert re.search(r'<button id="key-submit"[^>]*type="submit"', inside)
    assert re.search(r'<button id="key-cancel"[^>]*type="button"', inside)
    assert re.search(r'<button id="forget-key"[^>]*type="button"[^>]*hidden', html)


def test_page_keeps_the_key_in_session_storage_only():
    code = (UI_DIR / "app.js").read_text()
    statements = re.sub(r"//[^\n]*|/\*.*?\*/", "", code, flags=re.DOTALL)  # comments may name them
    assert "sessionStorage" in statements and "Authorization" in statements and "Bearer" in statements
    for storage in ("localStorage", "cookie", "indexedDB", "caches", "prompt("):
        assert storage not in statements, storage
    # Every POST says it is JSON (the service refuses other bodies).
    assert '"Content-Type": "application/json"' in code
