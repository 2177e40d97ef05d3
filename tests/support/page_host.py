"""A static web server on another origin that hosts copies of the web page, as another site
would: for the CORS checks, served and in the browser.

A copy names its API in <meta name="pls-api-base"> (`PageHost.page_for`). The page takes no
API address from its URL on purpose: a crafted link could send pasted text anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from loadtests.server import free_port
from tests.support.processes import REPO

UI_DIR = REPO / "ui"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class PageHost:
    def __init__(self, root: Path, httpd: http.server.ThreadingHTTPServer) -> None:
        self.root = root
        self.httpd = httpd

    @property
    def origin(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def page_for(self, name: str, api_base: str) -> str:
        """Copy the page under <root>/<name>/ pointing at `api_base`; return the page's URL."""
        folder = self.root / name
        shutil.copytree(UI_DIR, folder / "ui", dirs_exist_ok=True)
        html = (UI_DIR / "index.html").read_text().replace(
            '<meta name="pls-api-base" content="">', f'<meta name="pls-api-base" content="{api_base}">')
        (folder / "index.html").write_text(html)
        return f"{self.origin}/{name}/index.html"


@contextlib.contextmanager
def page_host(root: Path) -> Iterator[PageHost]:
    """Serve `root` on a free 127.0.0.1 port for as long as the context lasts."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield PageHost(root, httpd)
    finally:
        httpd.shutdown()
