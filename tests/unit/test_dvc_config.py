"""A real DVC round trip against S3 emulated by a moto server on 127.0.0.1."""

from __future__ import annotations

from tests.support.processes import REPO


def test_repo_remote_verifies_downloads():
    config = (REPO / ".dvc" / "config").read_text()
    assert "verify = true" in config
