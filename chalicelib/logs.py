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


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line as the JSON object it already is, with its level first: no text before
    it (CloudWatch Logs Insights reads a line that is JSON as fields), and no formatting pass."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("{") and not record.exc_info:
            return '{"level":"' + record.levelname + '",' + message[1:] if len(message) > 2 else message
        # Someone else's line (Chalice's "Caught exception for path …", with its traceback):
        # made one JSON object too, the traceback a field of it.
        fields: dict[str, Any] = {"level": record.levelname, "log": message}
        if record.exc_info:
            fields["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return _ENCODER.encode(fields)


def write_to(stream: Any) -> None:
    """Send callgate's lines to `stream` (Lambda: stdout) and nowhere else; before the Chalice app
    is created, which then adds no handler of its own."""
    if not any(isinstance(handler, JsonLines) for handler in log.handlers):
        log.addHandler(JsonLines(stream))
    log.propagate = False
    # A lone surrogate (from a URL path's id, say) cannot be UTF-8: written as its \udXXX
    # escape, which JSON reads back, rather than losing the line to a UnicodeEncodeError.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


# json.dumps(…) would build this encoder for every line; compact: log ingestion is paid by the byte
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def _line(event: str, fields: dict[str, Any]) -> str:
    return _ENCODER.encode({"log": event, **fields})


INFO_PREFIX = '{"level":"INFO",'  # how JsonLines starts a line logged at INFO
_INFO_SKIP = len(INFO_PREFIX)


def request(text: str) -> None:
    """Write a request line: `text` is already what JsonLines would write for it at INFO
    (metrics.line: INFO_PREFIX first, a newline last), so the usual case copies nothing.

    Straight to the stream when callgate's one handler is its own JsonLines (as in Lambda):
    building a LogRecord (caller, time, thread…) costs three times the write. With any other
    handler or filter (a test's capture, a deployment's own) the line goes through logging as
    usual, as the JSON object JsonLines adds the level to."""
    if not log.isEnabledFor(logging.INFO):
        return
    handlers = log.handlers
    if len(handlers) == 1 and not log.propagate and not log.filters:
        handler = handlers[0]
        if type(handler) is JsonLines and not handler.filters and handler.level <= logging.INFO:
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
    log.info("{" + text[_INFO_SKIP:-1])


def warning(event: str, **fields: Any) -> None:
    log.warning(_line(event, fields))


def error(event: str, **fields: Any) -> None:
    log.error(_line(event, fields))


def exception(event: str, exc: BaseException, **fields: Any) -> None:
    """An error with its traceback, as one field of the one line."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # type and message, not repr(): a repr can hold a whole value (a UnicodeError's object)
    log.error(_line(event, {**fields, "error": f"{type(exc).__name__}: {exc}", "traceback": trace}))
