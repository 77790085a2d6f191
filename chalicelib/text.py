"""Client text as records and logs keep it: small whatever a client sends (a DynamoDB item is at
most 400 KiB, a log line is paid by the byte), and always valid UTF-8; and JSON as they keep it."""

from __future__ import annotations

import json
from typing import Any

# Compact JSON, as JavaScript's JSON.stringify writes it. What it encodes is parsed JSON or built
# as a tree, never a cycle: no cycle check (a cost per container).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def compact_json(value: Any) -> str:
    """`value` as compact JSON with its own key order: how a payload, an answer or an NCCO is
    stored, and how a request line's metrics are written."""
    return _COMPACT.encode(value)


def clip(value: Any, limit: int = 100) -> Any:
    """Text cut to `limit` characters, marked with …; anything else as it is."""
    return value[:limit] + "…" if isinstance(value, str) and len(value) > limit else value


def as_text(value: Any) -> str | None:
    """A request field as text: JSON integers become digits; anything else stays visibly odd.

    A float is not digits: 1415555010.0 must not become 14155550100.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{type(value).__name__}:{json.dumps(value)}"


def shown(value: Any, limit: int = 100) -> str | None:
    """A client value as records and logs keep it: text, clipped, any lone surrogate escaped."""
    text = clip(as_text(value), limit)
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")
