"""Webhook parsing: what Vonage sends in each format, and what is rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.answer_request import parse_answer, parse_fallback, read_answer
from chalicelib.errors import WebhookError
from chalicelib.events import parse_event
from chalicelib.webhooks import MAX_JSON_DEPTH, public_base_url, request_params

RECEIVED = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
RECEIVED_AT = "2026-11-20T12:00:00.123456Z"  # utc_iso(RECEIVED): what the event URL passes parse_event


def test_query_then_json_body_over_it() -> None:
    params = request_params({"a": "1", "to": "q"}, b'{"to": "14155550100", "n": 2}', "application/json")
    assert params == {"a": "1", "to": "14155550100", "n": 2}
    assert list(params) == ["a", "to", "n"]  # Vonage's payload_hash order: query, then body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": "\\ud800"}', "unpaired UTF-16 surrogate"),
        (b'{"a": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
        (b'{"duration": NaN}', "NaN is not a JSON number"),
        (b'{"price": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"price": 1e400}', "too large for a JSON number"),
    ],
)
def test_json_that_could_be_stored_but_never_served(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        request_params(None, body, "application/json")


def _nested(depth: int) -> bytes:
    """An answer request whose `custom_data` nests `depth` levels (the body itself is one more)."""
    return b'{"conversation_uuid": "CON-1", "uuid": "u", "custom_data": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 900, 968, 969, 990, 1100])
def test_json_nested_deeper_than_the_limit_is_refused_when_read(depth: int) -> None:
    # Depths near the interpreter's recursion limit parse, then failed in every later json.dumps.
    with pytest.raises(WebhookError, match="nested too deeply"):
        request_params(None, _nested(depth), "application/json")
    request = read_answer({"conversation_uuid": "CON-1", "uuid": "u"}, _nested(depth), "application/json")
    assert request.body_problem is not None and "nested too deeply" in request.body_problem
    assert request.leg_key == "u"  # the refusal is still filed under the query's ids


def test_json_nested_to_the_limit_is_read() -> None:
    assert request_params(None, _nested(MAX_JSON_DEPTH - 1), "application/json")["uuid"] == "u"


def test_a_query_that_is_no_text_files_nothing() -> None:
    with pytest.raises(WebhookError, match="unpaired UTF-16 surrogate"):
        request_params({"conversation_uuid": "\ud800"}, None, None)
    request = read_answer({"conversation_uuid": "\ud800", "uuid": "u"}, b"{", "application/json")
    assert request.body_problem is not None and request.leg_key is None


def test_form_body() -> None:
    assert request_params(None, b"to=14155550100&from_user=jane", "application/x-www-form-urlencoded") == {
        "to": "14155550100",
        "from_user": "jane",
    }


@pytest.mark.parametrize(
    ("body", "message", "status"),
    [
        (b"{not json", "body is not valid JSON", 400),
        (b'["a"]', "body must be a JSON object", 400),
        (b"\xff\xfe", "body is not UTF-8", 400),
        (b" " + b"x" * (256 * 1024), "larger than 262144 bytes", 413),
    ],
)
def test_bad_bodies(body: bytes, message: str, status: int) -> None:
    with pytest.raises(WebhookError, match=message) as caught:
        request_params(None, body, "application/json")
    assert caught.value.status == status


def test_answer_client_sdk_server_call() -> None:
    request = parse_answer(
        {
            "to": "14155550101",
            "from_user": "jane",
            "uuid": "aaaa-1",
            "conversation_uuid": "CON-1",
            "custom_data": {"plan": "gold"},
            "endpoint_type": "app",
        }
    )
    assert (request.to, request.caller, request.caller_is_number) == ("14155550101", "jane", False)
    assert request.leg_key == "aaaa-1"


def test_answer_older_format_user_name_in_from_and_uuid_none() -> None:
    request = parse_answer(
        {"from": "demo", "to": "14155550100", "conversation_uuid": "CON-4e97", "uuid": "NONE"}
    )
    assert (request.caller, request.caller_is_number, request.uuid) == ("demo", False, None)
    # the conversation alone identifies it (it is the partition): two uuid=NONE calls stay two calls
    assert request.leg_key == ""


def test_answer_pstn_caller_is_a_number() -> None:
    request = parse_answer(
        {"from": "447700900000", "to": "14155550100", "uuid": "u", "conversation_uuid": "c"}
    )
    assert request.caller_is_number is True


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"uuid": "u"}, "no conversation_uuid"),
        ({"uuid": "u", "conversation_uuid": ""}, "no conversation_uuid"),
        ({"uuid": "u", "conversation_uuid": "\U0001f4de" * 251}, "conversation_uuid is longer than 250"),
        ({"uuid": "u" * 251, "conversation_uuid": "CON-1"}, "uuid is longer than 250"),
    ],
)
def test_answer_ids_that_cannot_be_filed(params: dict, problem: str) -> None:
    request = parse_answer(params)
    assert request.id_problem is not None and request.id_problem.startswith(problem)
    assert request.leg_key is None


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        (
            {"uuid": "u", "conversation_uuid": "\U0001f4de" * 126},
            "conversation_uuid is longer than 500 bytes",
        ),
        ({"uuid": "\U0001f4de" * 250, "conversation_uuid": "CON-1"}, "uuid is longer than 500 bytes"),
        ({"conversation_uuid": "CON-1", "from_user": "é" * 251}, "from_user is longer than 250"),
        ({"conversation_uuid": "CON-1", "from": "\U0001f4de" * 200}, "from is longer than 500 bytes"),
        ({"conversation_uuid": "CON-1", "from_user": 42}, "from_user must be a string"),
        ({"conversation_uuid": "CON-1", "from": ["jane"]}, "from must be a string"),
        ({"conversation_uuid": "CON-1", "uuid": True}, "uuid must be a string"),
        ({"conversation_uuid": "CON-1", "uuid": "\ud800"}, "uuid is not UTF-8 text"),
    ],
)
def test_answer_ids_must_be_strings_that_fit_a_key(params: dict, problem: str) -> None:
    request = parse_answer(params)
    assert request.id_problem is not None and request.id_problem.startswith(problem)
    assert request.leg_key is None


def test_ids_at_the_limits_are_accepted() -> None:
    request = parse_answer(
        {"conversation_uuid": "\U0001f4de" * 125, "uuid": "é" * 250, "from_user": "x" * 250}
    )
    assert request.id_problem is None and request.leg_key == "é" * 250


@pytest.mark.parametrize("value", [12345, 12345.0, True, ["CON-1"], {"id": "CON-1"}])
def test_one_rule_for_a_conversation_uuid_that_is_not_a_string(value: object) -> None:
    # Vonage's ids are strings; 12345 read as "12345" would share a call with the string "12345".
    request = parse_answer({"conversation_uuid": value, "uuid": "u", "from_user": "jane"})
    assert (request.id_problem, request.leg_key) == ("conversation_uuid must be a string", None)
    with pytest.raises(WebhookError, match=r"^conversation_uuid must be a string$"):
        parse_event({"conversation_uuid": value, "uuid": "u", "status": "started"}, RECEIVED_AT)
    use = parse_fallback({"conversation_uuid": value, "uuid": "u", "status": "failed"}, RECEIVED)
    assert (use.use_key, use.carried) == (None, None)


def test_ids_that_cannot_be_filed_are_kept_small_for_the_logs() -> None:
    request = parse_answer({"conversation_uuid": "C" * 100_000, "uuid": list(range(50_000))})
    assert request.conversation_uuid == "C" * 100 + "…"
    assert request.uuid is not None and request.uuid.startswith("list:[0, 1, 2") and len(request.uuid) == 101


def test_answer_phone_caller_as_a_json_number_is_its_digits() -> None:
    request = parse_answer({"from": 447700900000, "to": "14155550100", "uuid": "u", "conversation_uuid": "c"})
    assert (request.caller, request.caller_is_number, request.id_problem) == ("447700900000", True, None)


def test_fallback_record_stays_small_whatever_is_sent() -> None:
    use = parse_fallback(
        {"conversation_uuid": "CON-1", "uuid": "u", "reason": ["x" * 1000] * 100,
         "original_request": {"url": {"deep": ["x" * 1000]}, "type": "answer", "other": "dropped"}},
        RECEIVED,
    )  # fmt: skip
    assert use.fallback["reason"].startswith('list:["xxx') and len(use.fallback["reason"]) == 201
    assert use.fallback["original_request"]["type"] == "answer"
    assert len(use.fallback["original_request"]["url"]) == 201
    assert set(use.fallback["original_request"]) == {"url", "type"}


def test_answer_json_number_to_becomes_digits() -> None:
    assert parse_answer({"to": 14155550101}).to == "14155550101"
    assert parse_answer({"to": ["14155550101"]}).to == 'list:["14155550101"]'  # stays visible, then refused
    assert parse_answer({"to": 1415555010.0}).to == "float:1415555010.0"  # not 14155550100


def _status(**fields: object) -> dict[str, object]:
    return {
        "from": "jane",
        "to": "14155550101",
        "uuid": "leg-1",
        "conversation_uuid": "CON-1",
        "status": "ringing",
        "direction": "outbound",
        "timestamp": "2020-01-01T12:00:00.000Z",
        **fields,
    }


def test_status_event() -> None:
    event = parse_event(_status(), RECEIVED_AT)
    assert (event.conversation_uuid, event.leg_uuid, event.kind, event.status) == (
        "CON-1",
        "leg-1",
        "status",
        "ringing",
    )
    assert event.timestamp == "2020-01-01T12:00:00.000000Z"


@pytest.mark.parametrize(
    ("payload", "kind", "conversation", "leg"),
    [
        ({"call_uuid": "leg-1", "conversation_uuid": "CON-1", "status": "human"}, "status", "CON-1", "leg-1"),
        (
            {"recording_url": "https://x/r", "recording_uuid": "r1", "conversation_uuid": "CON-1"},
            "record",
            "CON-1",
            None,
        ),
        (
            {"type": "record", "status": "transcribed", "conversation_uuid": "CON-1"},
            "transcription",
            "CON-1",
            None,
        ),
        (
            {"dtmf": {"digits": "12", "timed_out": False}, "uuid": "leg-1", "conversation_uuid": "CON-1"},
            "input",
            "CON-1",
            "leg-1",
        ),
        (
            {"speech": {"results": []}, "uuid": "leg-1", "conversation_uuid": "CON-1"},
            "input",
            "CON-1",
            "leg-1",
        ),
        (
            {"conversation_uuid_from": "CON-1", "conversation_uuid_to": "CON-2", "uuid": "leg-1"},
            "transfer",
            "CON-1",
            "leg-1",
        ),
        ({"payload": {"step": 2}, "conversation_uuid": "CON-1"}, "notify", "CON-1", None),
        ({"reason": "Syntax error in NCCO.", "conversation_uuid": "CON-1"}, "error", "CON-1", None),
    ],
)
def test_other_payloads_are_classified(payload: dict, kind: str, conversation: str, leg: str | None) -> None:
    event = parse_event(payload, RECEIVED_AT)
    assert (event.kind, event.conversation_uuid, event.leg_uuid) == (kind, conversation, leg)
    assert event.payload is payload


def test_timestamp_falls_back_to_time_received() -> None:
    assert parse_event(_status(timestamp=None), RECEIVED_AT).timestamp == "2026-11-20T12:00:00.123456Z"
    assert parse_event(_status(timestamp="yesterday"), RECEIVED_AT).timestamp == "2026-11-20T12:00:00.123456Z"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", 12345, "2020-13-01"]
)
def test_unusable_timestamps_fall_back_to_time_received(value: object) -> None:
    event = parse_event(_status(timestamp=value), RECEIVED_AT)
    assert (event.timestamp, event.timed) == ("2026-11-20T12:00:00.123456Z", False)


def test_timestamp_offsets_are_converted_to_utc() -> None:
    assert (
        parse_event(_status(timestamp="2020-01-01T13:00:00+01:00"), RECEIVED_AT).timestamp
        == "2020-01-01T12:00:00.000000Z"
    )


def test_digest_ignores_key_order_but_not_values() -> None:
    one = parse_event(_status(), RECEIVED_AT)
    reordered = parse_event(json.loads(json.dumps(dict(reversed(list(_status().items()))))), RECEIVED_AT)
    other = parse_event(_status(status="answered"), RECEIVED_AT)
    assert one.digest == reordered.digest
    assert one.digest != other.digest


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "started"}, "none of conversation_uuid, uuid, call_uuid"),
        ({}, "none of conversation_uuid, uuid, call_uuid"),
        ({"uuid": "leg-1", "status": "started"}, "no conversation_uuid"),
        ({"conversation_uuid": 42}, "conversation_uuid must be a string"),
        ({"conversation_uuid": "C" * 251}, "conversation_uuid is longer than 250 characters"),
        ({"conversation_uuid": "\U0001f4de" * 126}, "conversation_uuid is longer than 500 bytes"),
        (
            {"conversation_uuid": "CON-1", "call_uuid": "\U0001f4de" * 250},
            "call_uuid is longer than 500 bytes",
        ),
        ({"conversation_uuid_from": "CON-1", "conversation_uuid_to": "é" * 251}, "_to is longer than 250"),
        ({"conversation_uuid": "CON-1", "uuid": ["x"]}, "uuid must be a string"),
    ],
)
def test_unusable_events(payload: dict, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        parse_event(payload, RECEIVED_AT)


def test_event_that_would_not_fit_an_item() -> None:
    # 60,000 control characters: 60 KB as a body, 360 KB once JSON-escaped
    with pytest.raises(WebhookError, match="larger than 300000 bytes") as caught:
        parse_event({"conversation_uuid": "CON-1", "blob": "\x01" * 60_000}, RECEIVED_AT)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("configured", "headers", "stage", "expected"),
    [
        (None, {"host": "abc.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"}, "api",
         "https://abc.execute-api.eu-west-1.amazonaws.com/api"),
        (None, {"host": "127.0.0.1:8000"}, None, "http://127.0.0.1:8000"),  # chalice local
        (None, {"host": "calls.example.com", "x-forwarded-proto": "https"}, "$default", "https://calls.example.com"),
        ("https://voice.example.org/", {"host": "ignored"}, "api", "https://voice.example.org"),
        (None, {}, "api", None),
        (None, {"host": "evil.example.com/path?x="}, "api", None),  # not a host: no URL at all
    ],
)  # fmt: skip
def test_public_base_url(
    configured: str | None, headers: dict, stage: str | None, expected: str | None
) -> None:
    assert public_base_url(configured, headers, stage) == expected


def test_a_lone_surrogate_in_the_query_is_refused_beside_a_json_body() -> None:
    # A body without \u escapes cannot hold one, so only the query's own entries are checked,
    # and only those the body did not replace.
    with pytest.raises(WebhookError, match="unpaired UTF-16 surrogate"):
        request_params({"custom": "\ud800"}, b'{"to": "14155550100"}', "application/json")
    with pytest.raises(WebhookError, match="unpaired UTF-16 surrogate"):
        request_params({"\udc00": "x"}, b'{"to": "14155550100"}', "application/json")
    replaced = request_params({"to": "\ud800"}, b'{"to": "14155550100"}', "application/json")
    assert replaced == {"to": "14155550100"}
    assert request_params(None, b'{"name": "\\u00e9\\ud83d\\ude00"}', "application/json") == {
        "name": "\u00e9\U0001f600"  # escapes that pair up are text
    }


def test_a_body_with_a_byte_order_mark_is_refused_as_json_loads_refuses_it() -> None:
    text = '\ufeff{"to": "14155550100"}'
    with pytest.raises(json.JSONDecodeError) as loads:
        json.loads(text)
    with pytest.raises(WebhookError) as caught:
        request_params(None, text.encode(), "application/json")
    assert str(caught.value) == f"body is not valid JSON: {loads.value}"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = json.dumps({"conversation_uuid": "CON-1", "text": "[{" * 200}).encode()
    assert request_params(None, body, "application/json")["text"] == "[{" * 200


def test_public_base_url_is_worked_out_per_host() -> None:
    api = public_base_url(None, {"host": "a.example.com", "x-forwarded-proto": "https"}, "api")
    assert api == "https://a.example.com/api"
    assert public_base_url(None, {"host": "b.example.com"}, None) == "http://b.example.com"
    assert public_base_url(None, {"host": "a.example.com", "x-forwarded-proto": "https"}, "api") == api
    assert public_base_url(None, {"host": "a.example.com"}, "$default") == "http://a.example.com"


def test_a_fallback_files_the_event_it_carries_at_the_time_received() -> None:
    params = {"conversation_uuid": "CON-1", "uuid": "u", "status": "failed", "reason": "timeout"}
    use = parse_fallback(params, RECEIVED)
    assert use.fallback["received_at"] == RECEIVED_AT
    assert use.carried is not None and (use.carried.timestamp, use.carried.timed) == (RECEIVED_AT, False)
    assert use.carried.payload == {"conversation_uuid": "CON-1", "uuid": "u", "status": "failed"}
