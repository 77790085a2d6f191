"""Every log line is one JSON object: searchable, and safe from whatever a request contains.

A request's ids and texts go into the JSON as values, so a newline or a `{` in a
conversation_uuid cannot start a line of its own; a traceback is one field. CloudWatch Logs
Insights reads a line that is JSON as fields, so nothing is written before it: the level is
its first member.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

log = logging.getLogger("callgate")

# compact: log ingestion is paid by the byte; default=str: a value JSON has no form for is shown;
# no cycle check (a cost per container): a line's fields are built as a tree
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, check_circular=False)


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object with its level first. callgate's own records hold the
    object already (its text, from line()); anyone else's (Chalice's "Caught exception for path
    …", with its traceback) is made one, its message and traceback fields of it."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith('{"log":') and not record.exc_info:
            return '{"level":"' + record.levelname + '",' + message[1:]
        fields: dict[str, Any] = {"level": record.levelname, "log": message, "logger": record.name}
        if record.exc_info:
            fields["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return _ENCODER.encode(fields)


# The libraries whose warnings reach a request's output (urllib3's "Connection pool is full",
# botocore's retries): their lines are JSON lines too, not the root logger's plain text
LIBRARIES = ("botocore", "boto3", "urllib3", "jwt")


def write_to(stream: Any) -> None:
    """Send callgate's lines, and the libraries' warnings, to `stream` (Lambda: stdout) as JSON
    lines and nowhere else; before the Chalice app is created, which then adds no handler of its
    own. The root logger is left alone (Lambda's runtime and test tools hang theirs there)."""
    for logger in (log, *(logging.getLogger(name) for name in LIBRARIES)):
        if not any(isinstance(handler.formatter, JsonLines) for handler in logger.handlers):
            handler = logging.StreamHandler(stream)
            handler.setFormatter(JsonLines())
            logger.addHandler(handler)
        logger.propagate = False
        if logger is not log and logger.level == logging.NOTSET:  # a library's warnings, not its debug
            logger.setLevel(logging.WARNING)
    # A lone surrogate (from a URL path's id, say) cannot be UTF-8: written as its \udXXX
    # escape, which JSON reads back, rather than losing the line to a UnicodeEncodeError.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def line(level: int, fields: dict[str, Any]) -> None:
    """One line of `fields`, at `level`: its first field is "log", what the line is about."""
    if log.isEnabledFor(level):
        _emit(level, _ENCODER.encode(fields))


def line_text(level: int, text: str) -> None:
    """One line that is JSON text already, its first member "log" (a request line)."""
    if log.isEnabledFor(level):
        _emit(level, text)


def _emit(level: int, text: str) -> None:
    """The record made and handled as Logger.log makes and handles it, but for the file and line
    that called (Logger.findCaller walks the stack for them, and no JSON line names them):
    Logger.makeRecord and Logger.handle, both documented for a record made this way."""
    log.handle(log.makeRecord(log.name, level, "(unknown file)", 0, text, None, None))


def json_text(value: Any) -> str:
    """`value` as a line writes it: compact JSON."""
    return _ENCODER.encode(value)


def info(event: str, **fields: Any) -> None:
    line(logging.INFO, {"log": event, **fields})


def warning(event: str, **fields: Any) -> None:
    line(logging.WARNING, {"log": event, **fields})


def error(event: str, **fields: Any) -> None:
    line(logging.ERROR, {"log": event, **fields})


def exception(event: str, exc: BaseException, **fields: Any) -> None:
    """An error with its traceback, as one field of the one line."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # type and message, not repr(): a repr can hold a whole value (a UnicodeError's object)
    error(event, **fields, error=f"{type(exc).__name__}: {exc}", traceback=trace)
