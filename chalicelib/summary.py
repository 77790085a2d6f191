"""The call summary: what happened to a call, from the events Vonage sent, and its views. Pure logic.

Vonage delivers events at least once and in any order. So every event is
reduced to its *facts* (its own time, leg, status and billing fields, keyed by
its content digest), and the summary is a pure function of the set of facts:
any permutation, with any duplicates, gives the identical summary. The store
keeps the facts on the call's SUMMARY item (one attribute per event) for the
history listings; a single call is summarised from its stored events. Both
go through `summarize`. The views are the two shapes the API returns: the
call record (GET /calls/{id}) and a listing entry (GET /calls).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

# Statuses that end a leg: a late `ringing` must not reopen it.
TERMINAL = frozenset({"completed", "busy", "cancelled", "unanswered", "rejected", "failed", "timeout"})
# Tie-break for equal timestamps: `started` and `ringing` are often created in
# the same millisecond and arrive either way round.
_PROGRESS = {"started": 0, "ringing": 1, "answered": 2, "disconnected": 3}
# Results of machine detection and transcription: not states of the leg.
NOT_LEG_STATE = frozenset({"human", "machine", "transcribed"})
FACT_CHARS = 64  # longer than any real value of a leg field
# Every event's facts are stored on the SUMMARY item, so their two always-present keys are short.
TIME = "t"  # the event's own timestamp (utc_iso), or when it was received
DIGEST = "d"  # the event's content digest: a redelivery has the same one
# Per-leg fields taken from status events (the latest non-empty value by status rank).
LEG_FIELDS = (
    "direction",
    "from",
    "to",
    "start_time",
    "end_time",
    "duration",
    "rate",
    "price",
    "network",
    "detail",
    "sip_code",
    "disconnected_by",
)


def event_facts(payload: Mapping[str, Any], timestamp: str, digest: str, kind: str) -> dict[str, Any]:
    """What the summary needs from one event (small: kept once per event on the SUMMARY item)."""
    facts: dict[str, Any] = {TIME: timestamp, DIGEST: digest, "kind": kind}
    status, leg = payload.get("status"), payload.get("uuid")
    if isinstance(status, str) and status not in NOT_LEG_STATE and isinstance(leg, str):
        facts["leg"] = leg
        facts["status"] = status[:FACT_CHARS]
        for field in LEG_FIELDS:
            value = payload.get(field)
            if isinstance(value, str) and value:
                facts[field] = value[:FACT_CHARS]  # keeps the SUMMARY item small (400 KB per item)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                facts[field] = value
    return facts


def _rank(facts: Mapping[str, Any]) -> tuple[int, str, int, str]:
    """Later wins within a tier: live states < `completed` < the failure statuses.

    A terminal status is never replaced by a live one that arrives late, and a
    failure (`busy`, `failed`…) is not hidden by the `completed` that Vonage
    sends with it: that one only marks the end (its billing fields still count).
    The digest breaks exact ties, so any arrival order gives the same answer.
    """
    status = facts["status"]
    tier = 0 if status not in TERMINAL else 1 if status == "completed" else 2
    return (tier, facts[TIME], _PROGRESS.get(status, len(_PROGRESS)), facts[DIGEST])


_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,12})?")  # a price as Vonage writes it: "0.01200000"
_SECONDS = re.compile(r"[0-9]{1,9}")


def _call_status(ranked: list[Mapping[str, Any]], legs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The call's status: what its callee legs (outbound) say, else any leg's.

    A leg still live means the call is in progress; otherwise the leg that ended
    last decides. So a busy callee followed by a fallback number that answered
    and completed reads `completed`, and a busy callee alone reads `busy`.
    """
    decisive = {f["leg"]: f for f in ranked}  # each leg's highest-ranked fact
    callees = [leg for leg in decisive if legs[leg].get("direction") == "outbound"]
    candidates = callees or list(decisive)
    if not candidates:
        return None

    def standing(leg: str) -> tuple[bool, str, tuple[int, str, int, str]]:
        f = decisive[leg]
        return (f["status"] not in TERMINAL, f[TIME], _rank(f))

    return decisive[max(candidates, key=standing)]["status"]


def _sum(values: Iterable[Any], pattern: re.Pattern[str], parse: type) -> Any:
    """Add the values that look like what Vonage sends; skip anything else (never raise).

    Prices are decimal strings added with Decimal: at most 24 digits each, so the sum of
    a call's legs is exact. Durations are whole seconds.
    """
    total, seen = parse(0), False
    for value in values:
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if pattern.fullmatch(text):
            total += parse(text)
            seen = True
    if not seen:
        return None
    return str(total) if parse is Decimal else total


def summarize(facts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The order-proof summary of a call from the facts of its events."""
    unique = {f[DIGEST]: f for f in facts}  # a duplicate delivery has the same digest
    ordered = sorted(unique.values(), key=lambda f: (f[TIME], f[DIGEST]))
    statuses = sorted((f for f in ordered if "status" in f), key=_rank)
    legs: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, tuple[str, str]] = {}
    for f in statuses:
        leg = legs.setdefault(f["leg"], {"uuid": f["leg"], "status": None, **dict.fromkeys(LEG_FIELDS)})
        leg["status"] = f["status"]
        for field in LEG_FIELDS:
            if field in f:
                leg[field] = f[field]
        first_seen[f["leg"]] = min(first_seen.get(f["leg"], (f[TIME], f["leg"])), (f[TIME], f["leg"]))
    leg_list = sorted(legs.values(), key=lambda leg: first_seen[leg["uuid"]])
    return {
        "status": _call_status(statuses, legs),
        "total_price": _sum((leg["price"] for leg in leg_list if leg["price"] is not None), _AMOUNT, Decimal),
        "total_duration": _sum(
            (leg["duration"] for leg in leg_list if leg["duration"] is not None), _SECONDS, int
        ),
        "first_event_time": ordered[0][TIME] if ordered else None,
        "last_event_time": ordered[-1][TIME] if ordered else None,
        "legs": leg_list,
    }


def _event_order(event: Mapping[str, Any]) -> tuple[str, int, str]:
    status = event["payload"].get("status")
    progress = _PROGRESS.get(status, len(_PROGRESS)) if isinstance(status, str) else len(_PROGRESS)
    return (event["timestamp"], progress, event["digest"])


def record_view(
    conversation_uuid: str,
    answers: list[dict[str, Any]],
    events: list[dict[str, Any]],
    fallbacks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """GET /calls/{id}, the call record: the summary, every answer, and every event as Vonage sent it.

    `events` are stored events: {"timestamp", "digest", "kind", "payload", "reply"?}.
    """
    events = sorted(events, key=_event_order)
    summary = summarize(event_facts(e["payload"], e["timestamp"], e["digest"], e["kind"]) for e in events)
    answers = sorted(answers, key=lambda a: a["received_at"])
    return {
        "conversation_uuid": conversation_uuid,
        "status": summary["status"],
        "total_price": summary["total_price"],
        "total_duration": summary["total_duration"],
        "first_event_time": summary["first_event_time"],
        "last_event_time": summary["last_event_time"],
        "answer": answers[0] if answers else None,
        "answers": answers,  # one per answered leg
        "fallbacks": sorted(fallbacks or [], key=lambda f: f["received_at"]),
        "transfers": [
            {
                key: e["payload"].get(key)
                for key in ("uuid", "conversation_uuid_from", "conversation_uuid_to", "timestamp")
            }
            for e in events
            if e["kind"] == "transfer"
        ],
        "failovers": [
            {"uuid": e["payload"].get("uuid"), "status": e["payload"].get("status"), "ncco": e["reply"]}
            for e in events
            if e.get("reply")
        ],
        "legs": summary["legs"],
        "events": [e["payload"] for e in events],
    }


def listing_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """One call in GET /calls?user=… or ?date=…, from its SUMMARY item (decoded by the store)."""
    summary = summarize(item["facts"])
    answers = sorted(item["answers"], key=lambda a: a["received_at"])
    first = answers[0] if answers else {}
    return {
        "conversation_uuid": item["conversation_uuid"],
        "user": item.get("user"),
        "started_at": item.get("started_at"),
        "decision": first.get("decision"),
        "reason": first.get("reason"),
        "destination": first.get("destination"),
        "caller_id": first.get("caller_id"),
        "fallback_used": bool(item.get("fallbacks")),
        **{
            key: summary[key]
            for key in ("status", "total_price", "total_duration", "first_event_time", "last_event_time")
        },
        "legs": len(summary["legs"]),
    }
