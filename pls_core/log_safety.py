"""Keep request values out of BentoML's error log.

On a validation error BentoML 1.4.40 logs `Exception on /path [POST]` with the traceback, and a
pydantic ValidationError's text quotes the input (the whole object for a missing field, a bad
value itself, a long text's first and last characters). pls_core/body_check.py validates every
API body first, so BentoML should never see one; this filter is the second line: a record that
carries a ValidationError loses its traceback and says only how many errors, of which types, at
which of the API's own fields. No BentoML import (pls_core never imports it): the logger is named.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

# Where BentoML's API wrapper logs the exceptions of an API call (bentoml/_internal/server/http_app.py).
BENTOML_EXCEPTION_LOGGER = "bentoml._internal.server.http_app"
MAX_LISTED = 50  # beyond this many errors, their types are not listed (pydantic would build every one)


class RedactValidationErrors(logging.Filter):
    """Replace a logged ValidationError's traceback by a one-line summary without input values."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], ValidationError):
            error: ValidationError = exc_info[1]
            count = error.error_count()
            kinds = "many kinds" if count > MAX_LISTED else ", ".join(
                sorted({item["type"] for item in error.errors(include_url=False, include_input=False)}))
            record.msg = f"{record.getMessage()}: {count} validation error(s) ({kinds}); input values are not logged"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def install(logger_name: str = BENTOML_EXCEPTION_LOGGER) -> None:
    """Add the filter to BentoML's API exception logger, once per process."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactValidationErrors) for existing in logger.filters):
        logger.addFilter(RedactValidationErrors())
