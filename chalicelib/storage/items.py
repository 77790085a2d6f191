"""The calls table's items in DynamoDB's typed form: how each write is spelled, and how a SUMMARY
item reads back. The keys themselves are chalicelib/keys.py's."""

from __future__ import annotations

from typing import Any

from chalicelib import keys, summary
from chalicelib.keys import SummaryAttribute

NULL = {"NULL": True}


def typed_key(key: keys.Key) -> dict[str, dict[str, str]]:
    """A key in DynamoDB's typed form (both its parts are strings)."""
    return {keys.PARTITION_KEY: {"S": key[keys.PARTITION_KEY]}, keys.SORT_KEY: {"S": key[keys.SORT_KEY]}}


def text(value: Any) -> dict[str, Any]:
    """A string attribute, or NULL for anything else."""
    return {"S": value} if isinstance(value, str) else NULL


def first_answer(leg_key: str, answer: dict[str, Any]) -> dict[str, Any]:
    """What a listing shows of an answer (a map, so a condition can name its uuid)."""
    shown = ("direction", "decision", "reason", "destination", "caller_id", "callee")
    return {"M": {"uuid": {"S": leg_key}, **{name: text(answer.get(name)) for name in shown}}}


def voicemail(fields: dict[str, Any]) -> dict[str, Any]:
    """summary.voicemail_fields as a map: text, whole numbers, NULL for what the event lacked."""
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            typed[name] = {"S": value}
        elif isinstance(value, int) and not isinstance(value, bool):
            typed[name] = {"N": str(value)}
        else:
            typed[name] = NULL
    return {"M": typed}


def _decode_voicemail(item: dict[str, Any]) -> dict[str, Any] | None:
    kept = item.get(SummaryAttribute.VOICEMAIL, {}).get("M")
    if not kept:
        return None
    decoded: dict[str, Any] = {}
    for name, value in kept.items():
        if "S" in value:
            decoded[name] = value["S"]
        elif "N" in value:
            decoded[name] = int(value["N"])
        else:
            decoded[name] = None
    return decoded


def decode_summary(item: dict[str, Any]) -> dict[str, Any]:
    """A SUMMARY item (or its copy in an index) as summary.listing_view and record_view read it."""
    first = item.get(SummaryAttribute.FIRST_ANSWER, {}).get("M", {})
    # either index's sort key holds when the call started (a by_user row has only its own)
    order = next((item[sk]["S"] for _, sk in keys.INDEXES.values() if sk in item), None)
    facts = (
        summary.StatusFact.decode(text) for text in item.get(SummaryAttribute.STATUSES, {}).get("SS", [])
    )
    return {
        "conversation_uuid": keys.conversation_of(item[keys.PARTITION_KEY]["S"]),
        "user": item.get(SummaryAttribute.USER, {}).get("S"),
        "started_at": keys.started_at_of(order) if order is not None else None,
        "first_answer": {name: value.get("S") for name, value in first.items()},
        "fallback_used": item.get(SummaryAttribute.FALLBACK_USED, {}).get("BOOL", False),
        "facts": [fact for fact in facts if fact is not None],
        "total_price": item.get(SummaryAttribute.TOTAL_PRICE, {}).get("N"),
        "total_duration": item.get(SummaryAttribute.TOTAL_DURATION, {}).get("N"),
        "event_count": int(item.get(SummaryAttribute.EVENT_COUNT, {}).get("N", "0")),
        "voicemail": _decode_voicemail(item),
    }
