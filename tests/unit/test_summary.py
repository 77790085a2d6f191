"""The call record's summary: a pure function of the set of event facts."""

from __future__ import annotations

import hashlib
import itertools
import json
import random

from chalicelib.summary import event_facts, listing_view, record_view, summarize

CON = "CON-1"


def stored(payload: dict, kind: str = "status") -> dict:
    """An event as the store hands it back."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    timestamp = payload.get("timestamp", "2020-01-01T00:00:00.000000Z")
    return {"timestamp": timestamp, "digest": digest, "kind": kind, "payload": payload, "reply": None}


def status(leg: str, value: str, ts: str, **fields: object) -> dict:
    return stored({"uuid": leg, "conversation_uuid": CON, "status": value, "timestamp": ts, **fields})


APP = [
    status("app", "started", "2020-01-01T12:00:00.000000Z", direction="inbound", to="jane"),
    status("app", "answered", "2020-01-01T12:00:00.100000Z"),
    status(
        "app",
        "completed",
        "2020-01-01T12:01:06.000000Z",
        duration="66",
        price="0.00330000",
        rate="0.00300000",
    ),
]
PSTN = [
    status(
        "pstn",
        "started",
        "2020-01-01T12:00:01.000000Z",
        direction="outbound",
        to="14155550101",
        **{"from": "jane"},
    ),
    status("pstn", "ringing", "2020-01-01T12:00:01.000000Z"),
    status("pstn", "answered", "2020-01-01T12:00:05.000000Z", start_time=None, rate=None, network=None),
    status(
        "pstn",
        "completed",
        "2020-01-01T12:01:05.000000Z",
        duration="60",
        price="0.01200000",
        rate="0.01200000",
        network="310260",
        start_time="2020-01-01T12:00:05.000Z",
        end_time="2020-01-01T12:01:05.000Z",
        disconnected_by="user",
        sip_code=200,
    ),
]


def facts(events: list[dict]) -> list[dict]:
    return [event_facts(e["payload"], e["timestamp"], e["digest"], e["kind"]) for e in events]


def test_summary_of_a_completed_call() -> None:
    summary = summarize(facts(APP + PSTN))
    assert summary["status"] == "completed"
    assert summary["total_price"] == "0.01530000"  # 0.0033 + 0.012, exactly (Decimal)
    assert summary["total_duration"] == 126  # billable leg seconds: 66 + 60
    assert (summary["first_event_time"], summary["last_event_time"]) == (
        "2020-01-01T12:00:00.000000Z",
        "2020-01-01T12:01:06.000000Z",
    )
    app, pstn = summary["legs"]
    assert (app["uuid"], app["direction"], app["status"]) == ("app", "inbound", "completed")
    assert pstn == {
        "uuid": "pstn",
        "status": "completed",
        "direction": "outbound",
        "from": "jane",
        "to": "14155550101",
        "start_time": "2020-01-01T12:00:05.000Z",
        "end_time": "2020-01-01T12:01:05.000Z",
        "duration": "60",
        "rate": "0.01200000",
        "price": "0.01200000",
        "network": "310260",
        "detail": None,
        "sip_code": 200,
        "disconnected_by": "user",
    }


def test_every_order_with_duplicates_gives_one_summary() -> None:
    """All 5! orders of the PSTN leg's events plus an app event, each with a random duplicate."""
    rng = random.Random(5)
    five = [*PSTN, APP[1]]
    summaries = set()
    for order in itertools.permutations(five):
        events = list(order)
        events.insert(rng.randrange(len(events) + 1), rng.choice(events))
        summaries.add(json.dumps(summarize(facts(events)), sort_keys=True))
    assert len(summaries) == 1


def test_late_ringing_does_not_reopen_a_completed_leg() -> None:
    late = status("pstn", "ringing", "2020-01-01T12:02:00.000000Z")
    summary = summarize(facts([*PSTN, late]))
    assert summary["legs"][0]["status"] == "completed"
    assert summary["last_event_time"] == "2020-01-01T12:02:00.000000Z"  # still an event of the call


def test_failure_and_completed_race_the_failure_is_kept() -> None:
    busy = status("pstn", "busy", "2020-01-01T12:00:03.000000Z", detail="busy", sip_code=486)
    completed = status("pstn", "completed", "2020-01-01T12:00:04.000000Z", duration="0", price="0")
    for order in ([busy, completed], [completed, busy]):
        summary = summarize(facts(PSTN[:2] + order))
        leg = summary["legs"][0]
        assert (leg["status"], leg["detail"], leg["sip_code"], leg["duration"]) == ("busy", "busy", 486, "0")
        assert summary["status"] == "busy"


def test_machine_detection_uses_call_uuid_and_is_not_a_leg_state() -> None:
    human = stored(
        {
            "call_uuid": "pstn",
            "conversation_uuid": CON,
            "status": "human",
            "timestamp": "2020-01-01T12:00:06.000000Z",
        }
    )
    summary = summarize(facts([*PSTN[:3], human]))
    assert [(leg["uuid"], leg["status"]) for leg in summary["legs"]] == [("pstn", "answered")]
    assert summary["last_event_time"] == "2020-01-01T12:00:06.000000Z"


def test_non_status_payloads_count_for_times_only() -> None:
    recording = stored(
        {
            "recording_url": "https://x/r",
            "conversation_uuid": CON,
            "timestamp": "2020-01-01T12:05:00.000000Z",
        },
        "record",
    )
    summary = summarize(facts([*PSTN, recording]))
    assert summary["last_event_time"] == "2020-01-01T12:05:00.000000Z"
    assert len(summary["legs"]) == 1


def test_odd_values_do_not_break_the_summary() -> None:
    odd = stored({"conversation_uuid": CON, "status": ["x"], "uuid": {"a": 1}, "price": "abc"})
    priced = status("pstn", "completed", "2020-01-01T12:01:05.000000Z", price="free", duration="n/a")
    summary = summarize(facts([odd, priced]))
    assert (summary["total_price"], summary["total_duration"]) == (None, None)


def test_call_view_and_listing_agree() -> None:
    answers = [
        {
            "received_at": "b",
            "decision": "connect",
            "reason": "allowed",
            "destination": "+14155550101",
            "caller_id": "1",
        }
    ]
    view = record_view(CON, answers, APP + PSTN)
    item = {
        "conversation_uuid": CON,
        "user": "jane",
        "started_at": "b",
        "facts": facts(APP + PSTN),
        "answers": answers,
    }
    listed = listing_view(item)
    for key in ("status", "total_price", "total_duration", "first_event_time", "last_event_time"):
        assert listed[key] == view[key]
    assert (listed["legs"], listed["decision"], listed["fallback_used"]) == (2, "connect", False)
    assert [e["status"] for e in view["events"]] == ["started", "answered", "started", "ringing", "answered",
                                                      "completed", "completed"]  # fmt: skip


def test_no_events_yet() -> None:
    view = record_view(CON, [{"received_at": "b", "n": 2}, {"received_at": "a", "n": 1}], [])
    assert (view["status"], view["legs"], view["events"], view["answer"]["n"]) == (None, [], [], 1)
    assert [a["n"] for a in view["answers"]] == [1, 2]


def test_sums_skip_what_is_not_an_amount() -> None:
    legs = [
        status("a", "completed", "2020-01-01T12:00:01.000000Z", price="1e1000000", duration="9" * 4300),
        status("b", "completed", "2020-01-01T12:00:02.000000Z", price="NaN", duration="-5"),
        status("c", "completed", "2020-01-01T12:00:03.000000Z", price="0.00100000", duration="3"),
        status("d", "completed", "2020-01-01T12:00:04.000000Z", price=0.002, duration=True),
    ]
    summary = summarize(facts(legs))
    assert (summary["total_price"], summary["total_duration"]) == ("0.00100000", 3)
    json.dumps(summary, allow_nan=False)
