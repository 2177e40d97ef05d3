"""A request body checked against its API model before BentoML sees it, so that a bad request
gets a small, bounded 400 and the log never holds the values it carried.

BentoML 1.4.40 validates with `model_validate_json(body)`, logs the pydantic error with its
traceback (whose message quotes the input: a missing field quotes the whole object, a bad value
itself, a long one its first and last characters) and answers every error pydantic found: a
650 KB body of 60,000 unknown keys made a 10.7 MB log record and a 9 MB answer. Here the same
call decides, so the guard and BentoML agree on every body; the answer lists at most MAX_ERRORS
errors (location, message, type: never the input), and the log line names only the API's own
fields and error types. Duplicate keys, which JSON parsers settle silently (the last one wins),
are refused, naming the key.

No BentoML here (pls_core never imports it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

MAX_ERRORS = 10  # errors listed in one answer
MAX_NAME_CHARS = 64  # a key or location shown in an answer is cut to this


@dataclass(frozen=True)
class Refusal:
    """A 400: its JSON body, and a log line with no input value in it."""

    body: dict[str, Any]
    log: str


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def shown(name: object) -> str:
    """A key or location part as an answer may show it: at most MAX_NAME_CHARS, escapes visible."""
    text = name if isinstance(name, str) else str(name)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_NAME_CHARS else text[:MAX_NAME_CHARS] + "..."


def _loc_for_log(loc: Iterable[object], fields: frozenset[str]) -> str:
    """A location for the log: the API's own field names, anything else only as `?`."""
    parts = [part if isinstance(part, int) or part in fields else "?" for part in loc]
    return ".".join(str(part) for part in parts) or "body"


def check_body(body: bytes, model: Any) -> tuple[Refusal | None, Mapping[str, Any] | None]:
    """(None, the validated fields) for a good body, else (the 400 to send, None).

    `model` is the pydantic model BentoML validates the body with (the API's input_spec)."""
    fields = frozenset(getattr(model, "model_fields", {}))
    title = getattr(model, "__name__", "request").removesuffix("IODescriptor")
    try:
        parsed = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates) if body.strip() else {}
    except DuplicateKey as duplicate:
        name = duplicate.key if duplicate.key in fields else "?"
        return Refusal({"error": f"the JSON body has the key {shown(duplicate.key)!r} more than once: "
                                 "send each field once"},
                       f"duplicate key in the JSON body ({name})"), None
    except (UnicodeDecodeError, ValueError, RecursionError):
        parsed = None  # not JSON: pydantic's own error below says where
    if isinstance(parsed, dict) and fields:
        unknown = [key for key in parsed if key not in fields]
        if len(unknown) > MAX_ERRORS:
            # Do not ask pydantic for an error per key: name the first few and count the rest.
            detail = [{"type": "extra_forbidden", "loc": [shown(key)], "msg": "Extra inputs are not permitted"}
                      for key in unknown[:MAX_ERRORS]]
            return Refusal({"error": f"{len(unknown)} unknown fields in {title} (the first {MAX_ERRORS} are listed); "
                                     f"its fields are {', '.join(sorted(fields))}",
                            "detail": detail},
                           f"validation failed for {title}: {len(unknown)} unknown fields"), None
    try:
        validated = model.model_validate_json(body or b"{}")
    except ValidationError as error:
        return validation_refusal(error, title, fields), None
    return None, {name: getattr(validated, name) for name in fields}


def validation_refusal(error: ValidationError, title: str, fields: frozenset[str]) -> Refusal:
    count = error.error_count()
    errors = error.errors(include_url=False, include_context=False, include_input=False)[:MAX_ERRORS]
    detail = [{"type": item["type"], "loc": [part if isinstance(part, int) else shown(part) for part in item["loc"]],
               "msg": item["msg"]} for item in errors]
    listed = "" if count <= MAX_ERRORS else f" (the first {MAX_ERRORS} are listed)"
    plural = "error" if count == 1 else "errors"
    summary = ", ".join(f"{_loc_for_log(item['loc'], fields)}: {item['type']}" for item in errors)
    return Refusal({"error": f"{count} validation {plural} for {title}{listed}", "detail": detail},
                   f"validation failed for {title}: {count} {plural} ({summary})")
