"""The web page without a browser or a server: the CORS setting parsed and refused, and the bento
carrying the page. The page served and in a browser: tests/integration/test_http_surface.py and
tests/e2e/test_ui.py."""

from __future__ import annotations

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
