"""Every log line is one JSON object: searchable, and safe from whatever a request contains.

A request's ids and texts go into the JSON as values, so a newline or a `{` in a
conversation_uuid cannot start a line of its own; a traceback is one field.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

log = logging.getLogger("callgate")


# json.dumps(…, ensure_ascii=False, default=str) would build this encoder for every line
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def _line(event: str, fields: dict[str, Any]) -> str:
    return _ENCODER.encode({"log": event, **fields})


def info(event: str, **fields: Any) -> None:
    info_fields(event, fields)


def info_fields(event: str, fields: dict[str, Any]) -> None:
    """info() for fields already in a dict (a record's), so they are not copied once more."""
    if log.isEnabledFor(logging.INFO):  # the line is not built for nothing
        log.info(_line(event, fields))


def warning(event: str, **fields: Any) -> None:
    log.warning(_line(event, fields))


def error(event: str, **fields: Any) -> None:
    log.error(_line(event, fields))


def exception(event: str, exc: BaseException, **fields: Any) -> None:
    """An error with its traceback, as one field of the one line."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # type and message, not repr(): a repr can hold a whole value (a UnicodeError's object)
    log.error(_line(event, {**fields, "error": f"{type(exc).__name__}: {exc}", "traceback": trace}))
