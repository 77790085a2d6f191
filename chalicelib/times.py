"""Times as callgate keeps them: UTC ISO 8601 text of one fixed width, so strings sort as times."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime) -> str:
    """`2026-11-21T09:15:00.123456Z`: UTC, microseconds, a four-digit year (a naive time is local
    time, as datetime.astimezone takes it)."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    fields = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % fields  # noqa: UP031 (one format of seven numbers)


def expiry(moment: datetime, days: int) -> int:
    """Epoch seconds `days` after `moment`: the DynamoDB TTL of an item written then."""
    return int(moment.timestamp()) + days * 86_400
