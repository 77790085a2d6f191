"""The call view built from stored items, without storage. (Decisions: test_policy.py.)"""

from __future__ import annotations

import itertools

from chalicelib.calls import call_view


def _event(leg: str, status: str, ts: str, **extra: object) -> tuple[str, dict]:
    payload = {"uuid": leg, "conversation_uuid": "CON-1", "status": status, "timestamp": ts, **extra}
    return (ts, payload)


APP_LEG = [
    _event("app", "started", "2020-01-01T12:00:00.000Z", direction="inbound", to="jane"),
    _event("app", "answered", "2020-01-01T12:00:00.100Z"),
]
PSTN_LEG = [
    _event(
        "pstn",
        "started",
        "2020-01-01T12:00:01.000Z",
        direction="outbound",
        **{"from": "jane"},
        to="14155550101",
    ),
    _event("pstn", "ringing", "2020-01-01T12:00:01.000Z"),
    _event("pstn", "answered", "2020-01-01T12:00:05.000Z", start_time=None, rate=None),
    _event(
        "pstn",
        "completed",
        "2020-01-01T12:01:05.000Z",
        duration="60",
        price="0.012",
        rate="0.012",
        start_time="2020-01-01T12:00:05.000Z",
        end_time="2020-01-01T12:01:05.000Z",
    ),
]


def test_legs_and_status() -> None:
    view = call_view("CON-1", [], APP_LEG + PSTN_LEG)
    assert view["status"] == "completed"
    app_leg, pstn = view["legs"]
    assert (app_leg["uuid"], app_leg["status"], app_leg["direction"]) == ("app", "answered", "inbound")
    assert pstn == {
        "uuid": "pstn",
        "direction": "outbound",
        "status": "completed",
        "from": "jane",
        "to": "14155550101",
        "duration": "60",
        "price": "0.012",
        "rate": "0.012",
        "start_time": "2020-01-01T12:00:05.000Z",
        "end_time": "2020-01-01T12:01:05.000Z",
    }
    assert [e["status"] for e in view["events"]] == [
        "started",
        "answered",
        "started",
        "ringing",
        "answered",
        "completed",
    ]


def test_any_arrival_order_gives_the_same_view() -> None:
    views = {repr(call_view("CON-1", [], list(order))) for order in itertools.permutations(PSTN_LEG)}
    assert len(views) == 1


def test_late_ringing_does_not_reopen_a_completed_leg() -> None:
    late = _event("pstn", "ringing", "2020-01-01T12:02:00.000Z")
    view = call_view("CON-1", [], [*PSTN_LEG, late])
    assert view["legs"][0]["status"] == "completed"
    assert view["status"] == "completed"


def test_machine_detection_does_not_change_leg_status() -> None:
    human = (
        "2020-01-01T12:00:06.000Z",
        {"call_uuid": "pstn", "conversation_uuid": "CON-1", "status": "human"},
    )
    view = call_view("CON-1", [], [*PSTN_LEG[:3], human])
    assert view["legs"][0]["status"] == "answered"
    assert human[1] in view["events"]


def test_no_status_events() -> None:
    view = call_view("CON-1", [{"received_at": "b", "n": 2}, {"received_at": "a", "n": 1}], [])
    assert (view["status"], view["legs"], view["events"], view["answer"]["n"]) == (None, [], [], 1)
    assert [a["n"] for a in view["answers"]] == [1, 2]  # every decision, oldest first


def test_odd_payload_values_do_not_break_the_view() -> None:
    odd = ("2020-01-01T12:00:00.000Z", {"conversation_uuid": "CON-1", "status": ["x"], "uuid": {"a": 1}})
    view = call_view("CON-1", [], [odd, *PSTN_LEG])
    assert view["events"][0] is odd[1]
    assert [leg["uuid"] for leg in view["legs"]] == ["pstn"]
