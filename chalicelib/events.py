"""An event-URL payload as the store keeps it: its call and leg, kind, time and digest. Pure.

Vonage delivers events at least once, in any order, and sends no type field: the kind is
read from the fields present, the time from the payload's own timestamp (else the time it
arrived), and the digest identifies the payload whatever its key order, so a redelivery is
stored once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chalicelib.errors import WebhookError
from chalicelib.times import utc_iso
from chalicelib.webhooks import MAX_ID_CHARS, identifier

MAX_STORED_BYTES = 300_000  # the payload as stored, leaving room in a 400 KiB item
_LABEL = re.compile(r"[a-z_]{1,20}")  # a status that can be part of a key, for people browsing the table
# the kind of an event without a status, by the first of these fields it has
_KIND_FIELDS = (
    ("conversation_uuid_from", "transfer"),
    ("speech", "input"),
    ("dtmf", "input"),
    ("recording_url", "record"),
    ("reason", "error"),
    ("payload", "notify"),
)
# compact_json's form (text.py) with the keys sorted: the same payload whatever its key order
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, check_circular=False)


class Event(NamedTuple):
    conversation_uuid: str
    leg_uuid: str | None  # `uuid`, or `call_uuid` on human/machine events
    kind: str  # status, record, transcription, input, transfer, notify, error, other
    status: str | None
    timestamp: str  # utc_iso(); from the payload, else the time received
    timed: bool  # the payload carries its own timestamp (a redelivery has the same one)
    label: str  # its status, or its kind: part of the key, for people browsing the table
    digest: str  # identifies the payload, so a redelivery is stored once
    payload: dict[str, Any]
    also_conversation: str | None = None  # a transfer is filed under both conversations


def event_kind(payload: Mapping[str, Any]) -> str:
    """The kind of event: the .NET SDK's precedence (EventBase.cs), as Vonage sends no type."""
    if payload.get("status") == "transcribed":
        return "transcription"
    if "status" in payload:
        return "status"
    return next((kind for field, kind in _KIND_FIELDS if field in payload), "other")


# Vonage's own format (UTC, milliseconds, Z) for a time that always exists: every field in range,
# a four-digit year, a day every month has. Its utc_iso() is the same text to the microsecond.
_VONAGE_TIME = re.compile(
    r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
)


def payload_time(value: Any) -> str | None:
    """The payload's own time as utc_iso(), or None if it has none usable."""
    if not isinstance(value, str):
        return None
    if _VONAGE_TIME.fullmatch(value):  # what every event carries: no need to parse it
        return value[:23] + "000Z"
    try:
        moment = datetime.fromisoformat(value)
        return utc_iso(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))  # naive: UTC
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
        return None  # stored unchanged all the same; ordered by arrival instead


def payload_digest(payload: Mapping[str, Any]) -> str:
    """Identifies a payload whatever its key order: a redelivery has the same digest."""
    return _digest(_CANONICAL.encode(payload).encode())


def _digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()[:20]


def parse_event(payload: dict[str, Any], received_at: str) -> Event:
    """Validate an event-URL payload (`received_at`: utc_iso of its arrival); WebhookError (400,
    or 413 when too large to store) if it is unusable."""
    leg = identifier(payload, "uuid", "call_uuid")
    # transfer events name the conversation the legs left as conversation_uuid_from
    conversation = identifier(payload, "conversation_uuid", "conversation_uuid_from")
    if conversation is None:
        if leg is None:
            raise WebhookError("event has none of conversation_uuid, uuid, call_uuid")
        raise WebhookError("event has no conversation_uuid, so it belongs to no call")
    canonical = _CANONICAL.encode(payload).encode()
    if len(canonical) > MAX_STORED_BYTES:
        raise WebhookError(f"event is larger than {MAX_STORED_BYTES} bytes as JSON", status=413)
    transferred_to = (
        identifier(payload, "conversation_uuid_to") if "conversation_uuid_from" in payload else None
    )
    kind = event_kind(payload)
    status = payload.get("status")
    if isinstance(status, str):
        label = status if _LABEL.fullmatch(status) else kind
        if len(status) > MAX_ID_CHARS:
            status = None
    else:
        status, label = None, kind
    timestamp = payload_time(payload.get("timestamp"))
    return Event(
        conversation_uuid=conversation,
        leg_uuid=leg,
        kind=kind,
        status=status,
        timestamp=timestamp or received_at,
        timed=timestamp is not None,
        label=label,
        digest=_digest(canonical),
        payload=payload,
        also_conversation=transferred_to if transferred_to != conversation else None,
    )
