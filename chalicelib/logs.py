"""Every log line is one JSON object: searchable, and safe from whatever a request contains.

A request's ids and texts go into the JSON as values, so a newline or a `{` in a
conversation_uuid cannot start a line of its own; a traceback is one field.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from chalicelib.webhooks import compact_json

log = logging.getLogger("callgate")


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line as the JSON object it already is, with its level first: no text before
    it (CloudWatch Logs Insights reads a line that is JSON as fields), and no formatting pass."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("{"):
            return '{"level":"' + record.levelname + '",' + message[1:] if len(message) > 2 else message
        return message


def write_to(stream: Any) -> None:
    """Send callgate's lines to `stream` (Lambda: stdout) and nowhere else; before the Chalice app
    is created, which then adds no handler of its own."""
    if not any(isinstance(handler, JsonLines) for handler in log.handlers):
        log.addHandler(JsonLines(stream))
    log.propagate = False


# json.dumps(…) would build this encoder for every line; compact: log ingestion is paid by the byte
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


_plain_line = compact_json(sort_keys=False)  # the same text, set up once; plain values only


def _line(event: str, fields: dict[str, Any]) -> str:
    return _ENCODER.encode({"log": event, **fields})


def _emit(level: int, line: str) -> None:
    """log.log(level, line), but written straight to the stream when callgate's one handler is its
    own JsonLines (as in Lambda): the line is final, and building a LogRecord (caller, time,
    thread…) costs three times the write. With any other handler or filter (a test's capture, a
    deployment's own) the line goes through logging as usual."""
    handlers = log.handlers
    if len(handlers) == 1 and not log.propagate and not log.filters:
        handler = handlers[0]
        if type(handler) is JsonLines and not handler.filters and level >= handler.level:
            text = '{"level":"' + logging.getLevelName(level) + '",' + line[1:] + "\n"
            written = False
            try:
                with handler.lock:  # type: ignore[union-attr]
                    handler.stream.write(text)
                    written = True
                    handler.stream.flush()
                return
            except Exception:  # logging reports it (handleError) on the way below
                if written:  # the line is out (a flush failed): not twice
                    return
    log.log(level, line)


def info(event: str, **fields: Any) -> None:
    if log.isEnabledFor(logging.INFO):  # the line is not built for nothing
        _emit(logging.INFO, _line(event, fields))


def info_with(event: str, fields: dict[str, Any], encoded: str) -> None:
    """info() with more fields already encoded as one JSON object (for something else too).
    `fields`: text, numbers, booleans and None only (the answer line's ids and flags)."""
    if log.isEnabledFor(logging.INFO):
        line = _plain_line({"log": event, **fields})
        _emit(logging.INFO, line if encoded == "{}" else line[:-1] + "," + encoded[1:])


def warning(event: str, **fields: Any) -> None:
    log.warning(_line(event, fields))


def error(event: str, **fields: Any) -> None:
    log.error(_line(event, fields))


def exception(event: str, exc: BaseException, **fields: Any) -> None:
    """An error with its traceback, as one field of the one line."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # type and message, not repr(): a repr can hold a whole value (a UnicodeError's object)
    log.error(_line(event, {**fields, "error": f"{type(exc).__name__}: {exc}", "traceback": trace}))
