"""Fail `bentoml serve` at once, with the fix, when a model is not in the BentoML store.

Without this, BentoML looks for a missing model in BentoCloud and reports "failed to fetch
from remote because No cloud context default found", which names neither the model's
origin nor the import step.
"""

from __future__ import annotations

import os

from bentoml.exceptions import NotFound
from bentoml.models import BentoModel

IMPORT_COMMAND = "python scripts/models/import_models.py"


class ModelMissingError(NotFound):
    """A model tag the service needs is not in the store it serves from."""


def require_stored(*tags: str) -> None:
    """Raise ModelMissingError naming every tag that the serving model store lacks."""
    # The same lookup BentoModel makes when serving (the bento's own store inside a container).
    missing = [tag for tag in tags if BentoModel(tag).stored is None]
    if missing:
        home = os.environ.get("BENTOML_HOME", "~/bentoml")
        raise ModelMissingError(
            f"model {', '.join(missing)} is not in the BentoML store (BENTOML_HOME={home}); import it with "
            f"`{IMPORT_COMMAND}` using the same BENTOML_HOME, or set PLS_SIMPLIFIER_TAG / PLS_CLASSIFIER_TAG "
            "to a tag listed by `bentoml models list`"
        )
