"""What a route takes and gives back: the request's parts and the reply, free of Chalice.

app.py reads a Request from Chalice's request and turns a Reply into Chalice's Response;
everything between is plain values, so tests drive the routes without Chalice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Request(NamedTuple):
    """A webhook request as Vonage sent it: everything a signature covers, and its Authorization."""

    query: Mapping[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = None
    authorization: str | None = None


class Reply(NamedTuple):
    """A JSON reply: `body`, encoded by app.py unless `text` is its JSON already; `headers` come
    besides Content-Type."""

    status: int
    body: Any
    headers: Mapping[str, str] | None = None
    text: str | None = None
