"""GET /calls?user=…|date=… and GET /calls/{id}?limit=…&next=…: what a read may ask for. Pure logic.

The index, its partition and the paging token's shape belong to the key layout
(keys.py); this module checks the request and asks it for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib import keys
from chalicelib.errors import BadQuery

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DEFAULT_EVENTS = 100  # events on one page of a call record
MAX_EVENTS = 500


@dataclass(frozen=True)
class ListingQuery:
    index: str  # keys.BY_USER or keys.BY_DATE
    partition: str  # the index partition (a user's calls, or a day's)
    sort_prefix: str | None  # a day within a user's calls
    limit: int
    start: dict[str, Any] | None  # DynamoDB ExclusiveStartKey, from the `next` token


def _day(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadQuery("date must be YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise BadQuery(f"date {value!r} is not a calendar day") from exc
    return value


def _limit(value: str | None, default: int = DEFAULT_LIMIT, most: int = MAX_LIMIT) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= most:
        raise BadQuery(f"limit must be a whole number from 1 to {most}")
    return int(value)


@dataclass(frozen=True)
class RecordQuery:
    limit: int  # events on the page
    start: dict[str, Any] | None  # DynamoDB ExclusiveStartKey, from the `next` token


def parse_record(conversation_uuid: str, params: Mapping[str, str] | None) -> RecordQuery:
    """?limit=N (events per page, 1-500, default 100) and next (from the previous page)."""
    params = params or {}
    unknown = set(params) - {"limit", "next"}
    if unknown:
        raise BadQuery(f"unknown parameters: {', '.join(sorted(unknown))}")
    limit = _limit(params.get("limit"), DEFAULT_EVENTS, MAX_EVENTS)
    try:
        start = keys.event_page_start(params.get("next"), conversation_uuid)
    except keys.InvalidPageToken as exc:
        raise BadQuery(str(exc)) from exc
    return RecordQuery(limit, start)


def parse_listing(params: Mapping[str, str] | None) -> ListingQuery:
    """?user=NAME[&date=YYYY-MM-DD] or ?date=YYYY-MM-DD, with limit and next."""
    params = params or {}
    unknown = set(params) - {"user", "date", "limit", "next"}
    if unknown:
        raise BadQuery(f"unknown parameters: {', '.join(sorted(unknown))}")
    user, day = params.get("user"), params.get("date")
    if user is not None and not 1 <= len(user) <= 250:
        raise BadQuery("user must be 1-250 characters")
    if not user and not day:
        raise BadQuery("give user=NAME or date=YYYY-MM-DD (or both)")
    index, partition, prefix = keys.listing_partition(user or None, _day(day) if day else None)
    limit = _limit(params.get("limit"))
    try:
        start = keys.page_start(params.get("next"), index, partition)
    except keys.InvalidPageToken as exc:
        raise BadQuery(str(exc)) from exc
    return ListingQuery(index, partition, prefix, limit, start)
