"""The event URL's path: how an event is read, what it is stored as, and that a redelivery
(the same payload, in any key order) is the same item and adds nothing to the call.

The transactions are checked as DynamoDB would apply them: each UpdateExpression is read
back into the attributes it sets and adds, whatever the placeholders are called.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import summary
from chalicelib.errors import StoreRejected, StoreUnavailable, WebhookError
from chalicelib.events import event_kind, parse_event, payload_digest, payload_time
from chalicelib.routes import event as event_route
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Request
from chalicelib.storage.call_store import CallStore
from chalicelib.text import compact_json
from chalicelib.times import expiry, utc_iso
from chalicelib.webhooks import request_params
from tests.support import stage_settings

RECEIVED = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
RECEIVED_AT = "2026-11-20T12:00:00.123456Z"

# --- the event's own time -------------------------------------------------------------------------


def test_vonages_timestamps_are_kept_to_the_microsecond() -> None:
    assert payload_time("2026-11-20T12:00:00.123Z") == "2026-11-20T12:00:00.123000Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-02-29T23:59:59.999Z", "2020-02-29T23:59:59.999000Z"),  # a leap day
        ("2021-02-29T00:00:00.000Z", None),  # not one
        ("2020-04-31T00:00:00.000Z", None),
        ("2020-01-31T00:00:00.000Z", "2020-01-31T00:00:00.000000Z"),
        ("2020-13-01T00:00:00.000Z", None),
        ("2020-00-10T00:00:00.000Z", None),
        ("2020-01-00T00:00:00.000Z", None),
        ("2020-01-01T24:00:00.000Z", None),
        ("2020-01-01T23:60:00.000Z", None),
        ("2020-01-01T23:59:60.000Z", None),  # no leap seconds
        ("0000-01-01T00:00:00.000Z", None),
        ("0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000000Z"),  # four digits: sorts as a time
        ("0999-12-31T23:59:59.999Z", "0999-12-31T23:59:59.999000Z"),
        ("1000-01-01T00:00:00.000Z", "1000-01-01T00:00:00.000000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999000Z"),
        ("9999-12-31T23:59:59.999-01:00", None),  # after the year 9999 in UTC
        ("0001-01-01T00:00:00+01:00", None),  # before the year 1 in UTC
        ("\uff12020-01-01T12:00:00.000Z", None),  # a digit that is not ASCII (fullwidth 2)
        ("2020-01-01T12:00:00.000z", None),
        ("2020-01-01 12:00:00.000Z", "2020-01-01T12:00:00.000000Z"),
        ("2020-01-01T12:00:00.000Z\n", None),
        (" 2020-01-01T12:00:00.000Z", None),
        ("2020-01-01T12:00:00.0000Z", "2020-01-01T12:00:00.000000Z"),
        ("2020-01-01T12:00:00.00Z", "2020-01-01T12:00:00.000000Z"),
        ("2020-01-01T13:00:00+01:00", "2020-01-01T12:00:00.000000Z"),  # in UTC
        ("2020-01-01T12:00:00", "2020-01-01T12:00:00.000000Z"),  # no zone: UTC
        ("2020-01-01", "2020-01-01T00:00:00.000000Z"),
        ("", None),
        (1577880000, None),
        (None, None),
    ],
)
def test_an_events_own_time_in_utc_or_none(value: Any, expected: str | None) -> None:
    assert payload_time(value) == expected
    event = parse_event({"conversation_uuid": "CON-1", "status": "started", "timestamp": value}, RECEIVED_AT)
    assert (event.timestamp, event.timed) == ((expected, True) if expected else (RECEIVED_AT, False))


def _moments(count: int) -> list[datetime]:
    """Moments over the whole range of years, to the microsecond."""
    rng = random.Random(20261120)
    return [
        datetime(1, 1, 1, tzinfo=UTC)
        + timedelta(
            days=rng.randrange(3_652_058), seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6)
        )
        for _ in range(count)
    ]


def test_event_times_sort_as_text_as_they_sort_as_times() -> None:
    """Events are keyed by their time: the text must sort as the moments do, in any year."""
    moments = _moments(5000)
    texts = []
    for moment in moments:
        vonage = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
        text = payload_time(vonage)
        assert text is not None and len(text) == len("2026-11-20T12:00:00.123000Z"), vonage
        assert datetime.fromisoformat(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        texts.append(text)
    assert sorted(texts) == [text for _, text in sorted(zip(moments, texts, strict=True))]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (RECEIVED, RECEIVED_AT),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000000Z"),  # still six digits
        (datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "2025-12-31T19:00:00.000000Z"),  # the day before in UTC
        (datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(0))), "2026-01-01T00:30:00.000000Z"),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000000Z"),
        (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0999-12-31T23:59:59.999999Z"),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00.000000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)  # fmt: skip
def test_utc_iso_is_one_fixed_width_in_any_zone(moment: datetime, expected: str) -> None:
    assert utc_iso(moment) == expected


def test_utc_iso_sorts_as_time_over_the_whole_range() -> None:
    moments = _moments(20_000) + [RECEIVED.replace(microsecond=micro) for micro in (0, 1, 999_999, 100_000)]
    texts = [utc_iso(moment) for moment in moments]
    assert {len(text) for text in texts} == {len(RECEIVED_AT)}
    assert all(datetime.fromisoformat(text) == moment for text, moment in zip(texts, moments, strict=True))
    assert sorted(texts) == [utc_iso(moment) for moment in sorted(moments)]


def test_an_untimed_event_takes_the_time_it_was_received() -> None:
    event = parse_event({"conversation_uuid": "CON-1", "payload": {"menu": 1}}, RECEIVED_AT)
    assert (event.timestamp, event.timed) == (RECEIVED_AT, False)


# --- its body, kind and digest --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1}',
        b' {"a": 1} ',
        b'{"a":1}\n',
        b'{"a":1} x',
        b'{"a":1}{"b":2}',
        b'{"a":',
        b'{"a":1,}',
        b"{}",
        b"{",
        b"}",
        b'{"a":"}"}',
        b'{"b": {"y": [1, 2.5, null, true]}, "a": "\\u00e9"}',
    ],
)
def test_json_bodies_are_read_as_json_loads_reads_them(body: bytes) -> None:
    try:
        expected: Any = json.loads(body)
    except ValueError as exc:
        with pytest.raises(WebhookError) as raised:
            request_params(None, body, "application/json")
        assert str(raised.value) == f"body is not valid JSON: {exc}"
    else:
        read = request_params(None, body, "application/json")
        assert read == expected and list(read) == list(expected)


def test_a_body_without_a_query_is_all_the_fields() -> None:
    params = request_params(None, b'{"z": 1, "a": 2}', "application/json")
    assert list(params) == ["z", "a"]
    assert request_params({}, b'{"z": 1, "a": 2}', None) == {"z": 1, "a": 2}
    with pytest.raises(WebhookError, match="surrogate"):
        request_params({"q": "\ud800"}, b'{"z": 1}', "application/json")  # the query is still checked


KIND_FIELDS = ["status", "conversation_uuid_from", "speech", "dtmf", "recording_url", "reason", "payload"]
# The .NET SDK's precedence (EventBase.cs): the first of these fields an event has gives its kind.
PRECEDENCE = [("conversation_uuid_from", "transfer"), ("speech", "input"), ("dtmf", "input"),
              ("recording_url", "record"), ("reason", "error"), ("payload", "notify")]  # fmt: skip


def test_an_events_kind_follows_the_sdks_precedence_for_every_mix_of_fields() -> None:
    for mask in range(2 ** len(KIND_FIELDS)):
        present = [field for n, field in enumerate(KIND_FIELDS) if mask >> n & 1]
        for status in ("transcribed", "started", None, 3):
            payload: dict[str, Any] = {"conversation_uuid": "CON-1", **dict.fromkeys(present, "x")}
            if "status" in payload:
                payload["status"] = status
                expected = "transcription" if status == "transcribed" else "status"
            else:
                expected = next((kind for field, kind in PRECEDENCE if field in payload), "other")
            assert event_kind(payload) == expected, payload
            assert parse_event(payload, RECEIVED_AT).kind == expected, payload


def test_the_digest_is_sha256_of_canonical_json_in_any_key_order() -> None:
    """Pinned: an event's key holds its digest, so a redelivery after a deploy must still find it."""
    payload = {
        "uuid": "u",
        "status": "started",
        "headers": {"b": "2", "a": "1"},
        "conversation_uuid": "CON-1",
        "text": "naïve ☃",
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]
    reordered = json.loads(json.dumps(dict(reversed(list(payload.items())))))
    assert payload_digest(payload) == payload_digest(reordered) == expected
    assert parse_event(payload, RECEIVED_AT).digest == parse_event(reordered, RECEIVED_AT).digest == expected


# --- the event's transaction ---------------------------------------------------------------------


class Recorder:
    """A DynamoDB client that keeps each transaction, or cancels it with the codes given."""

    def __init__(self, codes: list[str] | None = None) -> None:
        self.codes = codes
        self.items: list[dict[str, Any]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.items = TransactItems
        if self.codes is None:
            return {}
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": code} for code in self.codes],
            },
            "TransactWriteItems",
        )


def _save(payload: dict[str, Any], client: Recorder, reply: Any = None) -> bool:
    event = parse_event(payload, RECEIVED_AT)
    return CallStore(client, "calls").save_event(event, RECEIVED_AT, 1800000000, reply)


_SET = re.compile(r"(#\w+) = (?:if_not_exists\(\1, (:\w+)\)|(:\w+))")
_ADD = re.compile(r"(#\w+) (:\w+)")


def applied(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An Update as DynamoDB reads it: {"SET": {attribute: value}, "SET_ONCE": {…}, "ADD": {…}}
    by attribute name. Every placeholder must be used, as DynamoDB requires."""
    update = operation["Update"]
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    expression = update["UpdateExpression"]
    sets, _, adds = expression.removeprefix("SET ").partition(" ADD ")
    found: dict[str, dict[str, Any]] = {"SET": {}, "SET_ONCE": {}, "ADD": {}}
    used_names, used_values = set(), set()
    for clause in re.split(r", (?=#)", sets):
        match = _SET.fullmatch(clause)
        assert match, clause
        name, once, value = match.groups()
        found["SET_ONCE" if once else "SET"][names[name]] = values[once or value]
        used_names.add(name)
        used_values.add(once or value)
    for clause in adds.split(", ") if adds else []:
        match = _ADD.fullmatch(clause)
        assert match, clause
        found["ADD"][names[match[1]]] = values[match[2]]
        used_names.add(match[1])
        used_values.add(match[2])
    assert used_names == set(names) and used_values == set(values), expression
    return found


def _status(**fields: Any) -> dict[str, Any]:
    return {
        "uuid": "leg-1",
        "conversation_uuid": "CON-1",
        "status": "completed",
        "direction": "outbound",
        "timestamp": "2020-01-01T12:00:00.000Z",
        **fields,
    }


def test_a_status_event_writes_its_item_summary_and_leg() -> None:
    client = Recorder()
    payload = _status(price="0.01800000", duration="240")
    ncco = [{"action": "talk", "text": "Sorry."}]
    assert _save(payload, client, reply=ncco)
    put, summary_update, leg = client.items
    digest = payload_digest(payload)
    assert put["Put"]["TableName"] == "calls"
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"  # put once: a redelivery finds it
    assert put["Put"]["Item"] == {
        "pk": {"S": "CALL#CON-1"},
        "sk": {"S": f"EVENT#2020-01-01T12:00:00.000000Z#4completed#{digest}"},
        "kind": {"S": "event"},
        "event_kind": {"S": "status"},
        "timestamp": {"S": "2020-01-01T12:00:00.000000Z"},
        "digest": {"S": digest},
        "received_at": {"S": RECEIVED_AT},
        "payload": {"S": json.dumps(payload, separators=(",", ":"), ensure_ascii=False)},
        "expires_at": {"N": "1800000000"},
        "status": {"S": "completed"},
        "leg_uuid": {"S": "leg-1"},
        "reply": {"S": json.dumps(ncco, separators=(",", ":"), ensure_ascii=False)},
    }
    assert summary_update["Update"]["Key"] == {"pk": {"S": "CALL#CON-1"}, "sk": {"S": "SUMMARY"}}
    ms = summary.event_ms("2020-01-01T12:00:00.000000Z")
    assert applied(summary_update) == {
        "SET": {"expires_at": {"N": "1800000000"}},
        "SET_ONCE": {},
        "ADD": {
            "event_count": {"N": "1"},
            "statuses": {"SS": [summary.status_fact(payload, ms, "leg-1").encode()]},
            "total_price": {"N": "0.01800000"},
            "total_duration": {"N": "240"},
        },
    }
    assert leg["Update"]["Key"] == {"pk": {"S": "CALL#CON-1"}, "sk": {"S": "LEG#leg-1"}}
    (fact,) = applied(leg)["ADD"]["facts"]["SS"]
    assert json.loads(fact) == summary.leg_fact(payload, ms, ncco)
    assert applied(leg)["SET"] == {"expires_at": {"N": "1800000000"}}


@pytest.mark.parametrize(("price", "duration"), [(None, None), ("0.01", None), (None, "12"), ("abc", "x")])
def test_a_status_event_adds_only_the_sums_it_has(price: str | None, duration: str | None) -> None:
    client = Recorder()
    _save(_status(price=price, duration=duration), client)
    added = set(applied(client.items[1])["ADD"])
    sums = {"total_price"} if price == "0.01" else {"total_duration"} if duration == "12" else set()
    assert added == {"event_count", "statuses"} | sums


def _leg_fact_in_field_order(payload: dict[str, Any], ms: int, reply: Any = None) -> dict[str, Any]:
    """What a LEG fact keeps of a status event, by its definition: text (clipped) and numbers of
    the leg fields, in LEG_FIELDS order, and the NCCO answered to it."""
    fact: dict[str, Any] = {"ms": ms, "status": payload["status"]}
    for field in summary.LEG_FIELDS:
        value = payload.get(field)
        if isinstance(value, str) and value:
            fact[field] = value[: summary.FACT_CHARS]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            fact[field] = value
    if reply is not None:
        fact["ncco"] = reply
    return fact


def _shuffled_leg_fields(
    payload: dict[str, Any], rng: random.Random, values: list[Any]
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """`payload` given some of the leg fields, with `values` at random, its keys in a random order
    (in place: then a copy in another order); and a reply, or none."""
    for field in rng.sample(summary.LEG_FIELDS, rng.randrange(len(summary.LEG_FIELDS) + 1)):
        payload[field] = rng.choice(values)
    items = list(payload.items())
    rng.shuffle(items)
    return dict(items), rng.choice([None, [{"action": "talk", "text": "hi"}]])


def test_leg_facts_keep_field_order_whatever_the_payloads_order() -> None:
    rng = random.Random(5)
    odd = [None, "", "x" * 100, 7, 2.5, True, [], {}, "value"]
    for _ in range(300):
        payload, reply = _shuffled_leg_fields({"status": "completed", "uuid": "u", "extra": 1}, rng, odd)
        fact = summary.leg_fact(payload, 42, reply)
        expected = _leg_fact_in_field_order(payload, 42, reply)
        assert list(fact.items()) == list(expected.items())


@pytest.mark.parametrize(
    ("price", "duration", "expected"),
    [
        ("0.01800000", "240", ("0.01800000", "240")),  # as Vonage sends them
        (1, 5, ("1", "5")),  # JSON whole numbers: their digits
        ("-0.5", "0", ("-0.5", "0")),  # a refund; a leg that never connected
        ("123456789012.123456789012", "123456789", ("123456789012.123456789012", "123456789")),
        ("1234567890123", "1234567890", (None, None)),  # longer than any real value
        ("abc", "x", (None, None)),
        (None, None, (None, None)),
        (True, False, (None, None)),
        (1.5, "12.5", (None, None)),  # a float is no price of Vonage's; a duration is whole seconds
        ("1e5", "-1", (None, None)),
        (" 1", "1 ", (None, None)),
        ("", "", (None, None)),
    ],
)
def test_billed_reads_only_vonages_numbers(price: Any, duration: Any, expected: tuple) -> None:
    assert summary.billed({"price": price, "duration": duration}) == expected


def test_the_leg_tag_cache_answers_per_leg() -> None:
    """Pinned: the SUMMARY's facts name their leg by this tag (kept per leg, answered per leg)."""
    for leg in ("a", "b", "a", "ü" * 40, "b"):
        assert summary.leg_tag(leg) == hashlib.blake2b(leg.encode("utf-8"), digest_size=4).hexdigest()


def _facts(client: Recorder) -> tuple[str, str]:
    """The StatusFact the transaction adds to the SUMMARY and the fact it adds to the LEG."""
    (status,) = applied(client.items[1])["ADD"]["statuses"]["SS"]
    (fact,) = applied(client.items[2])["ADD"]["facts"]["SS"]
    return status, fact


ODD_VALUES = [None, "", "x" * 100, 'naïve "☃" \\ \n', 7, -3, 2.5, True, False, [], {}, "v", 10**30]


def test_a_redelivered_status_event_adds_nothing_to_the_summary_or_the_leg() -> None:
    """Vonage may redeliver an event with its keys in another order: the same item (its digest),
    and the same elements of the SUMMARY's and the LEG's sets, so the set union adds nothing."""
    rng = random.Random(9)
    for _ in range(500):
        payload: dict[str, Any] = _status(status=rng.choice(["completed", "answered", "busy"]))
        again, reply = _shuffled_leg_fields(payload, rng, ODD_VALUES)
        first, second = Recorder(), Recorder()
        assert _save(payload, first, reply) and _save(again, second, reply)
        assert first.items[0]["Put"]["Item"]["sk"] == second.items[0]["Put"]["Item"]["sk"]
        assert _facts(first) == _facts(second)
        ms = summary.event_ms(parse_event(payload, RECEIVED_AT).timestamp)
        assert json.loads(_facts(first)[1]) == summary.leg_fact(payload, ms, reply)


def test_an_events_stored_payload_is_its_exact_json() -> None:
    """Compact, in the payload's own key order, text as sent (no \\u escapes), numbers as sent:
    GET /calls/{id} serves it back as Vonage posted it."""
    payload = {
        "z": 1,
        "headers": {"b": "2", "a": "1"},
        "conversation_uuid": "CON-1",
        "text": 'naïve ☃ \u2028 "quoted" \\ \n',
        "n": 1.0,
        "m": -0.0,
        "big": 10**30,
        "small": 1e-7,
        "float": 0.1,
        "e": 1e16,
        "empty": "",
        "nested": {"k": {"j": {"i": [[], {}]}}, "list": [1, "two", None, False, 2.5]},
        "emoji": "😀",
        "ctrl": "\x00\x1f",
    }
    client = Recorder()
    assert _save(payload, client)
    stored = client.items[0]["Put"]["Item"]["payload"]["S"]
    assert stored == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    assert stored.startswith('{"z":1,"headers":{"b":"2","a":"1"},"conversation_uuid":"CON-1","text":"na')
    assert '"text":"naïve ☃ ' in stored  # as sent, not escaped
    read = json.loads(stored)
    assert read == payload and list(read) == list(payload)
    assert compact_json(payload) == stored  # answers and NCCOs are stored by the same rule


def test_a_transfer_is_written_under_both_conversations() -> None:
    client = Recorder()
    payload = {"uuid": "leg-1", "conversation_uuid_from": "CON-A", "conversation_uuid_to": "CON-B",
               "timestamp": "2020-01-01T12:00:00.000Z"}  # fmt: skip
    assert _save(payload, client)
    where = []
    for operation in client.items:
        ((verb, write),) = operation.items()
        key = write["Item"] if verb == "Put" else write["Key"]
        where.append((verb, key["pk"]["S"], key["sk"]["S"]))
    event = client.items[0]["Put"]["Item"]["sk"]["S"]
    assert where == [
        ("Put", "CALL#CON-A", event),
        ("Update", "CALL#CON-A", "SUMMARY"),
        ("Update", "CALL#CON-A", "LEG#leg-1"),
        ("Put", "CALL#CON-B", event),
        ("Update", "CALL#CON-B", "SUMMARY"),
        ("Update", "CALL#CON-B", "LEG#leg-1"),
    ]
    first, copy = client.items[0]["Put"]["Item"], client.items[3]["Put"]["Item"]
    assert {**first, "pk": copy["pk"]} == copy
    for leg in (client.items[2], client.items[5]):
        (moved,) = applied(leg)["ADD"]["transfers"]["SS"]
        assert json.loads(moved) == {"conversation_uuid_from": "CON-A", "conversation_uuid_to": "CON-B",
                                     "timestamp": "2020-01-01T12:00:00.000Z"}  # fmt: skip
    assert applied(client.items[1]) == applied(client.items[4])  # each conversation counts it once


def test_an_event_without_a_leg_only_counts() -> None:
    client = Recorder()
    assert _save({"conversation_uuid": "CON-1", "payload": {"menu": 1}}, client)
    put, update = client.items
    assert put["Put"]["Item"]["sk"]["S"].startswith("EVENT#untimed#4notify#")
    assert applied(update) == {
        "SET": {"expires_at": {"N": "1800000000"}},
        "SET_ONCE": {},
        "ADD": {"event_count": {"N": "1"}},
    }


TRANSFER = {"uuid": "leg-1", "conversation_uuid_from": "CON-A", "conversation_uuid_to": "CON-B"}


@pytest.mark.parametrize(
    ("payload", "codes", "outcome"),
    [
        (_status(), ["ConditionalCheckFailed", "None", "None"], False),  # a redelivery
        (_status(), ["None", "ValidationError", "None"], StoreRejected),
        (_status(), ["None", "None", "ValidationError"], StoreRejected),
        (_status(), ["None", "TransactionConflict", "None"], StoreUnavailable),
        ({"conversation_uuid": "CON-1"}, ["ConditionalCheckFailed", "None"], False),
        ({"conversation_uuid": "CON-1"}, ["None", "ValidationError"], StoreRejected),
        (TRANSFER, ["ConditionalCheckFailed", *["None"] * 5], False),
        (TRANSFER, ["None", "None", "None", "ConditionalCheckFailed", "None", "None"], StoreUnavailable),
        (TRANSFER, [*["None"] * 5, "ValidationError"], StoreRejected),
    ],
)
def test_a_cancelled_event_is_read_by_its_writes_roles(
    payload: dict[str, Any], codes: list[str], outcome: Any
) -> None:
    client = Recorder(codes)
    if outcome is False:
        assert _save(payload, client) is False
        return
    with pytest.raises(outcome):
        _save(payload, client)
    assert len(client.items) == len(codes)


# --- the route -----------------------------------------------------------------------------------


def test_an_event_is_stored_at_the_injected_clocks_time_and_answered_with_an_empty_object() -> None:
    client = Recorder()
    settings = stage_settings(RETENTION_DAYS="30")
    adapters = Adapters(
        store_for=lambda _: CallStore(client, "calls"), load_settings=lambda: settings, clock=lambda: RECEIVED
    )
    body = b'{"conversation_uuid": "CON-1", "payload": {"menu": 1}}'
    reply = event_route.event(adapters, Request(None, body, "application/json"))
    assert (reply.status, reply.body, reply.text) == (200, {}, "{}")
    item = client.items[0]["Put"]["Item"]
    assert item["received_at"]["S"] == item["timestamp"]["S"] == RECEIVED_AT  # untimed: the time received
    assert int(item["expires_at"]["N"]) == int(RECEIVED.timestamp()) + 30 * 86_400
    assert expiry(RECEIVED, 30) == int(RECEIVED.timestamp()) + 30 * 86_400


def test_without_a_clock_an_event_is_stored_at_the_systems_utc_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default clock is the system's, in UTC (set here: no test waits on the real one)."""
    from chalicelib.routes import adapters as adapters_module

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            assert tz is UTC  # an aware time: utc_iso of a naive one would be local time
            return RECEIVED

    monkeypatch.setattr(adapters_module, "datetime", Frozen)
    client = Recorder()
    adapters = Adapters(store_for=lambda _: CallStore(client, "calls"), load_settings=stage_settings)
    body = b'{"conversation_uuid": "CON-1", "payload": {"menu": 1}}'
    reply = event_route.event(adapters, Request(None, body, "application/json"))
    assert (reply.status, reply.body, reply.text) == (200, {}, "{}")
    item = client.items[0]["Put"]["Item"]
    assert item["received_at"]["S"] == item["timestamp"]["S"] == RECEIVED_AT
    assert int(item["expires_at"]["N"]) == int(RECEIVED.timestamp()) + 365 * 86_400  # RETENTION_DAYS default
