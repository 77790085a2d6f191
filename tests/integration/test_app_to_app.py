"""App-to-app calls against DynamoDB Local: an app user calls another by name (`to=bob`); the call
rings bob's app, never a phone number, counts against the caller's limits, offers bob's voicemail
when he does not answer, and is listed in both users' histories."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_voicemail import mark_of, record_event, the_record_action
from tests.support import UNLIMITED, Harness


def call(h: Harness, conversation: str, to: str = "bob", user: str = "jane") -> list[dict[str, Any]]:
    """jane's serverCall({to}), as Vonage asks the answer URL."""
    query = {"from_user": user, "to": to, "conversation_uuid": conversation, "uuid": f"leg-{conversation}"}
    reply = h.ask(query)
    assert reply.status == 200
    return reply.body  # type: ignore[no-any-return]


@pytest.fixture
def h(make_harness) -> Harness:
    return make_harness(**UNLIMITED)


def test_jane_calls_bob_in_his_app_and_both_histories_list_it(h: Harness) -> None:
    ncco = call(h, "CON-a2a")
    greeting, connect = ncco
    assert greeting["action"] == "talk" and connect["action"] == "connect"
    assert connect["endpoint"] == [{"type": "app", "user": "bob"}]  # an app, never a number
    assert "from" not in connect  # no caller ID of the team's is spent: the caller is an app user
    assert connect["eventType"] == "synchronous"
    assert mark_of(connect["eventUrl"][0]) == {"failover": "voicemail"}
    view = h.record("CON-a2a")
    answer = view["answer"]
    assert (answer["direction"], answer["decision"], answer["reason"], answer["callee"]) == (
        "internal", "connect", "allowed", "bob"
    )  # fmt: skip
    assert (answer["destination"], answer["caller_id"], view["user"]) == (None, None, "jane")
    for user in ("jane", "bob"):
        (listed,) = [c for c in h.listing(user=user)["calls"] if c["conversation_uuid"] == "CON-a2a"]
        assert (listed["direction"], listed["user"], listed["callee"]) == ("internal", "jane", "bob")
    assert not h.listing(user="omar")["calls"]


def test_the_callees_listing_follows_the_call(h: Harness) -> None:
    """bob's row is read from the call's own summary: its status moves with the events."""
    call(h, "CON-live")
    leg = {"conversation_uuid": "CON-live", "uuid": "leg-bob", "direction": "outbound", "to": "bob"}
    h.event({**leg, "status": "answered", "timestamp": "2020-01-01T12:00:02.000Z"})
    h.event({**leg, "status": "completed", "timestamp": "2020-01-01T12:01:02.000Z", "duration": "60"})
    (listed,) = h.listing(user="bob")["calls"]
    (jane_listed,) = h.listing(user="jane")["calls"]
    assert listed == jane_listed and listed["status"] == "completed"


def test_bob_does_not_answer_and_jane_leaves_him_a_voicemail(h: Harness) -> None:
    connect = call(h, "CON-vm")[-1]
    unanswered = {"conversation_uuid": "CON-vm", "uuid": "leg-bob", "status": "unanswered",
                  "direction": "outbound", "timestamp": "2020-01-01T12:00:20.000Z"}  # fmt: skip
    offer = h.event(unanswered, query=mark_of(connect["eventUrl"][0]))
    assert [action["action"] for action in offer] == ["talk", "record"]
    record = the_record_action(offer)
    assert h.event(record_event("CON-vm"), query=mark_of(record["eventUrl"][0])) == {}
    assert h.record("CON-vm")["voicemail"]["user"] == "bob"  # left for the callee, not the caller
    (listed,) = h.listing(user="bob")["calls"]
    assert listed["voicemail"]["user"] == "bob"


@pytest.mark.parametrize(
    ("env", "to", "reason"),
    [
        ({}, "jane", "self_call"),  # nobody calls themselves
        ({"ALLOWED_USERS": "jane,omar"}, "bob", "callee_not_allowed"),
        ({"APP_TO_APP": "off"}, "bob", "app_to_app_off"),
        ({}, "1-800-FLOWERS", "invalid_number"),  # a number spelled with letters is no user name
        ({}, "bob smith", "invalid_number"),  # no user name has a space
    ],
)
def test_refusals_are_spoken_and_ring_nobody(make_harness, env: dict[str, str], to: str, reason: str) -> None:
    h = make_harness(**{**UNLIMITED, **env})
    ncco = call(h, f"CON-{reason}", to=to)
    assert [action["action"] for action in ncco] == ["talk"]
    answer = h.record(f"CON-{reason}")["answer"]
    assert (answer["decision"], answer["reason"]) == ("refuse", reason)
    assert not h.listing(user="bob")["calls"]


def test_the_callers_limits_count_app_to_app_calls(make_harness) -> None:
    h = make_harness(**{**UNLIMITED, "MAX_CALLS_PER_USER_PER_HOUR": "1"})
    assert call(h, "CON-first")[-1]["action"] == "connect"
    refused = call(h, "CON-second", to="omar")
    assert [action["action"] for action in refused] == ["talk"]
    assert h.answer_reason({"from_user": "jane", "to": "omar", "conversation_uuid": "CON-third",
                            "uuid": "leg-third"}) == "user_rate_limited"  # fmt: skip
    assert [c["conversation_uuid"] for c in h.listing(user="omar")["calls"]] == []


def test_voicemail_off_leaves_no_synchronous_event_url(make_harness) -> None:
    h = make_harness(**{**UNLIMITED, "VOICEMAIL": "off"})
    connect = call(h, "CON-novm")[-1]
    assert connect["endpoint"] == [{"type": "app", "user": "bob"}]
    assert "eventUrl" not in connect and "eventType" not in connect


def test_the_callees_history_pages_through_the_calls_listed_for_him(h: Harness) -> None:
    """Pages of one call: bob's rows are LISTED# items and SUMMARY items by turns, and each
    page's `next` starts the following one."""
    for n in range(3):
        h.now = h.now.replace(minute=n)
        call(h, f"CON-page-{n}")  # jane calls bob
        h.answer(f"CON-own-{n}", user="bob")  # bob's own call out
    seen, token = [], None
    while True:
        page = h.listing(user="bob", limit="1", **({"next": token} if token else {}))
        seen += [c["conversation_uuid"] for c in page["calls"]]
        if not (token := page["next"]):
            break
    assert sorted(seen) == sorted([f"CON-page-{n}" for n in range(3)] + [f"CON-own-{n}" for n in range(3)])
