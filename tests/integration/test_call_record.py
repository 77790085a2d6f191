"""The call record against DynamoDB Local: idempotent, order-proof, one round trip per event."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from typing import Any

from chalicelib import keys
from chalicelib.routes import fallback
from chalicelib.routes.http import Request
from tests.support import FUTURE, UNLIMITED

SUMMARY_FIELDS = ("status", "total_price", "total_duration", "first_event_time", "last_event_time")


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


def test_every_order_of_five_events_with_a_duplicate_gives_one_summary(make_harness) -> None:
    """All 5! = 120 orders, each with a random event delivered twice: one identical record,
    whether read from the call (GET /calls/{id}) or from the history (its SUMMARY item)."""
    h = make_harness(**UNLIMITED)
    rng = random.Random(120)
    views, listed = set(), set()
    for n, order in enumerate(itertools.permutations(range(5))):
        conversation = f"CON-perm-{n:03d}"
        h.answer(conversation, user="perm")
        events = [five_events(conversation)[i] for i in order]
        events.insert(rng.randrange(6), rng.choice(events))
        for event in events:
            h.event(event)
        view = h.record(conversation)
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


def test_one_round_trip_per_event_and_redelivery_changes_nothing(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    event = five_events("CON-rt")[3]
    h.client.calls.clear()
    h.event(event)
    assert h.client.calls == ["transact_write_items"]
    before = h.items("CON-rt")
    for _ in range(3):
        h.event(event)
    assert h.items("CON-rt") == before  # not even the summary's expiry moved


def test_late_ringing_human_machine_and_other_payloads(make_harness) -> None:
    h = make_harness(**UNLIMITED)
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
    view = h.record(con)
    assert view["legs"][0]["status"] == "completed"  # neither the late ringing nor `machine` reopened it
    assert view["status"] == "completed"
    for event in others:
        assert event in view["events"]  # every payload, unchanged
    # the call's times are its status changes': the late ringing, not the recording or transcription
    assert view["last_event_time"] == "2020-01-01T12:02:00.000000Z"
    assert view["event_count"] == len(h.items(con)) - 3  # all but the answer, the leg and the summary
    untimed = next(e for e in h.items(con) if "transcription_url" in e.get("payload", {}).get("S", ""))
    assert untimed["timestamp"]["S"] == FUTURE.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # kept as received


def test_transfer_is_filed_under_both_conversations(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    transfer = {"conversation_uuid_from": "CON-a", "conversation_uuid_to": "CON-b", "uuid": "pstn",
                "timestamp": "2020-01-01T12:00:40.000Z"}  # fmt: skip
    h.event(transfer)
    h.event(transfer)
    moved = {"uuid": "pstn", "conversation_uuid_from": "CON-a", "conversation_uuid_to": "CON-b",
             "timestamp": "2020-01-01T12:00:40.000Z"}  # fmt: skip
    for conversation in ("CON-a", "CON-b"):
        view = h.record(conversation)
        assert (view["events"], view["transfers"]) == ([transfer], [moved])


def test_status_after_a_successful_failover(make_harness) -> None:
    h = make_harness(**UNLIMITED, FALLBACK_NUMBER="442079460000")
    con = "CON-fo"
    common = {"conversation_uuid": con, "direction": "outbound"}
    h.event(
        {**common, "uuid": "first", "status": "busy", "timestamp": "2020-01-01T12:00:05.000Z"}, failover=True
    )
    h.event({**common, "uuid": "fallback", "status": "ringing", "timestamp": "2020-01-01T12:00:06.000Z"})
    assert h.record(con)["status"] == "ringing"  # in progress: the fallback number is ringing
    h.event({**common, "uuid": "fallback", "status": "completed", "timestamp": "2020-01-01T12:03:06.000Z",
             "duration": "180", "price": "0.05400000"})  # fmt: skip
    view = h.record(con)
    assert view["status"] == "completed"  # the leg that ended last decides
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [
        ("first", "busy"),
        ("fallback", "completed"),
    ]


def test_a_huge_field_cannot_bloat_the_summary(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    for n in range(3):
        h.event(
            {
                "conversation_uuid": "CON-big",
                "uuid": f"leg-{n}",
                "status": "completed",
                "network": "x" * 250_000,
            }
        )
    for item in h.items("CON-big"):
        if keys.item_type(item["sk"]["S"]) in ("summary", "leg"):
            assert len(json.dumps(item)) < 1000
    assert len(h.record("CON-big")["events"][0]["network"]) == 250_000  # the event itself is kept whole


def test_the_summary_and_legs_do_not_grow_with_events(make_harness) -> None:
    """However many inputs, notifications and recordings a call has, its SUMMARY and LEG items
    keep their size (the event count's digits aside), and the summary its content."""
    h = make_harness(**UNLIMITED)
    h.answer("CON-ivr")
    for event in five_events("CON-ivr"):
        h.event(event)

    def kept() -> dict[str, dict[str, Any]]:
        items = {
            i["sk"]["S"]: i for i in h.items("CON-ivr") if keys.item_type(i["sk"]["S"]) in ("summary", "leg")
        }
        for item in items.values():
            item.pop("event_count", None)
        return items

    before, listed = kept(), h.listing(user="jane")["calls"]
    for n in range(300):
        h.event({"conversation_uuid": "CON-ivr", "uuid": "pstn", "dtmf": {"digits": str(n % 10)},
                 "timestamp": f"2020-01-01T12:00:{n // 10:02d}.{n % 10}00Z"})  # fmt: skip
    assert kept() == before
    assert h.listing(user="jane")["calls"] == listed
    view = h.record("CON-ivr")
    assert (view["event_count"], len(view["events"]), view["next"] is not None) == (305, 100, True)


def test_every_item_carries_the_retention_ttl(make_harness) -> None:
    h = make_harness(**UNLIMITED, RETENTION_DAYS="30")
    h.answer("CON-ttl")
    h.event(five_events("CON-ttl")[0])
    fallback.fallback(h.adapters, Request({"conversation_uuid": "CON-ttl", "uuid": "x", "reason": "r"}))
    expected = int(FUTURE.timestamp()) + 30 * 86400
    items = h.items("CON-ttl")
    assert {keys.item_type(item["sk"]["S"]) for item in items} == {
        "answer",
        "event",
        "fallback",
        "leg",
        "summary",
    }
    assert {int(item["expires_at"]["N"]) for item in items} == {expected}


def test_items_stored_before_the_attributes_were_renamed_are_still_read(make_harness) -> None:
    """Answers and fallback uses once kept their JSON under `record`: a retry and a read still find it."""
    h = make_harness(**UNLIMITED)
    h.answer("CON-old", leg="leg-old")
    earlier = h.record("CON-old")["answer"]
    for item in h.items("CON-old"):
        if keys.item_type(item["sk"]["S"]) == "answer":
            item["record"] = item.pop("answer")
            h.client.unwrapped.put_item(TableName=h.table, Item=item)
    assert h.record("CON-old")["answer"] == earlier
    h.settings = dataclasses.replace(h.settings, allowed_countries=frozenset({"GB"}))
    assert h.answer("CON-old", leg="leg-old") == earlier["ncco"]  # the retry finds the first answer
