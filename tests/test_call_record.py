"""The call record against DynamoDB Local: idempotent, order-proof, failover, fallback, history."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import reasons
from chalicelib.service import Service
from chalicelib.settings import load
from chalicelib.store import CallStore
from devtools import dynamodb_local as ddb
from tests.conftest import chalice_client

# In the future, so DynamoDB Local's TTL sweep never removes what a test wrote.
NOW = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
BASE = {"VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US,CA,GB", "MAX_CALLS_PER_MINUTE": "100000",
        "MAX_CALLS_PER_USER_PER_HOUR": "100000", "MAX_CALLS_PER_USER_PER_DAY": "100000"}  # fmt: skip
JSON = "application/json"


class Counting:
    """A boto3 client that counts the calls made through it (round trips)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


class Harness:
    def __init__(self, url: str, table: str, **env: str) -> None:
        self.client = Counting(ddb.client(url))
        self.table = table
        self.now = NOW
        self.settings = load({**BASE, "CALLS_TABLE": table, **env})
        self.service = Service(
            store_for=lambda cfg: CallStore(self.client, table),
            load_settings=lambda: self.settings,
            clock=lambda: self.now,
        )

    def answer(self, conversation: str, user: str = "jane", to: str = "14155550101", **extra: str) -> Any:
        query = {
            "from_user": user,
            "to": to,
            "conversation_uuid": conversation,
            "uuid": f"leg-{conversation}",
            **extra,
        }
        return self.service.answer(query, None, None, base_url="https://calls.example.com/api").body

    def event(self, payload: dict[str, Any], failover: bool = False) -> Any:
        """Post an event; `failover`: as the answer connect's eventUrl (/event?failover=1) does."""
        reply = self.service.event(
            {"failover": "1"} if failover else None, json.dumps(payload).encode(), JSON
        )
        assert reply.status == 200, reply.body
        return reply.body

    def call(self, conversation: str) -> dict[str, Any]:
        reply = self.service.call(conversation)
        assert reply.status == 200, reply.body
        return reply.body

    def listing(self, **query: str) -> dict[str, Any]:
        reply = self.service.list_calls(query)
        assert reply.status == 200, reply.body
        return reply.body

    def items(self, conversation: str) -> list[dict[str, Any]]:
        return self.client._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CALL#{conversation}"}},
            ConsistentRead=True,
        )["Items"]


def five_events(conversation: str) -> list[dict[str, Any]]:
    common = {"conversation_uuid": conversation, "from": "jane", "to": "14155550101", "direction": "outbound"}
    return [
        {**common, "uuid": "pstn", "status": "started", "timestamp": "2020-01-01T12:00:01.000Z"},
        {**common, "uuid": "pstn", "status": "ringing", "timestamp": "2020-01-01T12:00:01.000Z"},
        {**common, "uuid": "pstn", "status": "answered", "timestamp": "2020-01-01T12:00:04.000Z",
         "start_time": None, "rate": None, "network": None},
        {**common, "uuid": "pstn", "status": "completed", "timestamp": "2020-01-01T12:01:04.000Z",
         "start_time": "2020-01-01T12:00:04.000Z", "end_time": "2020-01-01T12:01:04.000Z", "duration": "60",
         "rate": "0.01200000", "price": "0.01200000", "network": "310260", "disconnected_by": "user"},
        {"conversation_uuid": conversation, "uuid": "app", "status": "completed", "direction": "inbound",
         "from": None, "to": "jane", "timestamp": "2020-01-01T12:01:05.000Z", "duration": "64",
         "price": "0.00320000"},
    ]  # fmt: skip


SUMMARY_FIELDS = ("status", "total_price", "total_duration", "first_event_time", "last_event_time")


def test_every_order_of_five_events_with_a_duplicate_gives_one_summary(
    ddb_url: str, fresh_table: str
) -> None:
    """All 5! = 120 orders, each with a random event delivered twice: one identical record,
    whether read from the call (GET /calls/{id}) or from the history (its SUMMARY item)."""
    h = Harness(ddb_url, fresh_table)
    rng = random.Random(120)
    views, listed = set(), set()
    for n, order in enumerate(itertools.permutations(range(5))):
        conversation = f"CON-perm-{n:03d}"
        h.answer(conversation, user="perm")
        events = [five_events(conversation)[i] for i in order]
        events.insert(rng.randrange(6), rng.choice(events))
        for event in events:
            h.event(event)
        view = h.call(conversation)
        assert len(view["events"]) == 5  # the duplicate was stored once
        views.add(json.dumps({k: view[k] for k in (*SUMMARY_FIELDS, "legs")}, sort_keys=True))
    pages, token = [], None
    while True:
        page = h.listing(user="perm", limit="100", **({"next": token} if token else {}))
        pages.extend(page["calls"])
        if not (token := page["next"]):
            break
    assert len(pages) == 120
    for call in pages:
        listed.add(json.dumps({k: call[k] for k in (*SUMMARY_FIELDS, "legs")}, sort_keys=True))
    assert len(views) == 1 and len(listed) == 1
    view = json.loads(views.pop())
    assert (view["status"], view["total_price"], view["total_duration"]) == ("completed", "0.01520000", 124)
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [
        ("pstn", "completed"),
        ("app", "completed"),
    ]
    assert json.loads(listed.pop())["legs"] == 2


def test_one_round_trip_per_event_and_redelivery_changes_nothing(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    event = five_events("CON-rt")[3]
    h.client.calls.clear()
    h.event(event)
    assert h.client.calls == ["transact_write_items"]
    before = h.items("CON-rt")
    for _ in range(3):
        h.event(event)
    assert h.items("CON-rt") == before  # not even the summary's expiry moved


def test_late_ringing_human_machine_and_other_payloads(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    con = "CON-mixed"
    h.answer(con)
    for event in five_events(con)[:4]:
        h.event(event)
    others = [
        {"conversation_uuid": con, "uuid": "pstn", "status": "ringing",
         "timestamp": "2020-01-01T12:02:00.000Z"},
        {"conversation_uuid": con, "call_uuid": "pstn", "status": "machine", "sub_state": "beep_start",
         "timestamp": "2020-01-01T12:00:05.000Z"},
        {"conversation_uuid": con, "start_time": "2020-01-01T12:00:04Z", "end_time": "2020-01-01T12:01:04Z",
         "recording_url": "https://api.nexmo.com/v1/files/aaaa", "size": 12345, "recording_uuid": "rec-1",
         "timestamp": "2020-01-01T12:01:05.000Z"},
        {"type": "record", "status": "transcribed", "recording_uuid": "rec-1", "conversation_uuid": con,
         "transcription_url": "https://api.nexmo.com/v1/files/bbbb"},
        {"conversation_uuid": con, "uuid": "pstn", "from": "jane", "to": "14155550101",
         "dtmf": {"digits": "42", "timed_out": False}, "speech": {"results": []},
         "timestamp": "2020-01-01T12:00:30.000Z"},
        {"conversation_uuid_from": con, "conversation_uuid_to": "CON-other", "uuid": "pstn",
         "timestamp": "2020-01-01T12:00:40.000Z"},
        {"conversation_uuid": con, "payload": {"step": 2}, "timestamp": "2020-01-01T12:00:41.000Z"},
        {"conversation_uuid": con, "reason": "Syntax error in NCCO. Invalid value type or action.",
         "timestamp": "2020-01-01T12:00:42.000Z"},
    ]  # fmt: skip
    for event in others:
        h.event(event)
    view = h.call(con)
    assert view["legs"][0]["status"] == "completed"  # neither the late ringing nor `machine` reopened it
    assert view["status"] == "completed"
    for event in others:
        assert event in view["events"]  # every payload, unchanged
    # the transcription has no timestamp of its own: it counts at the time it was received
    assert view["last_event_time"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("status", ["busy", "unanswered", "timeout", "failed", "rejected"])
def test_failover_message_for_each_failure(ddb_url: str, fresh_table: str, status: str) -> None:
    h = Harness(ddb_url, fresh_table)
    failure = {"conversation_uuid": "CON-f", "uuid": "pstn", "status": status, "direction": "outbound",
               "timestamp": "2020-01-01T12:00:20.000Z", "detail": "unavailable"}  # fmt: skip
    expected = [{"action": "talk", "text": reasons.FAILOVERS[status]}]
    assert h.event(failure, failover=True) == expected
    assert h.event(failure, failover=True) == expected  # a redelivery gets the same answer
    view = h.call("CON-f")
    assert view["failovers"] == [{"uuid": "pstn", "status": status, "ncco": expected}]
    assert "failover" not in view["events"][0]  # the marker is not part of Vonage's payload


def test_no_failover_off_the_answer_connect(ddb_url: str, fresh_table: str) -> None:
    """The fallback number's own connect reports to /event unmarked: its busy ends the call."""
    h = Harness(ddb_url, fresh_table)
    busy = {"conversation_uuid": "CON-nf", "uuid": "fallback-leg", "status": "busy", "direction": "outbound"}
    assert h.event(busy) == {}
    assert h.call("CON-nf")["failovers"] == []


@pytest.mark.parametrize("status", ["started", "ringing", "answered", "completed", "human", "disconnected"])
def test_no_failover_for_other_events(ddb_url: str, fresh_table: str, status: str) -> None:
    h = Harness(ddb_url, fresh_table)
    event = {"conversation_uuid": "CON-ok", "uuid": "pstn", "status": status, "direction": "outbound"}
    assert h.event(event, failover=True) == {}


def test_no_failover_for_the_callers_own_leg(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    failed = {"conversation_uuid": "CON-in", "uuid": "app", "status": "failed", "direction": "inbound"}
    assert h.event(failed, failover=True) == {}


def test_failover_to_a_fallback_number(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, FALLBACK_NUMBER="+44 20 7946 0000", MAX_CALL_SECONDS="600")
    busy = {"conversation_uuid": "CON-fb", "uuid": "pstn", "status": "busy", "direction": "outbound"}
    reply = h.event(busy, failover=True)
    assert reply == [
        {"action": "talk", "text": reasons.FALLBACK_CONNECT},
        {
            "action": "connect",
            "timeout": 20,
            "limit": 600,
            "from": "14155550100",
            "endpoint": [{"type": "phone", "number": "442079460000"}],
        },
    ]  # not synchronous: a second failure ends the call instead of looping


def test_answer_connect_is_synchronous_with_an_absolute_event_url(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    connect = h.answer("CON-sync")[-1]
    assert (connect["eventType"], connect["eventUrl"]) == (
        "synchronous",
        ["https://calls.example.com/api/event?failover=1"],
    )
    h.settings = load({**BASE, "CALLS_TABLE": fresh_table, "PUBLIC_BASE_URL": "https://voice.example.org/"})
    assert h.answer("CON-sync-2")[-1]["eventUrl"] == ["https://voice.example.org/event?failover=1"]


def test_fallback_answer_url(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    body = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-fallback", "uuid": "leg-1",
            "reason": "Connection timed out",
            "original_request": {"url": "https://x/answer", "type": "answer_url"}}  # fmt: skip
    for _ in range(2):  # Vonage tries the fallback URL twice
        reply = h.service.fallback(None, json.dumps(body).encode(), JSON)
        assert (reply.status, reply.body) == (200, [{"action": "talk", "text": reasons.FALLBACK_ANSWER}])
    view = h.call("CON-fallback")
    (fallback,) = view["fallbacks"]
    assert (fallback["reason"], fallback["caller"]) == ("Connection timed out", "jane")
    assert fallback["original_request"] == {"url": "https://x/answer", "type": "answer_url"}
    (listed,) = h.listing(user="jane")["calls"]
    assert (listed["conversation_uuid"], listed["fallback_used"]) == ("CON-fallback", True)


def test_fallback_answers_even_when_storage_is_down(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    h.service.store_for = lambda cfg: CallStore(
        ddb.client(f"http://127.0.0.1:{ddb.free_port()}", timeout=0.2), "t"
    )
    reply = h.service.fallback({"conversation_uuid": "CON-x", "uuid": "u", "reason": "500"}, None, None)
    assert (reply.status, reply.body) == (200, [{"action": "talk", "text": reasons.FALLBACK_ANSWER}])
    assert h.service.fallback(None, b"{broken", JSON).status == 200


def test_paging_through_250_calls_of_one_user(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    started = []
    for n in range(250):
        h.now = NOW + timedelta(seconds=n * 7)
        h.answer(f"CON-page-{n:03d}", user="pager")
        started.append(f"CON-page-{n:03d}")
    h.answer("CON-other-user", user="someone-else")
    seen, token, pages = [], None, 0
    while True:
        page = h.listing(user="pager", limit="40", **({"next": token} if token else {}))
        seen.extend(call["conversation_uuid"] for call in page["calls"])
        pages += 1
        if not (token := page["next"]):
            break
    assert seen == list(reversed(started))  # each exactly once, newest first
    assert pages in (7, 8)  # 6 full pages and 10 more (DynamoDB may end with an empty page)
    day = NOW.strftime("%Y-%m-%d")
    assert len(h.listing(date=day, limit="100")["calls"]) == 100
    assert h.listing(user="pager", date=day, limit="3")["calls"][0]["conversation_uuid"] == "CON-page-249"
    assert h.listing(user="pager", date="2001-01-01")["calls"] == []


def test_every_item_carries_the_retention_ttl(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, RETENTION_DAYS="30")
    h.answer("CON-ttl")
    h.event(five_events("CON-ttl")[0])
    h.service.fallback({"conversation_uuid": "CON-ttl", "uuid": "x", "reason": "r"}, None, None)
    expected = int(NOW.timestamp()) + 30 * 86400
    items = h.items("CON-ttl")
    assert {item["sk"]["S"].split("#")[0] for item in items} == {"ANSWER", "EVENT", "FALLBACK", "SUMMARY"}
    assert {int(item["expires_at"]["N"]) for item in items} == {expected}


def test_history_routes_over_http(make_project, fresh_table: str) -> None:
    with chalice_client(make_project(CALLS_TABLE=fresh_table)) as client:
        client.http.get("/answer?from_user=ana&to=14155550101&conversation_uuid=CON-h1&uuid=a")
        listed = client.http.get("/calls?user=ana")
        bad = client.http.get("/calls?user=ana&limit=101")
        neither = client.http.get("/calls")
    assert listed.status_code == 200
    assert [c["conversation_uuid"] for c in listed.json_body["calls"]] == ["CON-h1"]
    assert listed.json_body["next"] is None
    assert (bad.status_code, bad.json_body) == (400, {"error": "limit must be a whole number from 1 to 100"})
    assert neither.status_code == 400


def test_an_older_table_gets_the_history_indexes() -> None:
    """A table kept in .dynamodb/data by an earlier version gains the indexes on `make run`.

    Its own DynamoDB Local: a busy shared instance builds new indexes only after
    its other background work, which can take minutes.
    """
    proc, url = ddb.start_on_free_port()
    try:
        client = ddb.client(url)
        client.create_table(
            TableName="old",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        assert ddb.ensure_table(url, "old") is False
        indexes = client.describe_table(TableName="old")["Table"]["GlobalSecondaryIndexes"]
        assert sorted(index["IndexName"] for index in indexes) == ["by_date", "by_user"]
        assert ddb.ensure_table(url, "old") is False  # and again: nothing left to do
    finally:
        ddb.stop(proc)


def test_each_fallback_use_is_kept_and_a_carried_event_is_stored(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    answer_failed = {
        "conversation_uuid": "CON-fu",
        "uuid": "leg",
        "from_user": "jane",
        "reason": "timeout",
        "original_request": {"url": "https://x/answer", "type": "answer_url", "junk": "y" * 5000},
    }
    event_failed = {"conversation_uuid": "CON-fu", "uuid": "pstn", "status": "busy", "direction": "outbound",
                    "timestamp": "2020-01-01T12:00:09.000Z", "reason": "503",
                    "original_request": {"url": "https://x/event", "type": "event_url"}}  # fmt: skip
    for body in (answer_failed, answer_failed, event_failed):  # Vonage tries each use twice at most
        assert h.service.fallback(None, json.dumps(body).encode(), JSON).status == 200
    view = h.call("CON-fu")
    assert sorted(f["reason"] for f in view["fallbacks"]) == ["503", "timeout"]
    assert {"url": "https://x/answer", "type": "answer_url"} in [
        f["original_request"] for f in view["fallbacks"]
    ]
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [("pstn", "busy")]  # the carried event


def test_transfer_is_filed_under_both_conversations(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    transfer = {"conversation_uuid_from": "CON-a", "conversation_uuid_to": "CON-b", "uuid": "pstn",
                "timestamp": "2020-01-01T12:00:40.000Z"}  # fmt: skip
    h.event(transfer)
    h.event(transfer)
    moved = {"uuid": "pstn", "conversation_uuid_from": "CON-a", "conversation_uuid_to": "CON-b",
             "timestamp": "2020-01-01T12:00:40.000Z"}  # fmt: skip
    for conversation in ("CON-a", "CON-b"):
        view = h.call(conversation)
        assert (view["events"], view["transfers"]) == ([transfer], [moved])


def test_status_after_a_successful_failover(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, FALLBACK_NUMBER="442079460000")
    con = "CON-fo"
    common = {"conversation_uuid": con, "direction": "outbound"}
    h.event(
        {**common, "uuid": "first", "status": "busy", "timestamp": "2020-01-01T12:00:05.000Z"}, failover=True
    )
    h.event({**common, "uuid": "fallback", "status": "ringing", "timestamp": "2020-01-01T12:00:06.000Z"})
    assert h.call(con)["status"] == "ringing"  # in progress: the fallback number is ringing
    h.event({**common, "uuid": "fallback", "status": "completed", "timestamp": "2020-01-01T12:03:06.000Z",
             "duration": "180", "price": "0.05400000"})  # fmt: skip
    view = h.call(con)
    assert view["status"] == "completed"  # the leg that ended last decides
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [
        ("first", "busy"),
        ("fallback", "completed"),
    ]


def test_a_huge_field_cannot_bloat_the_summary(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table)
    for n in range(3):
        h.event(
            {
                "conversation_uuid": "CON-big",
                "uuid": f"leg-{n}",
                "status": "completed",
                "network": "x" * 250_000,
            }
        )
    summary = next(i for i in h.items("CON-big") if i["sk"]["S"] == "SUMMARY")
    assert len(json.dumps(summary)) < 4000
    assert len(h.call("CON-big")["events"][0]["network"]) == 250_000  # the event itself is kept whole


def test_a_full_summary_still_stores_the_event(ddb_url: str, fresh_table: str, monkeypatch) -> None:
    """Past DynamoDB's 400 KB item limit the summary stops taking facts; events are still stored."""
    import chalicelib.record

    monkeypatch.setattr(chalicelib.record, "FACT_CHARS", 100_000)  # fill the summary fast
    h = Harness(ddb_url, fresh_table)
    for n in range(5):
        event = {
            "conversation_uuid": "CON-full",
            "uuid": f"l{n}",
            "status": "started",
            "network": "n" * 99_000,
        }
        assert h.event(event) == {}
    assert len(h.call("CON-full")["events"]) == 5
