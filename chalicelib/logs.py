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


def _line(event: str, fields: dict[str, Any]) -> str:
    return json.dumps({"log": event, **fields}, ensure_ascii=False, default=str)


def info(event: str, **fields: Any) -> None:
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
