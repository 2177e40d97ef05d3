"""The documentation: README.md is a short front page that reaches every page of docs/, and docs/
builds into a site with `mkdocs build --strict` (mkdocs.yml), where a broken link, a missing
anchor or a page left out of the nav is a warning and so a failure. The site is built into a
temporary folder, never into the tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.support.processes import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
MKDOCS_YML = REPO / "mkdocs.yml"
README_MAX_LINES = 200
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    # NO_MKDOCS_2_WARNING: the Material theme's banner about its end of life, not a build warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    result = build(MKDOCS_YML, folder)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}{result.stderr[-6000:]}"
    assert "WARNING" not in result.stderr, result.stderr[-6000:]
    return folder


def nav_pages() -> list[str]:
    def walk(entry) -> list[str]:
        if isinstance(entry, str):
            return [entry]
        if isinstance(entry, list):
            return [page for item in entry for page in walk(item)]
        return [page for value in entry.values() for page in walk(value)]

    return walk(yaml.safe_load(MKDOCS_YML.read_text())["nav"])


def test_the_site_builds_with_strict_checks(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "api" / "index.html").is_file()


def test_the_configuration_makes_broken_links_and_anchors_fail(tmp_path: Path) -> None:
    """The same configuration on a copy of the pages with one broken link of each kind."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(MKDOCS_YML, tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a") as page:
        page.write("\n[a page](no-such-page.md), [an anchor](api.md#no-such-anchor), "
                   "[its own anchor](#no-such-heading), [out of the docs](../README.md)\n")
    (tmp_path / "docs" / "unlisted.md").write_text("# A page in no nav\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0, result.stderr[-3000:]
    for problem in ("no-such-page.md", "#no-such-anchor", "#no-such-heading", "../README.md", "unlisted.md"):
        assert problem in result.stderr, f"{problem} not reported:\n{result.stderr[-3000:]}"


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    pages = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
    nav = nav_pages()
    assert sorted(nav) == pages, f"mkdocs.yml's nav {sorted(nav)} and the pages in docs/ {pages} differ"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_every_image_in_docs_is_shown_by_a_page_and_every_image_shown_exists(site: Path) -> None:
    shown = set()
    for html in site.rglob("*.html"):
        for source in re.findall(r'<img[^>]*\ssrc="([^"]+)"', html.read_text()):
            if source.startswith(("http://", "https://", "data:")):
                continue
            target = (html.parent / source).resolve()
            assert target.is_file(), f"{html.relative_to(site)} shows {source}, which the site does not have"
            shown.add(target.relative_to(site.resolve()).as_posix())
    images = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES}
    assert images, "no images in docs/"
    assert not images - shown, f"images no page shows: {sorted(images - shown)}"


def readme_links() -> list[str]:
    text = README.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img[^>]*\ssrc="([^"]+)"', text)
    return [link for link in links if not link.startswith(("http://", "https://", "mailto:", "#"))]


def test_the_readme_reaches_every_page() -> None:
    linked = {link.split("#")[0] for link in readme_links()}
    missing = [link for link in sorted(linked) if not (REPO / link).exists()]
    assert not missing, f"README.md links to paths that do not exist: {missing}"
    unreached = [page for page in nav_pages() if f"docs/{page}" not in linked]
    assert not unreached, f"README.md does not link these pages of docs/: {unreached}"


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the detail into a page of docs/"


def test_the_readme_gives_the_two_commands_and_ci_runs_the_second() -> None:
    readme = README.read_text()
    assert re.search(r"^scripts/setup_and_serve\.sh +# ", readme, re.M), "the setup-and-serve command left README.md"
    assert re.search(r"^scripts/test\.sh +# ", readme, re.M), "the test command left README.md"
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\.sh\b", ci, re.M), ".ci/run no longer runs the README's test command"


def test_the_site_tools_are_pinned_and_installed() -> None:
    pins = dict(re.findall(r"^(mkdocs(?:-material)?)==(\S+)$", (REPO / "requirements-dev.txt").read_text(), re.M))
    assert pins.get("mkdocs") == "1.6.1", pins
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins.get("mkdocs-material", "")), pins
    for package, pinned in pins.items():
        assert version(package) == pinned, f"{package} {version(package)} is installed, {pinned} is pinned"


def test_every_service_metric_is_documented() -> None:
    from pls_core.metric_names import METRICS, OUTCOMES

    page = (REPO / "docs" / "observability.md").read_text()
    for name, (unit, _) in METRICS.items():
        assert f"| `{name}` | {unit} |" in page, name
    for outcome in OUTCOMES:
        assert f"| `{outcome}` |" in page, outcome
