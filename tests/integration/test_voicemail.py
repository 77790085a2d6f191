"""Voicemail on a callback, against DynamoDB Local: offered when the app user does not take the
call (or nobody could), recorded by Vonage, kept with the call and shown in its record and in
the listings, each call with its direction."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib import metrics
from chalicelib.storage.table import create_table_args
from devtools import dynamodb_local as ddb
from tests.support import BASE_URL, UNLIMITED, Harness, answer_lines_of_this_thread

TEAM = "14155550100"  # the stage's VONAGE_NUMBER
CALLER = "14155550123"
RECORDING_URL = "https://api.nexmo.com/v1/files/aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


def call_in(h: Harness, conversation: str, caller: str = CALLER) -> list[dict[str, Any]]:
    """A phone call from `caller` to the team's number, as Vonage asks the answer URL."""
    query = {"from": caller, "to": TEAM, "conversation_uuid": conversation, "uuid": f"leg-{conversation}"}
    reply = h.ask(query)  # as Vonage reaches BASE_URL
    assert reply.status == 200
    return reply.body  # type: ignore[no-any-return]


def record_event(conversation: str, **fields: Any) -> dict[str, Any]:
    """Vonage's `record` event for a recording of 14 s (start_time to end_time)."""
    return {
        "start_time": "2020-01-01T12:00:01.000Z", "end_time": "2020-01-01T12:00:15.000Z",
        "recording_url": RECORDING_URL, "size": 28204, "recording_uuid": "rec-0001",
        "conversation_uuid": conversation, "timestamp": "2020-01-01T12:00:15.120Z", **fields,
    }  # fmt: skip


def the_record_action(ncco: list[dict[str, Any]]) -> dict[str, Any]:
    (record,) = [action for action in ncco if action["action"] == "record"]
    return record


def mark_of(url: str) -> dict[str, str]:
    """The query callgate put on one of its own eventUrls (as Vonage will post it back)."""
    base, _, query = url.partition("?")
    assert base == BASE_URL + "/event"
    return dict(part.split("=", 1) for part in query.split("&"))


@pytest.fixture
def h(make_harness) -> Harness:
    return make_harness(**UNLIMITED)


def test_jane_misses_the_callback_and_the_caller_leaves_a_voicemail(h: Harness) -> None:
    h.answer("CON-out", user="jane", to=CALLER)  # jane calls 14155550123
    connect = call_in(h, "CON-in")[-1]  # 14155550123 calls back
    assert connect["endpoint"] == [{"type": "app", "user": "jane"}]
    failover = mark_of(connect["eventUrl"][0])
    unanswered = {"conversation_uuid": "CON-in", "uuid": "leg-app", "status": "unanswered",
                  "direction": "outbound", "timestamp": "2020-01-01T12:00:00.500Z"}  # fmt: skip
    offer = h.event(unanswered, query=failover)
    assert [action["action"] for action in offer] == ["talk", "record"]
    record = the_record_action(offer)
    assert record["timeOut"] == 120 and record["beepStart"] is True  # VOICEMAIL_MAX_SECONDS
    with answer_lines_of_this_thread("event") as lines:
        assert h.event(record_event("CON-in"), query=mark_of(record["eventUrl"][0])) == {}
    (line,) = [line for line in lines if line.get("route") == "/event"]
    assert line["outcome"] == "voicemail" and line[metrics.VOICEMAILS] == 1
    expected = {
        "recording_url": RECORDING_URL, "recording_uuid": "rec-0001",
        "start_time": "2020-01-01T12:00:01.000Z", "end_time": "2020-01-01T12:00:15.000Z",
        "duration": 14, "size": 28204, "user": "jane",
    }  # fmt: skip
    view = h.record("CON-in")
    assert (view["direction"], view["user"], view["voicemail"]) == ("inbound", "jane", expected)
    assert view["answer"]["reason"] == "callback_user" and view["answer"]["direction"] == "inbound"
    assert h.record("CON-out")["voicemail"] is None
    calls = {call["conversation_uuid"]: call for call in h.listing(user="jane")["calls"]}
    assert set(calls) == {"CON-in", "CON-out"}  # her callback beside her outbound call
    assert calls["CON-in"]["direction"] == "inbound" and calls["CON-in"]["voicemail"] == expected
    assert calls["CON-in"]["reason"] == "callback_user"
    assert calls["CON-out"]["direction"] == "outbound" and calls["CON-out"]["voicemail"] is None


def test_a_redelivered_recording_is_stored_once(h: Harness) -> None:
    call_in(h, "CON-again")
    mark = {"recording": "voicemail"}
    assert h.event(record_event("CON-again"), query=mark) == {}
    with answer_lines_of_this_thread("event") as lines:
        assert h.event(record_event("CON-again"), query=mark) == {}
    (line,) = [line for line in lines if line.get("route") == "/event"]
    assert line["outcome"] == "duplicate" and metrics.VOICEMAILS not in line
    view = h.record("CON-again")
    assert view["event_count"] == 1 and view["voicemail"]["recording_uuid"] == "rec-0001"


def test_a_recording_not_marked_as_the_voicemail_is_only_an_event(h: Harness) -> None:
    call_in(h, "CON-plain")
    assert h.event(record_event("CON-plain")) == {}  # no ?recording=voicemail
    view = h.record("CON-plain")
    assert view["voicemail"] is None and view["events"][0]["recording_url"] == RECORDING_URL
    # nor is a status event posted with the mark
    status = {"conversation_uuid": "CON-plain", "uuid": "leg", "status": "completed"}
    assert h.event(status, query={"recording": "voicemail"}) == {}
    assert h.record("CON-plain")["voicemail"] is None


def test_a_recording_without_its_times_or_size_keeps_what_it_has(h: Harness) -> None:
    call_in(h, "CON-bare")  # nobody called this number: the call went to no user
    bare = record_event("CON-bare", start_time=None, size="big")
    del bare["recording_uuid"]
    h.event(bare, query={"recording": "voicemail"})
    assert h.record("CON-bare")["voicemail"] == {
        "recording_url": RECORDING_URL, "recording_uuid": None, "start_time": None,
        "end_time": "2020-01-01T12:00:15.000Z", "duration": None, "size": None, "user": None,
    }  # fmt: skip


def test_an_unknown_number_hears_the_inbound_text_then_may_leave_a_voicemail(h: Harness) -> None:
    ncco = call_in(h, "CON-nobody", caller="14155550199")  # nobody called this number
    assert [action["action"] for action in ncco] == ["talk", "talk", "record"]
    assert ncco[0]["text"] == "Sorry, nobody is available to take your call."  # INBOUND_TEXT
    h.event(record_event("CON-nobody"), query=mark_of(the_record_action(ncco)["eventUrl"][0]))
    view = h.record("CON-nobody")
    assert (view["answer"]["decision"], view["answer"]["reason"]) == ("refuse", "no_user")
    assert view["voicemail"]["duration"] == 14 and view["voicemail"]["user"] is None
    date = h.listing(date=h.now.strftime("%Y-%m-%d"))["calls"]
    (listed,) = [call for call in date if call["conversation_uuid"] == "CON-nobody"]
    assert listed["direction"] == "inbound" and listed["voicemail"]["recording_url"] == RECORDING_URL


def test_the_default_user_gets_an_unknown_number_and_its_voicemail(make_harness) -> None:
    h = make_harness(**UNLIMITED, INBOUND_DEFAULT_USER="desk")
    connect = call_in(h, "CON-desk", caller="14155550199")[-1]
    assert connect["endpoint"] == [{"type": "app", "user": "desk"}]
    busy = {"conversation_uuid": "CON-desk", "uuid": "leg-app", "status": "busy", "direction": "outbound"}
    offer = h.event(busy, query=mark_of(connect["eventUrl"][0]))
    h.event(record_event("CON-desk"), query=mark_of(the_record_action(offer)["eventUrl"][0]))
    (listed,) = h.listing(user="desk")["calls"]
    assert (listed["reason"], listed["voicemail"]["user"]) == ("default_user", "desk")


def test_voicemail_off_ends_the_call_instead(make_harness) -> None:
    h = make_harness(**UNLIMITED, VOICEMAIL="off")
    assert [action["action"] for action in call_in(h, "CON-off", caller="14155550199")] == ["talk"]
    h.answer("CON-out-off", user="jane", to=CALLER)
    connect = call_in(h, "CON-in-off")[-1]
    assert "eventType" not in connect and "eventUrl" not in connect  # nothing to fail over to


def test_a_table_from_before_voicemails_gets_its_indexes_rebuilt(ddb_url: str) -> None:
    """`make run` keeps .dynamodb/data: an older table's indexes copied a list that lacked
    `voicemail`; they become this version's (whole items)."""
    client = ddb.client(ddb_url)
    name = f"callgate-old-{uuid.uuid4().hex[:8]}"
    old = create_table_args(name)
    listed = ["user", "first_answer", "fallback_used", "statuses", "total_price", "total_duration"]
    for index in old["GlobalSecondaryIndexes"]:
        index["Projection"] = {"ProjectionType": "INCLUDE", "NonKeyAttributes": listed}
    client.create_table(**old)
    h = Harness(client, name, **UNLIMITED)
    call_in(h, "CON-old")  # stored before the upgrade
    assert ddb.ensure_table(ddb_url, name) is False  # not created: upgraded
    indexes = client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert [index["Projection"] for index in indexes] == [{"ProjectionType": "ALL"}] * 2
    h.event(record_event("CON-old"), query={"recording": "voicemail"})
    (listed,) = h.listing(date=h.now.strftime("%Y-%m-%d"))["calls"]  # still listed, with its voicemail
    assert listed["conversation_uuid"] == "CON-old" and listed["voicemail"]["duration"] == 14


def test_the_recording_mark_is_not_part_of_the_stored_event(h: Harness) -> None:
    call_in(h, "CON-mark")
    h.event(record_event("CON-mark"), query={"recording": "voicemail"})
    (event,) = h.record("CON-mark")["events"]
    assert "recording" not in event and json.dumps(event) == json.dumps(record_event("CON-mark"))


@pytest.mark.parametrize(
    "field", [{"start_time": "0001-01-01T00:00:00+14:00"}, {"end_time": "9999-12-31T23:59:59-14:00"}]
)
def test_a_voicemail_time_out_of_range_gets_400_and_stores_nothing(h: Harness, field: dict[str, str]) -> None:
    call_in(h, "CON-overflow")
    before = h.record("CON-overflow")
    reply = h.post(record_event("CON-overflow", **field), {"recording": "voicemail"})
    assert reply.status == 400 and "outside the years 1 to 9999 in UTC" in reply.body["error"]
    assert h.record("CON-overflow") == before  # neither the event nor the voicemail
