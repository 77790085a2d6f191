"""The call summary: a pure function of the set of a call's status events.

`kept` folds events the way the store has DynamoDB keep them: a string set of
StatusFacts and sums (SUMMARY item), a string set of leg facts per leg (LEG items).
A redelivery (the same payload) changes nothing: its conditional put cancels the whole
write, so `kept` skips payloads it has seen.
"""

from __future__ import annotations

import itertools
import json
import random
from decimal import Decimal
from typing import Any

from chalicelib.summary import (
    StatusFact,
    billed,
    event_ms,
    leg_fact,
    leg_state,
    leg_view,
    listing_view,
    ms_iso,
    price_text,
    record_view,
    status_fact,
)

CON = "CON-1"


def status(leg: str, value: str, ts: str, **fields: object) -> dict:
    return {"uuid": leg, "conversation_uuid": CON, "status": value, "timestamp": ts, **fields}


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


def kept(payloads: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the decoded SUMMARY, the LEG items) after these distinct deliveries, as DynamoDB's
    ADD would leave them: sets of encoded facts and exact sums."""
    statuses: set[str] = set()
    legs: dict[str, set[str]] = {}
    price, duration = None, None
    seen: set[str] = set()
    for payload in payloads:
        digest = json.dumps(payload, sort_keys=True)
        if digest in seen:
            continue
        seen.add(digest)
        if leg_state(payload) is None or not isinstance(payload.get("uuid"), str):
            continue
        ms = event_ms(payload["timestamp"])
        statuses.add(status_fact(payload, ms, payload["uuid"]).encode())
        legs.setdefault(payload["uuid"], set()).add(json.dumps(leg_fact(payload, ms)))
        amount, seconds = billed(payload)
        if amount is not None:
            price = Decimal(amount) + (price or 0)
        if seconds is not None:
            duration = int(seconds) + (duration or 0)
    call = {
        "conversation_uuid": CON,
        "user": "jane",
        "started_at": "b",
        "facts": [StatusFact.decode(text) for text in statuses],
        "total_price": None if price is None else str(price.normalize()),  # as DynamoDB returns it
        "total_duration": None if duration is None else str(duration),
        "event_count": len(seen),
    }
    items = [
        {"uuid": leg, "facts": [json.loads(f) for f in facts], "transfers": []} for leg, facts in legs.items()
    ]
    return call, items


def record(payloads: list[dict[str, Any]], answers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    call, legs = kept(payloads)
    return record_view(CON, call, answers or [], [], legs, [], None)


def test_summary_of_a_completed_call() -> None:
    view = record(APP + PSTN)
    assert view["status"] == "completed"
    assert view["total_price"] == "0.01530000"  # 0.0033 + 0.012, exactly, in Vonage's 8 places
    assert view["total_duration"] == 126  # billable leg seconds: 66 + 60
    assert (view["first_event_time"], view["last_event_time"]) == (
        "2020-01-01T12:00:00.000000Z",
        "2020-01-01T12:01:06.000000Z",
    )
    app, pstn = view["legs"]
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
        view = record(events)
        summaries.add(json.dumps(view, sort_keys=True))
    assert len(summaries) == 1


def test_late_ringing_does_not_reopen_a_completed_leg() -> None:
    late = status("pstn", "ringing", "2020-01-01T12:02:00.000000Z")
    view = record([*PSTN, late])
    assert view["legs"][0]["status"] == "completed"
    assert view["status"] == "completed"
    assert view["last_event_time"] == "2020-01-01T12:02:00.000000Z"  # still a status change of the call


def test_failure_and_completed_race_the_failure_is_kept() -> None:
    busy = status("pstn", "busy", "2020-01-01T12:00:03.000000Z", detail="busy", sip_code=486)
    completed = status("pstn", "completed", "2020-01-01T12:00:04.000000Z", duration="0", price="0")
    for order in ([busy, completed], [completed, busy]):
        view = record(PSTN[:2] + order)
        leg = view["legs"][0]
        assert (leg["status"], leg["detail"], leg["sip_code"], leg["duration"]) == ("busy", "busy", 486, "0")
        assert view["status"] == "busy"


def test_a_busy_callee_then_a_fallback_number_that_completed_reads_completed() -> None:
    busy = [
        status("pstn", "started", "2020-01-01T12:00:01.000000Z", direction="outbound"),
        status("pstn", "busy", "2020-01-01T12:00:03.000000Z", direction="outbound"),
    ]
    fallback = [
        status("fb", "started", "2020-01-01T12:00:04.000000Z", direction="outbound"),
        status("fb", "completed", "2020-01-01T12:01:00.000000Z", direction="outbound"),
    ]
    assert record(APP[:2] + busy + fallback)["status"] == "completed"
    assert record(APP[:2] + busy)["status"] == "busy"
    assert record(APP[:2] + busy + fallback[:1])["status"] == "started"  # still live


def test_results_are_not_leg_states() -> None:
    """Machine detection, transcriptions and statuses Vonage does not document change nothing."""
    human = {"call_uuid": "pstn", "conversation_uuid": CON, "status": "human",
             "timestamp": "2020-01-01T12:00:06.000000Z"}  # fmt: skip
    odd = status("pstn", "on_hold", "2020-01-01T12:00:07.000000Z")
    assert leg_state(human) is None and leg_state(odd) is None
    view = record([*PSTN[:3], human, odd])
    assert [(leg["uuid"], leg["status"]) for leg in view["legs"]] == [("pstn", "answered")]
    assert view["last_event_time"] == "2020-01-01T12:00:05.000000Z"


def test_odd_values_do_not_break_the_summary() -> None:
    odd = {"conversation_uuid": CON, "status": ["x"], "uuid": {"a": 1}, "price": "abc"}
    priced = status("pstn", "completed", "2020-01-01T12:01:05.000000Z", price="free", duration="n/a")
    view = record([odd, priced])
    assert (view["status"], view["total_price"], view["total_duration"]) == ("completed", None, None)


def test_call_view_and_listing_agree() -> None:
    call, legs = kept(APP + PSTN)
    first = {"uuid": "leg", "decision": "connect", "reason": "allowed", "destination": "+14155550101",
             "caller_id": "1"}  # fmt: skip
    view = record_view(CON, call, [], [], legs, [], None)
    listed = listing_view({**call, "first_answer": first})
    for key in ("status", "total_price", "total_duration", "first_event_time", "last_event_time"):
        assert listed[key] == view[key]
    assert (listed["legs"], listed["decision"], listed["fallback_used"]) == (2, "connect", False)


def test_no_events_yet() -> None:
    view = record_view(
        CON, None, [{"received_at": "b", "n": 2}, {"received_at": "a", "n": 1}], [], [], [], None
    )
    assert (view["status"], view["legs"], view["events"], view["answer"]["n"]) == (None, [], [], 1)
    assert [a["n"] for a in view["answers"]] == [1, 2]
    assert (view["event_count"], view["next"]) == (0, None)


def test_sums_skip_what_is_not_an_amount() -> None:
    legs = [
        status("a", "completed", "2020-01-01T12:00:01.000000Z", price="1e1000000", duration="9" * 4300),
        status("b", "completed", "2020-01-01T12:00:02.000000Z", price="NaN", duration="-5"),
        status("c", "completed", "2020-01-01T12:00:03.000000Z", price="0.00100000", duration="3"),
        status("d", "completed", "2020-01-01T12:00:04.000000Z", price=0.002, duration=True),
    ]
    view = record(legs)
    assert (view["total_price"], view["total_duration"]) == ("0.00100000", 3)
    json.dumps(view, allow_nan=False)


def test_a_status_fact_is_short_and_reads_back() -> None:
    fact = status_fact(PSTN[0], event_ms(PSTN[0]["timestamp"]), "pstn")
    text = fact.encode()
    assert len(text) == 25 and StatusFact.decode(text) == fact
    assert ms_iso(fact.ms) == "2020-01-01T12:00:01.000000Z"
    for garbage in ("", "1 2 3", "x" * 13 + " so abc", "0000000000001 zz abc", "0000000000001 s"):
        assert StatusFact.decode(garbage) is None


def test_times_far_from_now_are_clipped_not_misordered() -> None:
    assert event_ms("1960-01-01T00:00:00.000000Z") == 0
    assert event_ms("143-10-09T02:40:12.000165Z") == 0  # as utc_iso() writes the year 143
    assert event_ms("9999-12-31T23:59:59.000000Z") == 10**13 - 1
    assert event_ms("2020-01-01T12:00:01.123456Z") == 1577880001123  # Vonage's milliseconds


def test_prices_keep_vonages_places() -> None:
    assert price_text("0.036") == "0.03600000"
    assert price_text("12") == "12.00000000"
    assert price_text("0.0000000012") == "0.0000000012"  # more places than Vonage's: all kept
    assert price_text(None) is None


def test_a_leg_with_a_failover_shows_it_on_the_record() -> None:
    ncco = [{"action": "talk", "text": "busy"}]
    busy = status("pstn", "busy", "2020-01-01T12:00:03.000000Z", direction="outbound")
    call, _ = kept([busy])
    legs = [{"uuid": "pstn", "facts": [leg_fact(busy, event_ms(busy["timestamp"]), ncco)], "transfers": []}]
    view = record_view(CON, call, [], [], legs, [], None)
    assert view["failovers"] == [{"uuid": "pstn", "status": "busy", "ncco": ncco}]
    assert leg_view("pstn", legs[0]["facts"])["status"] == "busy"


def test_numbers_too_long_for_any_leg_field_are_not_kept() -> None:
    from chalicelib.events import parse_event
    from chalicelib.keys import LegAttribute
    from chalicelib.storage.writes import event_writes

    payload = status("pstn", "completed", "2020-01-01T12:00:00.000Z", sip_code=10**40, duration=5)
    assert leg_fact(payload, 1) == {"ms": 1, "status": "completed", "duration": 5}
    # what the store adds to the LEG item reads back as that fact: the number is not kept there
    event = parse_event(payload, "2020-01-01T12:00:09.000000Z")
    writes = event_writes("t", event, event.timestamp, 1, None, None)
    (leg,) = [write.operation["Update"] for write in writes if write.role == "leg"]
    _, added = leg["UpdateExpression"].split(" ADD ")
    ((name, value),) = [clause.split(" ") for clause in added.split(", ")]
    assert leg["ExpressionAttributeNames"][name] == LegAttribute.FACTS
    (text,) = leg["ExpressionAttributeValues"][value]["SS"]
    assert json.loads(text) == leg_fact(payload, event_ms(event.timestamp))
