"""Turn Vonage webhook requests into plain values. Pure: no Chalice, no boto3.

All request parsing lives here, so every webhook is read the same way: the
query string merged with the JSON body, in that order (as Vonage hashes it for
a signed webhook's `payload_hash`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from chalicelib.phone_numbers import InvalidNumber, normalise

MAX_BODY_BYTES = 256 * 1024  # a DynamoDB item is at most 400 KiB; Vonage's are < 4 KiB
# Vonage ids are ~40 ASCII characters. A key adds at most 30 bytes to the id it embeds
# (`FALLBACK#<leg>#<digest>`), so ids of at most 500 UTF-8 bytes keep every sort key inside
# DynamoDB's 1,024 bytes; 250 characters alone do not (a character may take 4 bytes).
MAX_ID_CHARS = 250
MAX_ID_BYTES = 500
# Vonage's payloads nest a few levels. Far deeper JSON still parses, but then cannot be written
# back (json.dumps recurses), so it is refused when read, before anything serialises it.
MAX_JSON_DEPTH = 64
MAX_STORED_BYTES = 300_000  # the payload as stored, leaving room in a 400 KiB item
_PHONE_LIKE = re.compile(r"\+?0[0-9]{3,15}")  # national formats normalise() refuses
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_LABEL = re.compile(r"[a-z_]{1,20}")
# Vonage's statuses, which _LABEL matches: found in a set at a fraction of the match's cost
_LABELS = frozenset(
    {"started", "ringing", "answered", "disconnected", "completed", "busy", "cancelled", "unanswered",
     "rejected", "failed", "timeout", "human", "machine", "transcribed"}
)  # fmt: skip
_WITHHELD = frozenset({"unknown", "anonymous", "private", "restricted", "unavailable", "withheld"})


class WebhookError(ValueError):
    """Malformed webhook input; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def public_base_url(configured: str | None, headers: Mapping[str, str], stage: str | None) -> str | None:
    """Where Vonage can reach this service: PUBLIC_BASE_URL, else the request's own address.

    Behind API Gateway the path starts with the stage (`/api`) and the scheme is
    in X-Forwarded-Proto; `chalice local` has neither. None if there is no Host.
    """
    if configured:
        return configured.rstrip("/")
    return _base_url(headers.get("host"), headers.get("x-forwarded-proto", ""), stage)


@lru_cache(maxsize=64)  # a service has a host or two: checked once each
def _base_url(host: str | None, forwarded_proto: str, stage: str | None) -> str | None:
    if not host or not _HOST.fullmatch(host):
        return None
    scheme = "https" if forwarded_proto.lower() == "https" else "http"
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    return f"{scheme}://{host}{prefix}"


def clip(value: Any, limit: int = 100) -> Any:
    """Client text cut to `limit` characters (marked with …) for records and logs, which
    must stay small whatever a client sends (a DynamoDB item is at most 400 KiB)."""
    return value[:limit] + "…" if isinstance(value, str) and len(value) > limit else value


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds, so strings sort as times."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    year = utc.year
    if year < 1000:  # strftime's %Y, which pads the year on some platforms only
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as that strftime (it runs several times a request): a year of four digits as
    # it is, two-digit fields from a table, the microseconds padded by a leading 1 that is cut
    # off. A %-format of the fields costs half as much again.
    two = _TWO_DIGITS
    return (
        f"{year}-{two[utc.month]}-{two[utc.day]}T{two[utc.hour]}:{two[utc.minute]}:{two[utc.second]}"
        f".{str(utc.microsecond + 1_000_000)[1:]}Z"
    )


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
# utc_iso's text up to the minute ("YYYY-MM-DDTHH:MM:") of one minute since the epoch: now_stamp's
_last_minute: tuple[int, str] = (-1, "")
_STAMPED_UNTIL = 2**33  # epoch seconds (the year 2242): the same range as datetime.timestamp()'s exact one


def now_stamp() -> tuple[str, int]:
    """(utc_iso(now), int(now.timestamp())) for now = datetime.now(UTC): the same clock, floored to
    the microsecond as datetime.now floors it, without building the datetime (that, its
    timestamp() and utc_iso cost twice as much). A webhook's requests come in bursts (a call's
    events), so the text up to the minute is kept from the last one."""
    global _last_minute
    micro = time.time_ns() // 1000
    seconds = micro // 1_000_000
    if not 0 <= seconds < _STAMPED_UNTIL:  # a clock set before 1970 or after 2242
        now = datetime.now(UTC)
        return utc_iso(now), int(now.timestamp())
    minute = seconds // 60  # POSIX time has no leap seconds: every minute is 60 of them
    last = _last_minute
    if last[0] == minute:
        prefix = last[1]
    else:
        prefix = utc_iso(datetime.fromtimestamp(minute * 60, UTC))[:17]
        _last_minute = (minute, prefix)
    second = seconds - minute * 60
    return f"{prefix}{_TWO_DIGITS[second]}.{str(micro - seconds * 1_000_000 + 1_000_000)[1:]}Z", seconds


def request_params(
    query: Mapping[str, str] | None, body: bytes | None, content_type: str | None
) -> dict[str, Any]:
    """The webhook's fields: query string, then a JSON (or form) body over it."""
    params: dict[str, Any] = dict(query) if query else {}
    if not body or body.isspace():
        return _encodable(params, params)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(f"body is larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError("body is not UTF-8") from exc
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(text, keep_blank_values=True))
        return _encodable(params, params)
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        # _JSON_BODY.decode(text): a body that is one object, no whitespace around, is scanned
        # straight away (decode's two whitespace matches and calls cost a tenth of a small body's
        # parse); anything else, and every error, goes through decode itself.
        parsed, end = None, -1
        if text[:1] == "{" and text[-1:] == "}":
            try:
                parsed, end = _SCAN_JSON(text, 0)
            except (StopIteration, ValueError):
                end = -1
        if end != len(text):
            parsed = _JSON_BODY.decode(text)
    except RecursionError as exc:
        raise WebhookError("body is not valid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise WebhookError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise WebhookError("body must be a JSON object")
    # Each container in it has its own '{' or '[' in the text: with at most MAX_JSON_DEPTH of
    # them it cannot nest deeper, and the walk is skipped. (A status event has no '[': found absent
    # at a tenth of the cost of counting.)
    openings = text.count("{") + (text.count("[") if "[" in text else 0)
    if openings > MAX_JSON_DEPTH and _deeper_than(parsed, MAX_JSON_DEPTH):
        raise WebhookError(f"body is not valid JSON: nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    if params:
        params.update(parsed)
    else:  # no query: the body's fields are all of them, in the same order
        params = parsed
    # a \u escape can spell a lone surrogate anywhere in the body (a backslash alone is looked
    # for first: one character is found twenty times faster than two, and most bodies have none)
    if "\\" in text and "\\u" in text:
        return _encodable(params, params)
    if not query:
        return params
    # Text decoded as UTF-8 holds no surrogate, nor does anything parsed from it without escapes:
    # only the query's own entries (those the body did not replace) are left to check.
    return _encodable(params, {key: value for key, value in query.items() if key not in parsed})


def _encodable(params: dict[str, Any], unchecked: dict[str, Any]) -> dict[str, Any]:
    """`params`, if they are UTF-8 text throughout: "\\ud800" is valid JSON (and a lone surrogate
    can reach a query string) but no UTF-8 text: it could be stored, never read back.

    `unchecked`: the entries of `params` that may hold one (the rest are known to be text).
    """
    try:
        for key, value in unchecked.items():
            if not (isinstance(key, str) and isinstance(value, str)):  # JSON values: as stored
                json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
            elif not (key.isascii() and value.isascii()):
                (key + value).encode("utf-8")  # a lone surrogate in either cannot be encoded
    except UnicodeEncodeError as exc:
        raise WebhookError("request has an unpaired UTF-16 surrogate (\\ud800-\\udfff)") from exc
    return params


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON containers nest more than `limit` deep; iterative, so any depth is safe."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity, which JSON cannot carry back
        raise ValueError(f"{text[:20]} is too large for a JSON number")
    return value


# what json.loads(text, parse_constant=…, parse_float=…) would build again on every call
_JSON_BODY = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_SCAN_JSON = _JSON_BODY.scan_once


def _text(value: Any) -> str | None:
    """A field as text: JSON integers become digits; anything else stays visibly odd.

    A float is not digits: 1415555010.0 must not become 14155550100.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{type(value).__name__}:{json.dumps(value)}"


class AnswerRequest(NamedTuple):
    to: str | None
    caller: str | None  # the app user (from_user, or a name in the old `from`)
    caller_is_number: bool  # `from` holds a phone number: a PSTN caller
    uuid: str | None  # None when absent or the old format's "NONE"
    conversation_uuid: str | None
    id_problem: str | None  # why the call cannot be filed under its ids, if it cannot
    params: dict[str, Any]
    body_problem: str | None = None  # why the body could not be read, if it could not

    @property
    def problem(self) -> str | None:
        """Why this request cannot be served (it is refused as invalid_request), if it cannot."""
        return self.body_problem or self.id_problem

    @property
    def leg_key(self) -> str | None:
        """What makes a retried answer request the same call: its uuid, or "" when it has none
        (uuid=NONE: the conversation alone, which the key already holds). None: not storable.

        Never the conversation_uuid itself: a leg whose uuid equals it would share the key.
        """
        if self.id_problem:
            return None
        return self.uuid or ""


def _is_phone_caller(from_: str) -> bool:
    """`from` without `from_user`: a user name (older SDKs sent it there), or a phone caller's number.

    A number in any format, or a withheld-number token, is a phone caller:
    when in doubt, the stricter rule (ALLOW_PSTN_CALLERS) applies.
    """
    if from_.strip().lower() in _WITHHELD:
        return True
    try:
        normalise(from_)
    except InvalidNumber:
        return bool(_PHONE_LIKE.fullmatch(from_.strip()))
    return True


def read_answer(
    query: Mapping[str, str] | None, body: bytes | None, content_type: str | None
) -> AnswerRequest:
    """Never raises: a bad answer request is refused by the decision (invalid_request), not with a 4xx."""
    try:
        return parse_answer(request_params(query, body, content_type))
    except WebhookError as exc:
        try:  # the query alone, to file the refusal under its ids
            fields = request_params(query, None, None)
        except WebhookError:
            fields = {}  # the query itself is no text: nothing in it can be filed
        return parse_answer(fields, body_problem=str(exc))


def parse_answer(params: dict[str, Any], body_problem: str | None = None) -> AnswerRequest:
    """Never raises: a bad answer request is refused by the decision, not with a 4xx."""
    from_user, from_ = params.get("from_user"), params.get("from")
    if isinstance(from_, int) and not isinstance(from_, bool):
        from_ = str(from_)  # a phone caller's number, read as its digits like `to`
    caller_field, caller = ("from_user", from_user) if from_user not in (None, "") else ("from", from_)
    uuid = params.get("uuid")
    if uuid == "" or (isinstance(uuid, str) and uuid.upper() == "NONE"):
        uuid = None
    conversation = params.get("conversation_uuid")
    conversation = None if conversation == "" else conversation
    problem = "no conversation_uuid" if conversation is None else None
    shown: dict[str, Any] = {}
    for name, value in (("conversation_uuid", conversation), ("uuid", uuid), (caller_field, caller)):
        wrong = None if value is None else _id_problem(name, value)
        problem = problem or wrong
        shown[name] = _shown(value) if wrong else value  # never filed: kept small for the logs
    return AnswerRequest(
        to=_text(params.get("to")),
        caller=shown[caller_field],
        caller_is_number=from_user in (None, "") and isinstance(from_, str) and _is_phone_caller(from_),
        uuid=shown["uuid"],
        conversation_uuid=shown["conversation_uuid"],
        id_problem=problem,
        params=params,
        body_problem=body_problem,
    )


def _shown(value: Any, limit: int = 100) -> str | None:
    """A client value as records and logs keep it: text, clipped, any lone surrogate escaped."""
    text = clip(_text(value), limit)
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _id_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be an id, if it cannot. One rule for every webhook: ids are strings
    (Vonage's always are; 12345 and "12345" must not become one call) short enough that every
    key embedding one fits DynamoDB's limits (keys.py: sort keys 1,024 bytes, partition 2,048)."""
    if not isinstance(value, str):
        return f"{name} must be a string"
    if len(value) > MAX_ID_CHARS:
        return f"{name} is longer than {MAX_ID_CHARS} characters"
    if value.isascii():  # a byte a character: within MAX_ID_BYTES (> MAX_ID_CHARS), as Vonage's ids are
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{name} is not UTF-8 text"
    if size > MAX_ID_BYTES:
        return f"{name} is longer than {MAX_ID_BYTES} bytes as UTF-8"
    return None


class Event(NamedTuple):
    """A tuple, not a frozen dataclass: as immutable, and built at half the cost on every event.
    The store unpacks it whole: a new field goes last, and there too."""

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
    encoded: str | None = None  # the payload as stored (compact JSON, its own key order), if encoded


def _kind(payload: dict[str, Any]) -> str:
    # Vonage sends no type field; this is the .NET SDK's precedence (EventBase.cs).
    if payload.get("status") == "transcribed":
        return "transcription"
    if "status" in payload:
        return "status"
    for field, kind in _KIND_FIELDS:
        if field in payload:
            return kind
    return "other"


# the kind of an event without a status, by the first of these fields it has
_KIND_FIELDS = (
    ("conversation_uuid_from", "transfer"),
    ("speech", "input"),
    ("dtmf", "input"),
    ("recording_url", "record"),
    ("reason", "error"),
    ("payload", "notify"),
)


# Vonage's own format (UTC, milliseconds, Z) for a time that always exists: every field in range,
# a year of four digits (utc_iso writes earlier ones otherwise), a day that every month has.
_VONAGE_TIME = re.compile(
    r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
)


def _timestamp(value: Any) -> str | None:
    """The payload's own time as utc_iso(), or None if it has none usable."""
    if isinstance(value, str):
        if _VONAGE_TIME.fullmatch(value):  # what the parse below makes of it, at a third of the cost
            return value[:23] + "000Z"
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return utc_iso(moment)
        except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
            pass  # stored unchanged all the same; ordered by arrival instead
    return None


def _identifier(payload: dict[str, Any], name: str, other: str | None = None) -> str | None:
    """The first of the fields `name`, `other` that is present and not empty, if it is an id."""
    value = payload.get(name)
    if (value is None or value == "") and other is not None:
        name, value = other, payload.get(other)
    if value is None or value == "":
        return None
    if type(value) is str and len(value) <= MAX_ID_CHARS and value.isascii():
        return value  # what _id_problem passes at once: every id Vonage sends
    problem = _id_problem(name, value)
    if problem:
        raise WebhookError(problem)
    return value


def _json_chunks(sort_keys: bool) -> Callable[[Any, int], Iterable[str]]:
    """`chunks(value, 0)`: the pieces of compact_json(sort_keys)(value), for a caller that joins
    them itself (one call fewer on every event)."""
    encoder = json.JSONEncoder(sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return lambda value, _indent: encoder.iterencode(value)
    scan = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", sort_keys, False, True)
    return scan  # type: ignore[no-any-return]


def compact_json(sort_keys: bool) -> Callable[[Any], str]:
    """json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=…).encode, the same
    text, without what encode() sets up again on every call (a third of a small payload's cost).

    Values are not checked for cycles: those encoded come from JSON, or are built as trees.
    """
    scan = _json_chunks(sort_keys)
    join = "".join

    def encode(value: Any) -> str:
        return join(scan(value, 0))

    return encode


_CANONICAL = compact_json(sort_keys=True)
_CANONICAL_CHUNKS = _json_chunks(sort_keys=True)
_STORED_CHUNKS = _json_chunks(sort_keys=False)
_VONAGE_TIME_MATCH = _VONAGE_TIME.fullmatch


def payload_digest(payload: Mapping[str, Any]) -> str:
    """Identifies a payload whatever its key order: a redelivery has the same digest."""
    return _sha256(_CANONICAL(payload).encode()).hexdigest()[:20]


def _own_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 (the same digest) where it has one. For a few hundred bytes inside a
    request OpenSSL's (hashlib.sha256) costs more: its set-up touches memory the request then
    misses in the caches (about 2 µs of an event, measured through the Lambda entry point)."""
    for name in ("_sha256", "_sha2"):  # Python 3.11, 3.12+
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256 = _own_sha256()


def parse_event(payload: dict[str, Any], received_at: datetime | str) -> Event:
    """Validate an event-URL payload; raise WebhookError (400) if it is unusable.

    `received_at`: when the request arrived, or utc_iso() of it if the caller has that already.
    """
    # Each id as _identifier reads it; one that it passes at once (as every id Vonage sends) is
    # taken here without the call.
    leg = payload.get("uuid")
    if type(leg) is not str or not 0 < len(leg) <= MAX_ID_CHARS or not leg.isascii():
        leg = _identifier(payload, "uuid", "call_uuid")
    conversation = payload.get("conversation_uuid")
    if (
        type(conversation) is not str
        or not 0 < len(conversation) <= MAX_ID_CHARS
        or not conversation.isascii()
    ):
        # transfer events name the conversation the legs left as conversation_uuid_from
        conversation = _identifier(payload, "conversation_uuid", "conversation_uuid_from")
    if conversation is None:
        if leg is None:
            raise WebhookError("event has none of conversation_uuid, uuid, call_uuid")
        raise WebhookError("event has no conversation_uuid, so it belongs to no call")
    status = payload.get("status")
    stamp = payload.get("timestamp")
    # _timestamp's own first step, without the call: Vonage's format
    timestamp = stamp[:23] + "000Z" if type(stamp) is str and _VONAGE_TIME_MATCH(stamp) else _timestamp(stamp)
    # payload_digest's text, with its size; then the stored text, encoded straight after it while
    # the payload is still in the CPU's caches rather than later in the store
    canonical = "".join(_CANONICAL_CHUNKS(payload, 0)).encode()
    if len(canonical) > MAX_STORED_BYTES:
        raise WebhookError(f"event is larger than {MAX_STORED_BYTES} bytes as JSON", status=413)
    digest = _sha256(canonical).hexdigest()[:20]
    encoded = "".join(_STORED_CHUNKS(payload, 0))
    transferred_to = (
        _identifier(payload, "conversation_uuid_to") if "conversation_uuid_from" in payload else None
    )
    # _kind(payload), without the call: every event takes it
    if status == "transcribed":
        kind = "transcription"
    elif "status" in payload:
        kind = "status"
    else:
        kind = "other"
        for field, named in _KIND_FIELDS:
            if field in payload:
                kind = named
                break
    if isinstance(status, str):
        label = status if status in _LABELS or _LABEL.fullmatch(status) else kind
        if len(status) > MAX_ID_CHARS:
            status = None
    else:
        status, label = None, kind
    return _new_event(
        (
            conversation,
            leg,
            kind,
            status,
            timestamp or (received_at if type(received_at) is str else utc_iso(received_at)),
            timestamp is not None,
            label,
            digest,
            payload,
            transferred_to if transferred_to != conversation else None,
            encoded,
        )
    )


# Event(*fields) for all of its fields, without the named tuple's own __new__ (a Python function
# whose call costs as much again as the tuple): every event is built so.
_new_event: Callable[[tuple[Any, ...]], Event] = partial(tuple.__new__, Event)


@dataclass(frozen=True)
class FallbackUse:
    """One request to the fallback answer URL, as the call record keeps it."""

    request: AnswerRequest
    use_key: str | None  # one per use (Vonage's two tries of one use are the same); None: not fileable
    fallback: dict[str, Any]  # what is stored and shown under the call's "fallbacks"
    carried: Event | None  # the event a failed event-URL request carried, if it carried one
    carried_problem: str | None  # why that event cannot be stored, if it cannot


def parse_fallback(params: dict[str, Any], received_at: datetime) -> FallbackUse:
    """Never raises: the fallback URL always answers, and keeps what it can."""
    request = parse_answer(params)
    original = params.get("original_request")
    fallback = {  # small whatever is sent: it is stored twice (its item, the summary) and logged
        "reason": _shown(params.get("reason"), 200),
        "original_request": (
            {k: _shown(v, 200) for k, v in original.items() if k in ("url", "type")}
            if isinstance(original, dict)
            else _shown(original, 200)
        ),
        "uuid": request.uuid,
        "caller": clip(request.caller, 200),
        "to": clip(request.to, 200),
        "received_at": utc_iso(received_at),
    }
    fileable = request.conversation_uuid is not None and request.leg_key is not None
    carried, carried_problem = None, None
    event_params = {k: v for k, v in params.items() if k not in ("reason", "original_request")}
    if fileable and isinstance(event_params.get("status"), str):
        try:
            carried = parse_event(event_params, received_at)
        except WebhookError as exc:
            carried_problem = str(exc)
    return FallbackUse(
        request=request,
        use_key=f"{request.leg_key}#{payload_digest(params)}" if fileable else None,
        fallback=fallback,
        carried=carried,
        carried_problem=carried_problem,
    )
