"""Connect failover and the fallback answer URL, against DynamoDB Local."""

from __future__ import annotations

import json

import pytest

from chalicelib import prompts
from chalicelib.routes import fallback as fallback_route
from chalicelib.routes.http import Request
from chalicelib.storage.call_store import CallStore
from devtools import dynamodb_local as ddb
from tests.support import JSON, UNLIMITED, stage_settings


@pytest.mark.parametrize("status", ["busy", "unanswered", "timeout", "failed", "rejected"])
def test_failover_message_for_each_failure(make_harness, status: str) -> None:
    h = make_harness(**UNLIMITED)
    failure = {"conversation_uuid": "CON-f", "uuid": "pstn", "status": status, "direction": "outbound",
               "timestamp": "2020-01-01T12:00:20.000Z", "detail": "unavailable"}  # fmt: skip
    expected = [{"action": "talk", "text": prompts.FAILOVERS[status]}]
    assert h.event(failure, failover=True) == expected
    assert h.event(failure, failover=True) == expected  # a redelivery gets the same answer
    view = h.record("CON-f")
    assert view["failovers"] == [{"uuid": "pstn", "status": status, "ncco": expected}]
    assert "failover" not in view["events"][0]  # the marker is not part of Vonage's payload


def test_no_failover_off_the_answer_connect(make_harness) -> None:
    """The fallback number's own connect reports to /event unmarked: its busy ends the call."""
    h = make_harness(**UNLIMITED)
    busy = {"conversation_uuid": "CON-nf", "uuid": "fallback-leg", "status": "busy", "direction": "outbound"}
    assert h.event(busy) == {}
    assert h.record("CON-nf")["failovers"] == []


@pytest.mark.parametrize("status", ["started", "ringing", "answered", "completed", "human", "disconnected"])
def test_no_failover_for_other_events(make_harness, status: str) -> None:
    h = make_harness(**UNLIMITED)
    event = {"conversation_uuid": "CON-ok", "uuid": "pstn", "status": status, "direction": "outbound"}
    assert h.event(event, failover=True) == {}


def test_no_failover_for_the_callers_own_leg(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    failed = {"conversation_uuid": "CON-in", "uuid": "app", "status": "failed", "direction": "inbound"}
    assert h.event(failed, failover=True) == {}


def test_failover_to_a_fallback_number(make_harness) -> None:
    h = make_harness(**UNLIMITED, FALLBACK_NUMBER="+44 20 7946 0000", MAX_CALL_SECONDS="600")
    busy = {"conversation_uuid": "CON-fb", "uuid": "pstn", "status": "busy", "direction": "outbound"}
    reply = h.event(busy, failover=True)
    assert reply == [
        {"action": "talk", "text": prompts.FALLBACK_CONNECT},
        {
            "action": "connect",
            "timeout": 20,
            "limit": 600,
            "from": "14155550100",
            "endpoint": [{"type": "phone", "number": "442079460000"}],
        },
    ]  # not synchronous: a second failure ends the call instead of looping


def test_answer_connect_is_synchronous_with_an_absolute_event_url(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    connect = h.answer("CON-sync")[-1]
    assert (connect["eventType"], connect["eventUrl"]) == (
        "synchronous",
        ["https://calls.example.com/api/event?failover=1"],
    )
    h.settings = stage_settings(CALLS_TABLE=h.table, PUBLIC_BASE_URL="https://voice.example.org/")
    assert h.answer("CON-sync-2")[-1]["eventUrl"] == ["https://voice.example.org/event?failover=1"]


def test_fallback_answer_url(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    body = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-fallback", "uuid": "leg-1",
            "reason": "Connection timed out",
            "original_request": {"url": "https://x/answer", "type": "answer_url"}}  # fmt: skip
    for _ in range(2):  # Vonage tries the fallback URL twice
        reply = fallback_route.fallback(h.adapters, Request(None, json.dumps(body).encode(), JSON))
        assert (reply.status, reply.body) == (200, [{"action": "talk", "text": prompts.FALLBACK_ANSWER}])
    view = h.record("CON-fallback")
    (fallback,) = view["fallbacks"]
    assert (fallback["reason"], fallback["caller"]) == ("Connection timed out", "jane")
    assert fallback["original_request"] == {"url": "https://x/answer", "type": "answer_url"}
    (listed,) = h.listing(user="jane")["calls"]
    assert (listed["conversation_uuid"], listed["fallback_used"]) == ("CON-fallback", True)


def test_fallback_answers_even_when_storage_is_down(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    h.adapters.store_for = lambda settings: CallStore(
        ddb.client(f"http://127.0.0.1:{ddb.free_port()}", timeout=0.2), "t"
    )
    reply = fallback_route.fallback(
        h.adapters, Request({"conversation_uuid": "CON-x", "uuid": "u", "reason": "500"})
    )
    assert (reply.status, reply.body) == (200, [{"action": "talk", "text": prompts.FALLBACK_ANSWER}])
    assert fallback_route.fallback(h.adapters, Request(None, b"{broken", JSON)).status == 200


def test_each_fallback_use_is_kept_and_a_carried_event_is_stored(make_harness) -> None:
    h = make_harness(**UNLIMITED)
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
        reply = fallback_route.fallback(h.adapters, Request(None, json.dumps(body).encode(), JSON))
        assert reply.status == 200
    view = h.record("CON-fu")
    assert sorted(f["reason"] for f in view["fallbacks"]) == ["503", "timeout"]
    assert {"url": "https://x/answer", "type": "answer_url"} in [
        f["original_request"] for f in view["fallbacks"]
    ]
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [("pstn", "busy")]  # the carried event
