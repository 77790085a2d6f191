"""The calls table's key layout: every key, index key, summary attribute and paging token.

Nothing else spells a `CALL#` or a `RATE#`: the store, the table definition, the
listing queries and the tests all build keys here (docs/data-model.md draws it).

One item collection per call, its events in time order between the answers and
the rest, so each part of a call is one key range:

    CALL#<conversation_uuid>  ANSWER#<uuid, or nothing>            the answer to one request
                              EVENT#<timestamp|untimed>#<order><label>#<digest>   one event
                              FALLBACK#<leg>#<digest>              one use of the fallback URL
                              LEG#<uuid>                           a leg's status facts
                              LISTED#<user>                        lists an app-to-app call for its callee
                              SUMMARY                              the call's summary
    RATE#USER#<user>          HOUR#<YYYY-MM-DDTHH>, DAY#<YYYY-MM-DD>   rate-limit counters
    RATE#GLOBAL               MINUTE#<YYYY-MM-DDTHH:MM>
    NUMBER#<digits>           LAST_CALLER                          who last called it from the app
    APP_USER#<name>           VONAGE_USER                          the app user's Vonage user exists

The SUMMARY item carries the keys of the two history indexes (by user, by date)
and the attributes a listing shows (SummaryAttribute), which are all the indexes copy.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes expired items (within days)

_CALL = "CALL#"
_ANSWER = "ANSWER#"
_EVENT = "EVENT#"
_FALLBACK = "FALLBACK#"
_LEG = "LEG#"
_LISTED = "LISTED#"
SUMMARY_SK = "SUMMARY"
_UNTIMED = "untimed"  # an event without a timestamp of its own: keyed by content alone

BY_USER = "by_user"
BY_DATE = "by_date"
# index name -> (partition key attribute, sort key attribute); both strings
INDEXES: dict[str, tuple[str, str]] = {
    BY_USER: ("by_user_pk", "by_user_sk"),  # USER#<user>, <started_at>#<conversation_uuid>
    BY_DATE: ("by_date_pk", "by_date_sk"),  # DATE#<YYYY-MM-DD>, <started_at>#<conversation_uuid>
}
_USER = "USER#"
_DATE = "DATE#"

_RATE_USER = "RATE#USER#"
_RATE_GLOBAL = "RATE#GLOBAL"

_NUMBER = "NUMBER#"
LAST_CALLER_SK = "LAST_CALLER"
_APP_USER = "APP_USER#"
VONAGE_USER_SK = "VONAGE_USER"
_MAX_DIGITS = 15  # E.164

Key = dict[str, str]  # {pk, sk} as plain strings


def _key(pk: str, sk: str) -> Key:
    return {PARTITION_KEY: pk, SORT_KEY: sk}


def call_partition(conversation_uuid: str) -> str:
    return _CALL + conversation_uuid


def answer_key(conversation_uuid: str, leg_key: str) -> Key:
    """`leg_key`: the leg's uuid, or "" for a request without one (ANSWER# alone)."""
    return _key(call_partition(conversation_uuid), _ANSWER + leg_key)


# Within one millisecond a leg's statuses sort in the order they happen (started, ringing…);
# the order digit comes first so that pages of events follow it.
_ORDER = {"started": "0", "ringing": "1", "answered": "2", "disconnected": "3"}
_OTHER_ORDER = "4"
EVENTS_START = _EVENT  # every event's sort key starts so
EVENTS_END = _EVENT[:-1] + chr(ord(_EVENT[-1]) + 1)  # "EVENT$": above every event's sort key


def event_key(conversation_uuid: str, timestamp: str | None, label: str, digest: str) -> Key:
    """Events sort by their own time; `timestamp` None (untimed) keys by content alone."""
    return _key(call_partition(conversation_uuid), event_sort_key(timestamp, label, digest))


def event_sort_key(timestamp: str | None, label: str, digest: str) -> str:
    return f"{_EVENT}{timestamp or _UNTIMED}#{_ORDER.get(label, _OTHER_ORDER)}{label}#{digest}"


def fallback_key(conversation_uuid: str, use_key: str) -> Key:
    return _key(call_partition(conversation_uuid), _FALLBACK + use_key)


def leg_key(conversation_uuid: str, leg_uuid: str) -> Key:
    return _key(call_partition(conversation_uuid), leg_sort_key(leg_uuid))


def leg_sort_key(leg_uuid: str) -> str:
    return _LEG + leg_uuid


def leg_of(sort_key: str) -> str:
    """The leg uuid in a LEG item's sort key."""
    return sort_key.removeprefix(_LEG)


def conversation_of(partition_key: str) -> str:
    return partition_key.removeprefix(_CALL)


def started_at_of(index_sort_key: str) -> str:
    """The started_at in a history index's sort key (<started_at>#<conversation_uuid>)."""
    return index_sort_key.split("#", 1)[0]


def callee_listing_key(conversation_uuid: str, user: str) -> Key:
    """The item that lists an app-to-app call in its callee's history (by_user index): keys only,
    the listing reads the call's SUMMARY for the rest."""
    return _key(call_partition(conversation_uuid), _LISTED + user)


def lists_for_callee(sort_key: str) -> bool:
    """Whether an item found in the by_user index is a callee's listing of a call (not its SUMMARY)."""
    return sort_key.startswith(_LISTED)


def summary_key(conversation_uuid: str) -> Key:
    return _key(call_partition(conversation_uuid), SUMMARY_SK)


def item_type(sort_key: str) -> str | None:
    """What an item of a call's collection is: "answer", "event", "fallback", "leg", "listed",
    "summary"."""
    if sort_key == SUMMARY_SK:
        return "summary"
    kinds = (
        (_ANSWER, "answer"), (_EVENT, "event"), (_FALLBACK, "fallback"), (_LEG, "leg"), (_LISTED, "listed")
    )  # fmt: skip
    for prefix, name in kinds:
        if sort_key.startswith(prefix):
            return name
    return None


class SummaryAttribute:
    """The SUMMARY item's attributes besides its keys. Each is the same size for a call of
    ten events and of ten thousand (summary.py explains why)."""

    USER = "user"  # who placed the call (set once)
    FIRST_ANSWER = "first_answer"  # map: uuid, direction, decision, reason, destination, caller_id, callee
    FALLBACK_USED = "fallback_used"  # true once the fallback answer URL was used
    STATUSES = "statuses"  # string set: one summary.StatusFact per status event
    TOTAL_PRICE = "total_price"  # number: the sum of the prices on status events
    TOTAL_DURATION = "total_duration"  # number: the sum of their durations
    EVENT_COUNT = "event_count"  # number: events stored for the call (not listed)
    VOICEMAIL = "voicemail"  # map: the voicemail's recording (summary.voicemail_fields)


class LegAttribute:
    """The LEG item's attributes: string sets of JSON, one element per event."""

    FACTS = "facts"  # summary.leg_fact of each status event of the leg
    TRANSFERS = "transfers"  # conversation_uuid_from, conversation_uuid_to, timestamp


def index_keys(conversation_uuid: str, user: str | None, started_at: str) -> dict[str, str]:
    """The history indexes' keys, set once on the SUMMARY item: newest first by started_at."""
    order = f"{started_at}#{conversation_uuid}"
    pk, sk = INDEXES[BY_DATE]
    keys = {pk: _DATE + started_at[:10], sk: order}
    if user:
        pk, sk = INDEXES[BY_USER]
        keys.update({pk: _USER + user, sk: order})
    return keys


def listing_partition(user: str | None, day: str | None) -> tuple[str, str, str | None]:
    """(index, partition, sort-key prefix) of GET /calls: a user's calls (on a day), or a day's."""
    if user:
        return BY_USER, _USER + user, day
    if day:
        return BY_DATE, _DATE + day, None
    raise ValueError("a listing needs a user or a day")


def counter_key(user: str | None, window: str, period: str) -> Key:
    """A fixed-window counter: a user's (HOUR, DAY) or everyone's (user None: MINUTE)."""
    return _key(_RATE_GLOBAL if user is None else _RATE_USER + user, f"{window}#{period}")


def vonage_user_key(user: str) -> Key:
    """The item that says `user` (a valid user name) has a Vonage user: their first login made it."""
    return _key(_APP_USER + user, VONAGE_USER_SK)


def last_caller_key(digits: str) -> Key:
    """The one item per phone number saying who last called it from the app: `digits` is the
    number in E.164 without '+' (ValueError for anything else)."""
    if not _e164_digits(digits):
        raise ValueError(f"not E.164 digits: {digits[:20]!r}")
    return _key(_NUMBER + digits, LAST_CALLER_SK)


def _e164_digits(digits: str) -> bool:
    return 0 < len(digits) <= _MAX_DIGITS and digits.isascii() and digits.isdigit()


class LastCallerAttribute:
    """The LAST_CALLER item's attributes besides its keys (and its expiry)."""

    USER = "user"  # the app user who placed the call
    CONVERSATION_UUID = "conversation_uuid"  # the call's
    AT = "at"  # its answer's received_at (utc_iso: sorts as time)


# --- paging tokens of GET /calls ------------------------------------------------------------------

_TOKEN_INDEX = "i"  # the index the page came from
_TOKEN_PARTITION = "q"  # the index partition queried (USER#… or DATE#…)
_TOKEN_LAST_KEY = "k"  # DynamoDB's LastEvaluatedKey, as DynamoDB wrote it
_MAX_TOKEN_CHARS = 4096
_MAX_KEY_CHARS = 600


class InvalidPageToken(ValueError):
    """A `next` that this query never returned; the message says which way it is wrong."""


def page_token(index: str, partition: str, last_key: dict[str, Any] | None) -> str | None:
    """The opaque `next` for the page after one that ended at `last_key`."""
    if not last_key:
        return None
    return _encode_token({_TOKEN_INDEX: index, _TOKEN_PARTITION: partition, _TOKEN_LAST_KEY: last_key})


def _encode_token(fields: dict[str, Any]) -> str:
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> Any:
    """The token's JSON; ValueError (or a subclass) for anything not base64url JSON."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise ValueError("too long")
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def page_start(token: str | None, index: str, partition: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey inside a `next` token, if it is exactly one this query could return.

    Checked item by item, so nothing a client makes up reaches DynamoDB.
    """
    if token is None:
        return None
    try:
        decoded = _decode_token(token)
        if decoded.get(_TOKEN_INDEX) != index or decoded.get(_TOKEN_PARTITION) != partition:
            raise LookupError
        last_key = decoded[_TOKEN_LAST_KEY]
        start = {name: value["S"] for name, value in last_key.items() if set(value) == {"S"}}
    except LookupError as exc:
        raise InvalidPageToken("next belongs to a different query") from exc
    except (ValueError, TypeError, AttributeError, RecursionError, binascii.Error) as exc:
        raise InvalidPageToken("next is not a token this API returned") from exc
    index_pk, index_sk = INDEXES[index]
    expected = {PARTITION_KEY, SORT_KEY, index_pk, index_sk}
    if (
        set(start) != expected
        or set(last_key) != expected
        or not all(isinstance(value, str) for value in start.values())
        or start[SORT_KEY] not in _listed_sort_keys(index, partition)
        or start[index_pk] != partition
        or not start[PARTITION_KEY].startswith(_CALL)
        or not start[index_sk].endswith("#" + start[PARTITION_KEY].removeprefix(_CALL))
        or max(len(value) for value in start.values()) > _MAX_KEY_CHARS
    ):
        raise InvalidPageToken("next is not a token this API returned")
    return {name: {"S": value} for name, value in start.items()}


def _listed_sort_keys(index: str, partition: str) -> tuple[str, ...]:
    """The table sort keys an index row of `partition` can have: a SUMMARY, or in a user's
    history an app-to-app call listed for them (LISTED#<that user>)."""
    if index == BY_USER and partition.startswith(_USER):
        return (SUMMARY_SK, _LISTED + partition.removeprefix(_USER))
    return (SUMMARY_SK,)


# --- paging tokens of GET /calls/{id} -------------------------------------------------------------

_TOKEN_CALL = "c"  # the conversation whose events are paged
_TOKEN_EVENT = "e"  # the sort key of the last event on the page


def event_page_token(conversation_uuid: str, last_key: dict[str, Any] | None) -> str | None:
    """The opaque `next` for a call's events after a page that ended at `last_key`."""
    if not last_key:
        return None
    return _encode_token({_TOKEN_CALL: conversation_uuid, _TOKEN_EVENT: last_key[SORT_KEY]["S"]})


def event_page_start(token: str | None, conversation_uuid: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey inside a `next` of this call's events (InvalidPageToken if none)."""
    if token is None:
        return None
    try:
        decoded = _decode_token(token)
        if set(decoded) != {_TOKEN_CALL, _TOKEN_EVENT}:
            raise ValueError("not an event page token")
        call, sort_key = decoded[_TOKEN_CALL], decoded[_TOKEN_EVENT]
    except (ValueError, TypeError, AttributeError, RecursionError, binascii.Error) as exc:
        raise InvalidPageToken("next is not a token this API returned") from exc
    if call != conversation_uuid:
        raise InvalidPageToken("next belongs to a different call")
    if not isinstance(sort_key, str) or not sort_key.startswith(_EVENT) or len(sort_key) > _MAX_KEY_CHARS:
        raise InvalidPageToken("next is not a token this API returned")
    return {PARTITION_KEY: {"S": call_partition(conversation_uuid)}, SORT_KEY: {"S": sort_key}}
