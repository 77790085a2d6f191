"""Rate limits against DynamoDB Local: atomic counters, written with the answer record.

A limit's refusal costs one round trip: the cancelled transaction. It is logged (the
`answer_decision` line) and not stored: a flood of refused calls writes nothing.

The routes are driven directly with a fixed clock, so a window never closes
mid-test; the store is the real one, over HTTP.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from chalicelib import prompts
from tests.conftest import chalice_client
from tests.support import answer_log_lines, stage_settings


def test_hourly_limit_per_user(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_HOUR="3")
    assert [h.place() for _ in range(5)] == ["allowed"] * 3 + ["user_rate_limited"] * 2
    assert h.counts() == (3, 3, 3)  # refused calls are not counted
    assert h.place(user="omar") == "allowed"  # another user has their own limit
    h.now += timedelta(hours=1)
    assert h.place() == "allowed"  # a new hour


def test_daily_limit_per_user(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_DAY="2")
    assert h.place() == "allowed"
    h.now += timedelta(hours=3)
    assert h.place() == "allowed"
    h.now += timedelta(hours=3)
    assert h.place() == "user_rate_limited"  # new hour, same day
    h.now += timedelta(days=1)
    assert h.place() == "allowed"


def test_global_minute_circuit_breaker(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_MINUTE="3")
    assert [h.place(user=f"user-{i}") for i in range(5)] == ["allowed"] * 3 + ["global_rate_limited"] * 2
    h.now += timedelta(minutes=1)
    assert h.place(user="user-9") == "allowed"


def test_refused_calls_do_not_use_the_quota(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_HOUR="1")
    assert h.place(to="19005550100") == "number_type_blocked"
    assert h.place(to="18765550100") == "country_not_allowed"
    assert h.counts() == (0, 0, 0)
    assert h.place() == "allowed"


def test_retried_answer_is_counted_once_and_answered_the_same(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_HOUR="2")
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-retry", "uuid": "leg-1"}
    first = h.ask(query, base_url=None).body
    for _ in range(4):
        assert h.ask(query, base_url=None).body == first
    assert h.counts() == (1, 1, 1)
    # uuid=NONE: the conversation identifies the call, so a retry is still one call
    older = {"from": "demo", "to": "14155550101", "conversation_uuid": "CON-older", "uuid": "NONE"}
    assert [h.answer_reason(older) for _ in range(3)] == ["allowed"] * 3
    assert h.counts("demo") == (1, 1, 2)  # the global minute holds jane's call too


def test_retried_refusal_stays_a_refusal(make_harness) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_HOUR="1")
    assert h.place() == "allowed"
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-limited", "uuid": "leg-9"}
    assert [h.answer_reason(query) for _ in range(3)] == ["user_rate_limited"] * 3
    h.settings = stage_settings(CALLS_TABLE=h.table, MAX_CALLS_PER_USER_PER_HOUR="100")
    assert h.counts() == (1, 1, 1)
    # nothing was stored for it: asked again under a raised limit, the call is decided afresh
    # (Vonage retries an answer only when it had no reply, so the caller has heard nothing yet)
    assert h.answer_reason(query) == "allowed"


def test_concurrent_calls_never_exceed_the_limit(make_harness) -> None:
    # 24 transactions at once queue on 2 shared cores for up to ~0.5 s, which says nothing
    # about DynamoDB: a wider answer budget here, so each connect is stored and checked
    # (the budget itself is tested in test_faults.py and unit/test_store_failures.py).
    h = make_harness(budget_s=10, MAX_CALLS_PER_USER_PER_HOUR="5")
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def place() -> None:
        start.wait()
        reason = h.place()
        with lock:
            results.append(reason)

    threads = [threading.Thread(target=place) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    connected = results.count("allowed")
    assert len(results) == 24
    assert set(results) <= {"allowed", "user_rate_limited", "policy_unavailable"}
    assert 1 <= connected <= 5
    assert h.counts()[0] == connected  # the counter is exactly the number of connects


def test_limit_through_the_route(make_project, fresh_table: str) -> None:
    project = make_project(CALLS_TABLE=fresh_table, MAX_CALLS_PER_USER_PER_DAY="1")
    with chalice_client(project) as client:
        client.http.get("/health")  # builds the DynamoDB client, as a Lambda's init does
        first = client.http.get("/answer?from_user=jane&to=14155550101&conversation_uuid=CON-a&uuid=a")
        second = client.http.get("/answer?from_user=jane&to=14155550101&conversation_uuid=CON-b&uuid=b")
        refused = client.http.get("/calls/CON-b")
    assert first.json_body[-1]["action"] == "connect"
    assert second.json_body == [{"action": "talk", "text": prompts.REFUSALS["user_rate_limited"]}]
    assert refused.status_code == 404  # logged, not stored


def test_a_limits_refusal_is_logged_with_its_detail(make_harness, caplog: Any) -> None:
    h = make_harness(MAX_CALLS_PER_USER_PER_DAY="1")
    h.place()
    h.client.calls.clear()
    with caplog.at_level("INFO", logger="callgate"):
        assert h.place() == "user_rate_limited"
    assert (
        h.client.calls[:1] == ["transact_write_items"] and h.client.calls.count("transact_write_items") == 1
    )
    line = answer_log_lines(caplog)[-1]
    assert (line["decision"], line["reason"], line["caller"], line["stored"]) == (
        "refuse", "user_rate_limited", "jane", False
    )  # fmt: skip
    assert "MAX_CALLS_PER_USER_PER_DAY" in line["detail"]


def test_decision_log_line(make_harness, caplog: Any) -> None:
    h = make_harness()
    with caplog.at_level("INFO", logger="callgate"):
        h.place(to="33899123456")
    (line,) = answer_log_lines(caplog)
    assert {k: line[k] for k in ("decision", "reason", "caller", "destination", "region", "number_type")} == {
        "decision": "refuse",
        "reason": "country_not_allowed",
        "caller": "jane",
        "destination": "+33899123456",
        "region": "FR",
        "number_type": "PREMIUM_RATE",
    }
