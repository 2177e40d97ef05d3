"""Check a stored model's files against the sha256 recorded when it was imported.

scripts/models/import_models.py records `files_sha256` (POSIX relative path -> hex digest) in the
model's metadata. Pickles run code when loaded, so the classifier checks them first: a file
changed in the store after import stops the service instead of being unpickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


class TamperedModelError(RuntimeError):
    """A model file differs from the one imported (or the record of it is missing)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_files(folder: str | Path, metadata: dict, names: Iterable[str], tag: object = "") -> None:
    """Raise TamperedModelError naming the first of `names` whose sha256 is not the recorded one."""
    recorded = metadata.get("files_sha256") or {}
    for name in names:
        expected = recorded.get(name)
        if expected is None:
            raise TamperedModelError(f"model {tag}: no sha256 recorded for {name}; re-import it with "
                                     "`python scripts/models/import_models.py`")
        if sha256_of(Path(folder) / name) != expected:
            raise TamperedModelError(f"model {tag}: {name} does not match the sha256 recorded at import; "
                                     "refusing to load it (restore the store or re-import the model)")
