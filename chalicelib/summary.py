"""The call summary: what happened to a call, from the status events Vonage sent. Pure logic.

Vonage delivers events at least once and in any order, so the summary is a pure
function of the *set* of a call's status events: any order, with any duplicates,
gives the identical summary. Only a leg's status events change it (inputs,
recordings, transcriptions and notifications do not), and Vonage reports each of
a leg's eleven statuses once, so what the store keeps stays the same size
however many events a call has:

- the SUMMARY item holds one short StatusFact per status event in a string set
  (time, status, direction and a tag of the leg: about 25 bytes), and the sums of
  the prices and durations Vonage reported;
- each leg's LEG item holds its LegFacts: the leg fields of each status event.

A set union and a sum are the only merges DynamoDB makes without reading the item
first, so every event is one unconditional update, and the same events in any
order leave the same set and the same sums. The views are the two shapes the API
returns: the call record (GET /calls/{id}) and a listing entry (GET /calls).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from chalicelib.errors import WebhookError

# A leg's states and the one-letter code a StatusFact stores for each. Vonage's other
# `status` values are results, not states of the leg (human, machine, transcribed).
LEG_STATES: dict[str, str] = {
    "started": "s",
    "ringing": "r",
    "answered": "a",
    "disconnected": "d",
    "completed": "c",
    "busy": "b",
    "cancelled": "x",
    "unanswered": "u",
    "rejected": "j",
    "failed": "f",
    "timeout": "t",
}
_STATE_OF_CODE = {code: status for status, code in LEG_STATES.items()}
# Statuses that end a leg: a late `ringing` must not reopen it.
TERMINAL = frozenset({"completed", "busy", "cancelled", "unanswered", "rejected", "failed", "timeout"})
# Tie-break for equal timestamps: `started` and `ringing` are often created in
# the same millisecond and arrive either way round.
PROGRESS = {"started": 0, "ringing": 1, "answered": 2, "disconnected": 3}
_DIRECTION_CODES = {"inbound": "i", "outbound": "o"}
_DIRECTION_OF_CODE = {code: direction for direction, code in _DIRECTION_CODES.items()}
FACT_CHARS = 64  # longer than any real value of a leg field
_BIG = 10**18  # a number a leg field keeps is smaller than this (Vonage's are a few digits)
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_MS = 10**13 - 1  # 13 digits: until the year 2286
_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,12})?")  # a price as Vonage writes it: "0.01200000"
_SECONDS = re.compile(r"[0-9]{1,9}")
_PRICE_PLACES = Decimal("0.00000001")  # Vonage's prices have 8 decimal places


@lru_cache(maxsize=1024)  # a leg's events tend to reach the same container, one after another
def leg_tag(leg: str) -> str:
    """A short stand-in for a leg's uuid on the SUMMARY item: only tells a call's legs apart."""
    return hashlib.blake2b(leg.encode("utf-8"), digest_size=4).hexdigest()


def event_ms(timestamp: str) -> int:
    """A utc_iso() timestamp as epoch milliseconds (Vonage's precision), clipped to 13 digits."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:  # utc_iso() writes a year before 1000 with fewer digits: clipped to 0 too
        return 0
    return min(max((moment - _EPOCH) // _MS, 0), _MAX_MS)


def ms_iso(ms: int) -> str:
    """Epoch milliseconds as utc_iso() writes a time."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StatusFact(NamedTuple):
    """One status event as the SUMMARY item keeps it: enough for the call's status and times.
    (A tuple: immutable, and built on every status event at a fraction of a dataclass's cost.)"""

    ms: int
    status: str  # a key of LEG_STATES
    direction: str | None  # "inbound", "outbound" or None when the event had neither
    leg: str  # leg_tag() of the leg's uuid

    def encode(self) -> str:
        """`<ms, 13 digits> <status code><direction code> <leg tag>`: sorts by time."""
        direction = _DIRECTION_CODES.get(self.direction or "", "-")
        return f"{self.ms:013d} {LEG_STATES[self.status]}{direction} {self.leg}"

    @classmethod
    def decode(cls, text: str) -> StatusFact | None:
        """None for anything this code did not write."""
        parts = text.split(" ")
        if len(parts) != 3 or len(parts[0]) != 13 or not parts[0].isdigit() or len(parts[1]) != 2:
            return None
        status = _STATE_OF_CODE.get(parts[1][0])
        if status is None:
            return None
        return cls(int(parts[0]), status, _DIRECTION_OF_CODE.get(parts[1][1]), parts[2])

    def rank(self) -> tuple[int, int, int, str]:
        """Later wins within a tier: live states < `completed` < the failure statuses.

        A terminal status is never replaced by a live one that arrives late, and a
        failure (`busy`, `failed`…) is not hidden by the `completed` that Vonage
        sends with it: that one only marks the end. The encoded fact breaks exact
        ties, so any arrival order gives the same answer.
        """
        tier = 0 if self.status not in TERMINAL else 1 if self.status == "completed" else 2
        return (tier, self.ms, PROGRESS.get(self.status, len(PROGRESS)), self.encode())


def leg_state(payload: Mapping[str, Any]) -> str | None:
    """The leg state an event reports, if it reports one."""
    status = payload.get("status")
    return status if isinstance(status, str) and status in LEG_STATES else None


def status_fact(payload: Mapping[str, Any], ms: int, leg: str) -> StatusFact:
    """The SUMMARY's fact for a status event (leg_state(payload) is not None)."""
    direction = payload.get("direction")
    known = type(direction) is str and direction in _DIRECTION_CODES  # a list is no key: no lookup
    return StatusFact(ms, payload["status"], direction if known else None, leg_tag(leg))


def leg_fact(
    payload: Mapping[str, Any], ms: int, reply: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The LEG item's fact for a status event: its time, status, leg fields and any failover."""
    fact: dict[str, Any] = {"ms": ms, "status": payload["status"]}
    for field in LEG_FIELDS:
        value = payload.get(field)
        if value is None:
            continue
        if isinstance(value, str):
            if value:
                fact[field] = value[:FACT_CHARS]  # keeps the LEG item small
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and -_BIG < value < _BIG:
            fact[field] = value  # a number as sent, unless it is too long to be any real value
    if reply is not None:
        fact["ncco"] = reply
    return fact


def billed(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The event's price and duration as DynamoDB numbers, when they look like what Vonage sends
    (anything else is skipped, never an error). Sums of them are exact: DynamoDB numbers hold
    38 digits and a price at most 24."""

    price, duration = payload.get("price"), payload.get("duration")
    return (
        None if price is None else _number(price, _AMOUNT),  # absent: most status events
        None if duration is None else _number(duration, _SECONDS),
    )


def _number(value: Any, pattern: re.Pattern[str]) -> str | None:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return text if pattern.fullmatch(text) else None


MAX_URL_CHARS = 2048  # a recording's URL at Vonage is about 70 characters
VOICEMAIL_FIELDS = ("recording_url", "recording_uuid", "start_time", "end_time", "duration", "size")


def voicemail_fields(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the call record and listing keep of a voicemail's `record` event: where the recording
    is (it stays at Vonage), its uuid, times, length in seconds (end_time - start_time: the event
    has no duration) and size in bytes. None when the event names no recording."""
    url = payload.get("recording_url")
    if type(url) is not str or not url.startswith(("https://", "http://")) or len(url) > MAX_URL_CHARS:
        return None
    recording_uuid, size = payload.get("recording_uuid"), payload.get("size")
    start, end = (_moment(payload.get(name), name) for name in ("start_time", "end_time"))
    seconds = round((end - start).total_seconds()) if start is not None and end is not None else None
    return {
        "recording_url": url,
        "recording_uuid": recording_uuid[:FACT_CHARS] if type(recording_uuid) is str else None,
        "start_time": utc_text(start),
        "end_time": utc_text(end),
        "duration": seconds if seconds is not None and 0 <= seconds < _BIG else None,
        "size": size if type(size) is int and 0 <= size < _BIG else None,
    }


def _moment(value: Any, name: str) -> datetime | None:
    """A Vonage time (`2020-01-01T12:00:00.000Z`) as an aware datetime; None for anything else
    but a time that is no time in UTC (the year 1 at +14:00, 9999-12-31 at -14:00): WebhookError
    (400), which no recording Vonage made can have."""
    if type(value) is not str or len(value) > FACT_CHARS:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise WebhookError(f"{name} {value!r} is outside the years 1 to 9999 in UTC") from None


def utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def voicemail_view(call: Mapping[str, Any]) -> dict[str, Any] | None:
    """The call's voicemail as GET /calls/{id} and GET /calls show it: the recording and the app
    user it was left for (an app-to-app call's callee, else the call's user; None when the call
    went to nobody)."""
    kept = call.get("voicemail")
    if not kept:
        return None
    callee = (call.get("first_answer") or {}).get("callee")
    return {**{name: kept.get(name) for name in VOICEMAIL_FIELDS}, "user": callee or call.get("user")}


def price_text(total: str | None) -> str | None:
    """A summed price with Vonage's 8 decimal places (more if a price had more)."""
    if total is None:
        return None
    amount = Decimal(total)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -8:
        amount = amount.quantize(_PRICE_PLACES)
    return format(amount, "f")


def summarize(
    facts: Iterable[StatusFact], total_price: str | None, total_duration: str | None
) -> dict[str, Any]:
    """The order-proof summary of a call: its status, sums, first and last status times, legs.

    The call's status is what its callee legs (outbound) say, else any leg's. A leg
    still live means the call is in progress; otherwise the leg that ended last
    decides. So a busy callee followed by a fallback number that answered and
    completed reads `completed`, and a busy callee alone reads `busy`.
    """
    decisive: dict[str, StatusFact] = {}  # each leg's highest-ranked fact
    direction: dict[str, tuple[tuple[int, int, int, str], str]] = {}  # the latest known direction
    first = last = None
    for fact in facts:
        rank = fact.rank()
        if fact.leg not in decisive or rank > decisive[fact.leg].rank():
            decisive[fact.leg] = fact
        if fact.direction is not None and (fact.leg not in direction or rank > direction[fact.leg][0]):
            direction[fact.leg] = (rank, fact.direction)
        first = fact.ms if first is None else min(first, fact.ms)
        last = fact.ms if last is None else max(last, fact.ms)
    callees = [leg for leg in decisive if direction.get(leg, (None, None))[1] == "outbound"]
    candidates = callees or list(decisive)

    def standing(leg: str) -> tuple[bool, int, tuple[int, int, int, str]]:
        fact = decisive[leg]
        return (fact.status not in TERMINAL, fact.ms, fact.rank())

    return {
        "status": decisive[max(candidates, key=standing)].status if candidates else None,
        "total_price": price_text(total_price),
        "total_duration": None if total_duration is None else int(total_duration),
        "first_event_time": None if first is None else ms_iso(first),
        "last_event_time": None if last is None else ms_iso(last),
        "legs": len(decisive),
    }


def leg_view(leg: str, facts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One leg of the call record: its status and fields, each from its highest-ranked fact."""
    tag = leg_tag(leg)

    def rank(fact: Mapping[str, Any]) -> tuple[int, int, int, str]:
        direction = fact.get("direction")
        return StatusFact(
            fact["ms"], fact["status"], direction if direction in _DIRECTION_CODES else None, tag
        ).rank()

    view: dict[str, Any] = {"uuid": leg, "status": None, **dict.fromkeys(LEG_FIELDS)}
    for fact in sorted(facts, key=rank):
        view["status"] = fact["status"]
        for field in LEG_FIELDS:
            if field in fact:
                view[field] = fact[field]
    return view


def record_view(
    conversation_uuid: str,
    call: Mapping[str, Any] | None,
    answers: list[dict[str, Any]],
    fallbacks: list[dict[str, Any]],
    legs: list[dict[str, Any]],
    events: list[dict[str, Any]],
    next_page: str | None,
) -> dict[str, Any]:
    """GET /calls/{id}, the call record: the summary, every answer, leg and fallback use, and
    one page of the events as Vonage sent them.

    `call`: the decoded SUMMARY item (None if the call has none); `legs`: {"uuid", "facts",
    "transfers"} per LEG item; `events`: stored events in key order.
    """
    call = call or {}
    moves = [{"uuid": leg["uuid"], **moved} for leg in legs for moved in leg["transfers"]]
    legs = [leg for leg in legs if leg["facts"]]  # a leg known only from a transfer has no state here
    summary = summarize(call.get("facts", ()), call.get("total_price"), call.get("total_duration"))
    answers = sorted(answers, key=lambda a: a["received_at"])
    first_seen = {leg["uuid"]: min((f["ms"] for f in leg["facts"]), default=_MAX_MS) for leg in legs}
    ordered = sorted(legs, key=lambda leg: (first_seen[leg["uuid"]], leg["uuid"]))
    return {
        "conversation_uuid": conversation_uuid,
        **{key: summary[key] for key in ("status", "total_price", "total_duration")},
        "first_event_time": summary["first_event_time"],
        "last_event_time": summary["last_event_time"],
        "event_count": call.get("event_count", 0),
        "direction": _direction(call, answers),
        "user": call.get("user"),
        "voicemail": voicemail_view(call),
        "answer": answers[0] if answers else None,
        "answers": answers,  # one per answered leg
        "fallbacks": sorted(fallbacks, key=lambda f: f["received_at"]),
        "transfers": sorted(moves, key=lambda t: (str(t.get("timestamp")), t["uuid"])),
        "failovers": [
            {"uuid": leg["uuid"], "status": fact["status"], "ncco": fact["ncco"]}
            for leg in ordered
            for fact in sorted(leg["facts"], key=lambda f: (f["ms"], json.dumps(f, sort_keys=True)))
            if "ncco" in fact
        ],
        "legs": [leg_view(leg["uuid"], leg["facts"]) for leg in ordered],
        "events": [e["payload"] for e in events],
        "next": next_page,
    }


def _direction(call: Mapping[str, Any], answers: list[dict[str, Any]]) -> str | None:
    """The listed first answer's direction, else the first answer's (a call with no SUMMARY)."""
    listed = (call.get("first_answer") or {}).get("direction")
    return listed if listed is not None else answers[0].get("direction") if answers else None


def listing_view(call: Mapping[str, Any]) -> dict[str, Any]:
    """One call in GET /calls?user=… or ?date=…, from its SUMMARY item (decoded by the store)."""
    summary = summarize(call["facts"], call.get("total_price"), call.get("total_duration"))
    first = call.get("first_answer") or {}
    return {
        "conversation_uuid": call["conversation_uuid"],
        "user": call.get("user"),
        "started_at": call.get("started_at"),
        "direction": first.get("direction"),
        "decision": first.get("decision"),
        "reason": first.get("reason"),
        "destination": first.get("destination"),
        "callee": first.get("callee"),
        "caller_id": first.get("caller_id"),
        "fallback_used": bool(call.get("fallback_used")),
        **{
            key: summary[key]
            for key in ("status", "total_price", "total_duration", "first_event_time", "last_event_time")
        },
        "legs": summary["legs"],
        "voicemail": voicemail_view(call),
    }
