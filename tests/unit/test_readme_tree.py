"""The README's layout table and the tree agree: every room is listed, every listed path exists."""

from __future__ import annotations

import re
import subprocess

from tests.support.processes import REPO

# Packaging and housekeeping files a reader does not need a row for.
UNLISTED_FILES = {"README.md", "pyproject.toml", "requirements.txt", "requirements-dev.txt"}


def layout_paths() -> list[str]:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| Path | Stage | What it is |"):].split("\n\n")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return [path for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])]


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()


def test_every_listed_path_exists():
    missing = [path for path in layout_paths() if not (REPO / path).exists()]
    assert not missing, f"the README's layout table names paths that do not exist: {missing}"


def test_every_room_of_the_tree_is_listed():
    listed = [path.rstrip("/") for path in layout_paths()]
    def covered(path):
        return any(path == entry or path.startswith(entry + "/") or entry.startswith(path + "/")
                                   for entry in listed)
    rooms = set()
    for path in tracked():
        parts = path.split("/")
        if parts[0].startswith(".") or path in UNLISTED_FILES:
            continue
        rooms.add(parts[0])
        if parts[0] == "scripts":  # scripts/ is split by stage: each part needs its own row
            rooms.add("/".join(parts[:2]))
    unlisted = sorted(room for room in rooms if not covered(room))
    assert not unlisted, f"the README's layout table does not list: {unlisted}"
