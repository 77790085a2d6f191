"""GET /calls?user=…|date=…: query validation and opaque paging tokens. Pure logic."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.tables import INDEXES, PARTITION_KEY, SORT_KEY, SUMMARY_SK

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_MAX_TOKEN_CHARS = 4096


class BadQuery(ValueError):
    """A listing request that can never succeed: answered with 400 and this message."""


@dataclass(frozen=True)
class ListingQuery:
    index: str  # tables.INDEXES
    key: str  # the index partition: USER#<user> or DATE#<day>
    sort_prefix: str | None  # a day within a user's calls
    limit: int
    start: dict[str, Any] | None  # DynamoDB ExclusiveStartKey, from the `next` token

    def token(self, last_key: Mapping[str, Any] | None) -> str | None:
        """The opaque `next` for the page after one that ended at `last_key`."""
        if not last_key:
            return None
        raw = json.dumps({"i": self.index, "q": self.key, "k": last_key}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _day(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadQuery("date must be YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise BadQuery(f"date {value!r} is not a calendar day") from exc
    return value


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _start(token: str | None, index: str, key: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey inside a `next` token, if it is exactly one this query could return.

    Checked item by item, so nothing a client makes up reaches DynamoDB.
    """
    if token is None:
        return None
    try:
        if len(token) > _MAX_TOKEN_CHARS:
            raise ValueError("too long")
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded.get("i") != index or decoded.get("q") != key:
            raise LookupError
        start = {name: value["S"] for name, value in decoded["k"].items() if set(value) == {"S"}}
    except LookupError as exc:
        raise BadQuery("next belongs to a different query") from exc
    except (ValueError, TypeError, AttributeError, binascii.Error) as exc:
        raise BadQuery("next is not a token this API returned") from exc
    index_pk, index_sk = INDEXES[index]
    expected_keys = {PARTITION_KEY, SORT_KEY, index_pk, index_sk}
    if (
        set(start) != expected_keys
        or set(decoded["k"]) != expected_keys
        or not all(isinstance(value, str) for value in start.values())
        or start[SORT_KEY] != SUMMARY_SK
        or start[index_pk] != key
        or not start[PARTITION_KEY].startswith("CALL#")
        or not start[index_sk].endswith("#" + start[PARTITION_KEY].removeprefix("CALL#"))
        or max(len(value) for value in start.values()) > 600
    ):
        raise BadQuery("next is not a token this API returned")
    return {name: {"S": value} for name, value in start.items()}


def parse_listing(params: Mapping[str, str] | None) -> ListingQuery:
    """?user=NAME[&date=YYYY-MM-DD] or ?date=YYYY-MM-DD, with limit and next."""
    params = params or {}
    unknown = set(params) - {"user", "date", "limit", "next"}
    if unknown:
        raise BadQuery(f"unknown parameters: {', '.join(sorted(unknown))}")
    user, day = params.get("user"), params.get("date")
    if user is not None and not 1 <= len(user) <= 250:
        raise BadQuery("user must be 1-250 characters")
    if user:
        index, key, prefix = "by_user", f"USER#{user}", _day(day) if day else None
    elif day:
        index, key, prefix = "by_date", f"DATE#{_day(day)}", None
    else:
        raise BadQuery("give user=NAME or date=YYYY-MM-DD (or both)")
    return ListingQuery(
        index, key, prefix, _limit(params.get("limit")), _start(params.get("next"), index, key)
    )
