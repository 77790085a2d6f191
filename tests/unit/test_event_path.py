"""The event URL's cheaper steps give exactly what the plain ones give.

Each check holds a shortcut (a timestamp format parsed by hand, one JSON encoder
built once, a StatusFact written without the object, a transaction written from
literals) to the general code it stands for, over generated and odd inputs.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import handlers as handlers_module
from chalicelib import summary, webhooks
from chalicelib.storage import keys
from chalicelib.storage.call_store import CallStore
from chalicelib.storage.errors import StoreRejected, StoreUnavailable
from chalicelib.webhooks import compact_json, parse_event, payload_digest, request_params, utc_iso
from tests.support import stage_settings

RECEIVED = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)


def _parsed_timestamp(value: Any) -> str | None:
    """What _timestamp gives for any text: fromisoformat, then utc_iso (no shortcut)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return utc_iso(moment)
    except (ValueError, OverflowError):
        return None


def _timestamps(count: int) -> list[str]:
    """Vonage's format over the whole range of years, and its near misses."""
    rng = random.Random(20261120)
    found = []
    for _ in range(count):
        moment = datetime(1, 1, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(3_652_058), seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6)
        )
        text = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
        if moment.year < 1000:
            text = f"{moment.year:04d}" + text[text.index("-") :]
        found.append(text)
        found.append(text[:-1])  # no zone: UTC all the same
        found.append(text[:19] + "Z")  # no fraction
        found.append(text[:19] + f".{moment.microsecond:06d}Z")  # six digits
        found.append(text[:-1] + rng.choice(["+01:00", "-05:30", "+00:00", "+14:00"]))
        position = rng.randrange(len(text))  # one character changed: mostly no time at all
        found.append(text[:position] + rng.choice("0123456789:-.TZ x٣") + text[position + 1 :])
    return found


ODD_TIMESTAMPS = [
    "2020-02-29T23:59:59.999Z",  # a leap day
    "2021-02-29T00:00:00.000Z",  # not one
    "2020-04-31T00:00:00.000Z",
    "2020-01-31T00:00:00.000Z",
    "2020-13-01T00:00:00.000Z",
    "2020-00-10T00:00:00.000Z",
    "2020-01-00T00:00:00.000Z",
    "2020-01-01T24:00:00.000Z",
    "2020-01-01T23:60:00.000Z",
    "2020-01-01T23:59:60.000Z",
    "0000-01-01T00:00:00.000Z",
    "0001-01-01T00:00:00.000Z",
    "0999-12-31T23:59:59.999Z",
    "1000-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.999-01:00",
    "\uff12020-01-01T12:00:00.000Z",  # a digit that is not ASCII (fullwidth 2)
    "2020-01-01T12:00:00.000z",
    "2020-01-01 12:00:00.000Z",
    "2020-01-01T12:00:00.000Z\n",
    " 2020-01-01T12:00:00.000Z",
    "2020-01-01T12:00:00.0000Z",
    "2020-01-01T12:00:00.00Z",
    "2020-01-01",
    "",
]


@pytest.mark.parametrize("chunk", range(4))
def test_the_timestamp_shortcut_is_the_parse(chunk: int) -> None:
    values = _timestamps(2500)[chunk::4] + ODD_TIMESTAMPS
    for value in values:
        assert webhooks._timestamp(value) == _parsed_timestamp(value), value


def test_the_timestamp_shortcut_takes_vonages_format() -> None:
    assert webhooks._VONAGE_TIME.fullmatch("2026-11-20T12:00:00.123Z")
    assert webhooks._timestamp("2026-11-20T12:00:00.123Z") == "2026-11-20T12:00:00.123000Z"


@pytest.mark.parametrize(
    "moment",
    [
        RECEIVED,
        datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(0))),  # UTC, though not datetime's UTC object
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_utc_iso_is_the_same_text_in_any_zone(moment: datetime) -> None:
    assert utc_iso(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


JSON_VALUES: list[Any] = [
    {},
    [],
    {"b": 1, "a": [3, {"z": None, "y": True}], "c": 'naïve ☃ \u2028 "quoted" \\ \n'},
    {"n": 1.0, "m": -0.0, "big": 10**30, "small": 1e-7, "float": 0.1, "e": 1e16, "s": ""},
    {"nested": {"k": {"j": {"i": [[], {}]}}}, "emoji": "😀", "ctrl": "\x00\x1f"},
    [1, "two", None, False, 2.5],
    "plain text",
    12,
    None,
]


@pytest.mark.parametrize("value", JSON_VALUES)
@pytest.mark.parametrize("sort_keys", [False, True])
def test_compact_json_is_json_dumps(value: Any, sort_keys: bool) -> None:
    expected = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    assert compact_json(sort_keys)(value) == expected
    assert compact_json(sort_keys)(value) == expected  # the same encoder again: nothing left over


def test_compact_json_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        compact_json(False)({"when": datetime.now(UTC)})
    assert compact_json(False)({"a": 1}) == '{"a":1}'  # and still works afterwards


def test_the_digest_is_sha256_of_canonical_json_in_any_key_order() -> None:
    payload = {
        "uuid": "u",
        "status": "started",
        "headers": {"b": "2", "a": "1"},
        "conversation_uuid": "CON-1",
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]
    reordered = json.loads(json.dumps(dict(reversed(list(payload.items())))))
    assert payload_digest(payload) == payload_digest(reordered) == expected
    assert parse_event(payload, RECEIVED).digest == parse_event(reordered, RECEIVED).digest == expected


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
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b"{}",
        b"{",
        b"}",
        b'{"a":"}"}',
    ],
)
def test_json_bodies_read_as_json_loads_reads_them(body: bytes) -> None:
    try:
        expected: Any = webhooks._JSON_BODY.decode(body.decode())
    except ValueError as exc:
        with pytest.raises(webhooks.WebhookError) as raised:
            request_params(None, body, "application/json")
        assert str(raised.value) == f"body is not valid JSON: {exc}"
    else:
        assert request_params(None, body, "application/json") == expected


def test_a_body_without_a_query_is_all_the_fields() -> None:
    params = request_params(None, b'{"z": 1, "a": 2}', "application/json")
    assert list(params) == ["z", "a"]
    assert request_params({}, b'{"z": 1, "a": 2}', None) == {"z": 1, "a": 2}
    with pytest.raises(webhooks.WebhookError, match="surrogate"):
        request_params({"q": "\ud800"}, b'{"z": 1}', "application/json")  # the query is still checked


def _status(**fields: Any) -> dict[str, Any]:
    return {
        "uuid": "leg-1",
        "conversation_uuid": "CON-1",
        "status": "completed",
        "direction": "outbound",
        "timestamp": "2020-01-01T12:00:00.000Z",
        **fields,
    }


STATUS_PAYLOADS = [
    _status(),
    _status(direction="inbound", status="started"),
    _status(direction=None, status="ringing"),
    _status(direction="sideways", status="busy"),
    _status(direction=3, status="failed"),
    _status(direction="", status="timeout"),
]


@pytest.mark.parametrize("payload", STATUS_PAYLOADS)
def test_status_text_is_the_encoded_status_fact(payload: dict[str, Any]) -> None:
    for ms in (0, 1577880000000, 10**13 - 1):
        expected = summary.status_fact(payload, ms, payload["uuid"]).encode()
        assert summary.status_text(payload, ms, payload["uuid"]) == expected


def _leg_fact_in_field_order(payload: dict[str, Any], ms: int, reply: Any = None) -> dict[str, Any]:
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


def test_leg_facts_keep_field_order_whatever_the_payloads_order() -> None:
    rng = random.Random(5)
    odd = [None, "", "x" * 100, 7, 2.5, True, [], {}, "value"]
    for _ in range(300):
        payload = {"status": "completed", "uuid": "u", "extra": 1}
        for field in rng.sample(summary.LEG_FIELDS, rng.randrange(len(summary.LEG_FIELDS) + 1)):
            payload[field] = rng.choice(odd)
        items = list(payload.items())
        rng.shuffle(items)
        payload = dict(items)
        reply = rng.choice([None, [{"action": "talk", "text": "hi"}]])
        fact = summary.leg_fact(payload, 42, reply)
        expected = _leg_fact_in_field_order(payload, 42, reply)
        assert list(fact.items()) == list(expected.items())


class Text(str):
    pass


class Whole(int):
    pass


def test_a_leg_facts_text_is_its_json() -> None:
    """leg_fact_text writes the fact itself: the encoder's text for every kind of value."""
    rng = random.Random(9)
    odd = [None, "", "x" * 100, 'naïve "☃" \\ \n', 7, -3, 2.5, float("nan"), True, False, [], {}, "v",
           Text("sub"), Whole(4), 10**30]  # fmt: skip
    encode = compact_json(sort_keys=False)
    for _ in range(3000):
        payload: dict[str, Any] = {"status": rng.choice(["completed", "answered", Text("busy")]), "uuid": "u"}
        for field in rng.sample(summary.LEG_FIELDS, rng.randrange(len(summary.LEG_FIELDS) + 1)):
            payload[field] = rng.choice(odd)
        reply = rng.choice([None, None, [{"action": "talk", "text": "hi"}]])
        ms = rng.choice([0, 1577880000000, Whole(5)])
        assert summary.leg_fact_text(payload, ms, reply) == encode(summary.leg_fact(payload, ms, reply))


@pytest.mark.parametrize(
    ("price", "duration"),
    [("0.01800000", "240"), (1, 5), ("abc", "x"), (None, None), (True, False), (1.5, "12.5"), ("", "")],
)
def test_billed_reads_only_vonages_numbers(price: Any, duration: Any) -> None:
    def number(value: Any, pattern: Any) -> str | None:
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        return text if pattern.fullmatch(text) else None

    payload = {"price": price, "duration": duration}
    assert summary.billed(payload) == (number(price, summary._AMOUNT), number(duration, summary._SECONDS))


def test_the_leg_tag_cache_answers_per_leg() -> None:
    for leg in ("a", "b", "a", "ü" * 40, "b"):
        assert summary.leg_tag(leg) == hashlib.blake2b(leg.encode("utf-8"), digest_size=4).hexdigest()


def test_sort_keys_alone_are_those_of_the_keys() -> None:
    for timestamp in ("2026-11-20T12:00:00.000000Z", None):
        for label in ("started", "answered", "input", "transcribed"):
            key = keys.event_key("CON-1", timestamp, label, "d1")
            assert keys.event_sort_key(timestamp, label, "d1") == key[keys.SORT_KEY]
    assert keys.leg_sort_key("leg-1") == keys.leg_key("CON-1", "leg-1")[keys.SORT_KEY]
    for timestamp in ("2026-11-20T12:00:00.000000Z", None):
        for label in ("started", "disconnected", "input", "other"):
            key = keys.event_key("CON-1", timestamp, label, "d1")
            pair = keys.event_key_pair("CON-1", timestamp, label, "d1")
            assert pair == (key[keys.PARTITION_KEY], key[keys.SORT_KEY])


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
    event = parse_event(payload, RECEIVED)
    return CallStore(client, "calls").save_event(event, utc_iso(RECEIVED), 1800000000, reply)


def test_the_event_tuple_unpacks_in_field_order() -> None:
    """The store unpacks an Event whole: its fields must stay in this order."""
    assert webhooks.Event._fields == (
        "conversation_uuid", "leg_uuid", "kind", "status", "timestamp", "timed", "label", "digest",
        "payload", "also_conversation", "encoded",
    )  # fmt: skip
    event = parse_event({"conversation_uuid": "CON-1", "uuid": "leg-1"}, RECEIVED)  # built field by field
    assert type(event) is webhooks.Event and event == webhooks.Event(*event) and event.leg_uuid == "leg-1"


def test_the_event_carries_its_payload_as_stored_and_the_store_takes_it() -> None:
    """parse_event encodes the stored text next to the digest's: the store's own encoding."""
    payload = {"z": 1, "headers": {"b": "2", "a": "1"}, "conversation_uuid": "CON-1", "text": "naïve ☃"}
    event = parse_event(payload, RECEIVED)
    assert event.encoded == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    with_text, without = Recorder(), Recorder()
    store = CallStore(with_text, "calls")
    assert store.save_event(event, utc_iso(RECEIVED), 1800000000)
    assert CallStore(without, "calls").save_event(event._replace(encoded=None), utc_iso(RECEIVED), 1800000000)
    assert with_text.items == without.items  # an Event built without it is encoded by the store


KIND_FIELDS = ["status", "conversation_uuid_from", "speech", "dtmf", "recording_url", "reason", "payload"]


def test_the_events_kind_is_kinds() -> None:
    """parse_event works the kind out in place: the same as _kind for every mix of the fields."""
    for mask in range(2 ** len(KIND_FIELDS)):
        present = [field for n, field in enumerate(KIND_FIELDS) if mask >> n & 1]
        for status in ("transcribed", "started", None, 3):
            payload: dict[str, Any] = {"conversation_uuid": "CON-1", **dict.fromkeys(present, "x")}
            if "status" in payload:
                payload["status"] = status
            assert parse_event(payload, RECEIVED).kind == webhooks._kind(payload), payload


def test_an_untimed_event_takes_the_time_received_as_text_or_as_a_moment() -> None:
    payload = {"conversation_uuid": "CON-1", "payload": {"menu": 1}}
    from_text = parse_event(payload, utc_iso(RECEIVED))
    assert from_text == parse_event(payload, RECEIVED)
    assert (from_text.timestamp, from_text.timed) == ("2026-11-20T12:00:00.123456Z", False)


def _utc_iso_by_format(moment: datetime) -> str:
    """The text utc_iso builds from a table of two-digit fields: strftime's."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_utc_iso_is_the_format_over_the_whole_range() -> None:
    rng = random.Random(11)
    for _ in range(20_000):
        moment = datetime(1, 1, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(3_652_058), seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6)
        )
        assert utc_iso(moment) == _utc_iso_by_format(moment), moment
    for micro in (0, 1, 999_999, 100_000):
        moment = RECEIVED.replace(microsecond=micro)
        assert utc_iso(moment) == _utc_iso_by_format(moment)


def _clock_at(monkeypatch: pytest.MonkeyPatch, ns: int) -> datetime:
    """Sets the clock now_stamp reads; the datetime.now(UTC) it stands for (floored to a µs)."""
    monkeypatch.setattr(webhooks.time, "time_ns", lambda: ns)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def test_now_stamp_is_the_text_and_seconds_of_datetime_now(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    start = 1_795_000_000 * 10**9
    times = [0, 59 * 10**9 + 999_999_999, 60 * 10**9, start, start + 999, start + 1000]
    times += [start + rng.randrange(10**9 * 3600 * 24 * 3) for _ in range(3000)]  # minutes in any order
    times += [rng.randrange(2**33 * 10**9) for _ in range(3000)]  # 1970 to 2242
    for ns in times:
        now = _clock_at(monkeypatch, ns)
        assert webhooks.now_stamp() == (utc_iso(now), int(now.timestamp())), ns


def test_now_stamp_out_of_its_range_reads_datetime_now(monkeypatch: pytest.MonkeyPatch) -> None:
    for ns in (-1, 2**33 * 10**9):
        _clock_at(monkeypatch, ns)
        text, seconds = webhooks.now_stamp()  # the real time, read the long way
        assert abs(seconds - int(datetime.now(UTC).timestamp())) < 60
        assert text == utc_iso(datetime.fromisoformat(text))


def test_a_body_with_backslashes_but_no_unicode_escape_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[Any] = []
    monkeypatch.setattr(webhooks, "_encodable", lambda params, unchecked: walked.append(params) or params)
    request_params(None, b'{"a": "x\\ny \\" \\\\"}', "application/json")
    request_params(None, b'{"a": "plain"}', "application/json")
    assert walked == []
    request_params(None, b'{"a": "\\u00e9"}', "application/json")
    assert walked == [{"a": "\u00e9"}]


def test_a_status_event_writes_its_item_summary_and_leg() -> None:
    client = Recorder()
    assert _save(_status(price="0.01800000", duration="240"), client, reply=[{"action": "talk"}])
    put, summary_update, leg = client.items
    item = put["Put"]["Item"]
    digest = payload_digest(_status(price="0.01800000", duration="240"))
    assert item[keys.PARTITION_KEY] == {"S": "CALL#CON-1"}
    assert item[keys.SORT_KEY] == {"S": f"EVENT#2020-01-01T12:00:00.000000Z#4completed#{digest}"}
    assert list(item) == [
        "pk", "sk", "kind", "event_kind", "timestamp", "digest", "received_at", "payload", "expires_at",
        "status", "leg_uuid", "reply",
    ]  # fmt: skip
    assert item["payload"]["S"] == json.dumps(
        _status(price="0.01800000", duration="240"), separators=(",", ":"), ensure_ascii=False
    )
    update = summary_update["Update"]
    assert update["Key"] == {"pk": {"S": "CALL#CON-1"}, "sk": {"S": "SUMMARY"}}
    assert update["UpdateExpression"] == "SET #exp = :exp ADD #n :one, #s :s, #p :p, #d :d"
    assert update["ExpressionAttributeNames"] == {
        "#exp": "expires_at", "#n": "event_count", "#s": "statuses", "#p": "total_price",
        "#d": "total_duration",
    }  # fmt: skip
    ms = summary.event_ms("2020-01-01T12:00:00.000000Z")
    assert update["ExpressionAttributeValues"] == {
        ":exp": {"N": "1800000000"},
        ":one": {"N": "1"},
        ":s": {"SS": [summary.status_fact(_status(), ms, "leg-1").encode()]},
        ":p": {"N": "0.01800000"},
        ":d": {"N": "240"},
    }
    assert leg["Update"]["Key"] == {"pk": {"S": "CALL#CON-1"}, "sk": {"S": "LEG#leg-1"}}
    assert leg["Update"]["ExpressionAttributeNames"] == {"#exp": "expires_at", "#f": "facts"}


@pytest.mark.parametrize(("price", "duration"), [(None, None), ("0.01", None), (None, "12")])
def test_a_status_event_adds_only_the_sums_it_has(price: str | None, duration: str | None) -> None:
    client = Recorder()
    _save(_status(price=price, duration=duration), client)
    update = client.items[1]["Update"]
    names = update["ExpressionAttributeNames"]
    assert ("#p" in names, "#d" in names) == (price is not None, duration is not None)
    assert set(update["ExpressionAttributeValues"]) == {":exp", ":one", ":s"} | {
        f":{name[1]}" for name in names if name in ("#p", "#d")
    }
    assert update["UpdateExpression"].count(":") == len(update["ExpressionAttributeValues"])


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
    assert list(first) == list(copy) and {**first, "pk": copy["pk"]} == copy
    moved = json.loads(client.items[2]["Update"]["ExpressionAttributeValues"][":f"]["SS"][0])
    assert moved == {"conversation_uuid_from": "CON-A", "conversation_uuid_to": "CON-B",
                     "timestamp": "2020-01-01T12:00:00.000Z"}  # fmt: skip


def test_an_event_without_a_leg_only_counts() -> None:
    client = Recorder()
    assert _save({"conversation_uuid": "CON-1", "payload": {"menu": 1}}, client)
    put, update = client.items
    assert put["Put"]["Item"]["sk"]["S"].startswith("EVENT#untimed#4notify#")
    assert update["Update"]["UpdateExpression"] == "SET #exp = :exp ADD #n :one"


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


# --- the handler ---------------------------------------------------------------------------------


def _stored_by(clock: Any = None) -> tuple[handlers_module.Reply, dict[str, Any]]:
    """An untimed event through Handlers.event (the system clock unless `clock`): reply and item."""
    client = Recorder()
    settings = stage_settings()
    extra = {} if clock is None else {"clock": clock}
    handlers = handlers_module.Handlers(
        store_for=lambda _: CallStore(client, "calls"), load_settings=lambda: settings, **extra
    )
    body = b'{"conversation_uuid": "CON-1", "payload": {"menu": 1}}'
    reply = handlers.event(None, body, "application/json")
    return reply, client.items[0]["Put"]["Item"]


def test_the_system_clock_is_read_as_the_default_clock_reads_it() -> None:
    """Without a datetime: the same text and expiry as utc_iso and _expiry of _now()."""
    before = handlers_module._now()
    reply, item = _stored_by()
    after = handlers_module._now()
    received = datetime.fromisoformat(item["received_at"]["S"])
    assert item["received_at"]["S"] == item["timestamp"]["S"] == utc_iso(received)
    assert before <= received <= after
    retention = stage_settings().retention_days * 86400
    assert int(item["expires_at"]["N"]) == int(received.timestamp()) + retention
    assert (reply.status, reply.body, reply.encoded) == (200, {}, json.dumps(reply.body))


def test_an_injected_clock_is_read_as_before() -> None:
    reply, item = _stored_by(clock=lambda: RECEIVED)
    assert item["received_at"]["S"] == item["timestamp"]["S"] == utc_iso(RECEIVED)
    assert int(item["expires_at"]["N"]) == handlers_module._expiry(RECEIVED, stage_settings())
    assert reply == handlers_module.Reply(200, {}, "{}") and (reply.status, reply.body) == (200, {})
