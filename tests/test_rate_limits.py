"""Rate limits against DynamoDB Local: atomic counters, written with the answer record.

The service is driven directly with a fixed clock, so a window never closes
mid-test; the store is the real one, over HTTP.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import reasons
from chalicelib.policy import counters
from chalicelib.service import Service
from chalicelib.settings import load
from chalicelib.store import CallStore
from devtools import dynamodb_local as ddb
from tests.conftest import chalice_client

# A fixed clock, but in the future: DynamoDB Local really deletes items whose TTL
# (expires_at) has passed, and a counter vanishing mid-test would reset its limit.
NOON = (datetime.now(UTC) + timedelta(days=2)).replace(hour=12, minute=0, second=30, microsecond=0)
BASE = {"VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US,CA,GB"}


class Harness:
    def __init__(self, url: str, table: str, budget_s: float = 0.85, **env: str) -> None:
        self.client = ddb.client(url)
        self.now = NOON
        self.settings = load({**BASE, "CALLS_TABLE": table, **env})
        self.table = table
        self.store = CallStore(self.client, table)
        self.service = Service(
            store_for=lambda cfg: self.store,
            load_settings=lambda: self.settings,
            clock=lambda: self.now,
            answer_budget_s=budget_s,
        )

    def call(self, user: str = "jane", to: str = "14155550101", leg: str | None = None) -> str:
        """Place a call; return the decision's reason ("allowed" when it connects)."""
        conversation = f"CON-{uuid.uuid4()}"
        query = {
            "from_user": user,
            "to": to,
            "conversation_uuid": conversation,
            "uuid": leg or str(uuid.uuid4()),
        }
        return self.answer(query)

    def answer(self, query: dict[str, str]) -> str:
        ncco = self.service.answer(query, None, None).body
        found = self.store.get_call(query["conversation_uuid"])
        assert found is not None, "every decision is recorded"
        (record,) = found["answers"]
        assert record["ncco"] == ncco  # what Vonage heard is what was recorded
        assert (record["decision"] == "connect") == any(action["action"] == "connect" for action in ncco)
        return record["reason"]

    def count(self, user: str = "jane") -> tuple[int, ...]:
        """The user's hour and day counters and the global minute, as DynamoDB Local holds them."""
        found = []
        for counter in counters(user, self.now, self.settings):
            key = {"pk": {"S": counter.pk}, "sk": {"S": counter.sk}}
            item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            found.append(int(item["n"]["N"]) if item else 0)
        return tuple(found)


def test_hourly_limit_per_user(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_USER_PER_HOUR="3")
    assert [h.call() for _ in range(5)] == ["allowed"] * 3 + ["user_rate_limited"] * 2
    assert h.count() == (3, 3, 3)  # refused calls are not counted
    assert h.call(user="omar") == "allowed"  # another user has their own limit
    h.now += timedelta(hours=1)
    assert h.call() == "allowed"  # a new hour


def test_daily_limit_per_user(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_USER_PER_DAY="2")
    assert h.call() == "allowed"
    h.now += timedelta(hours=3)
    assert h.call() == "allowed"
    h.now += timedelta(hours=3)
    assert h.call() == "user_rate_limited"  # new hour, same day
    h.now += timedelta(days=1)
    assert h.call() == "allowed"


def test_global_minute_circuit_breaker(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_MINUTE="3")
    assert [h.call(user=f"user-{i}") for i in range(5)] == ["allowed"] * 3 + ["global_rate_limited"] * 2
    h.now += timedelta(minutes=1)
    assert h.call(user="user-9") == "allowed"


def test_refused_calls_do_not_use_the_quota(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_USER_PER_HOUR="1")
    assert h.call(to="19005550100") == "number_type_blocked"
    assert h.call(to="18765550100") == "country_not_allowed"
    assert h.count() == (0, 0, 0)
    assert h.call() == "allowed"


def test_retried_answer_is_counted_once_and_answered_the_same(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_USER_PER_HOUR="2")
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-retry", "uuid": "leg-1"}
    first = h.service.answer(query, None, None).body
    for _ in range(4):
        assert h.service.answer(query, None, None).body == first
    assert h.count() == (1, 1, 1)
    # uuid=NONE: the conversation identifies the call, so a retry is still one call
    seed = {"from": "demo", "to": "14155550101", "conversation_uuid": "CON-seed", "uuid": "NONE"}
    assert [h.answer(seed) for _ in range(3)] == ["allowed"] * 3
    assert h.count("demo") == (1, 1, 2)  # the global minute holds jane's call too


def test_retried_refusal_stays_a_refusal(ddb_url: str, fresh_table: str) -> None:
    h = Harness(ddb_url, fresh_table, MAX_CALLS_PER_USER_PER_HOUR="1")
    assert h.call() == "allowed"
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-limited", "uuid": "leg-9"}
    assert [h.answer(query) for _ in range(3)] == ["user_rate_limited"] * 3
    h.settings = load({**BASE, "CALLS_TABLE": fresh_table, "MAX_CALLS_PER_USER_PER_HOUR": "100"})
    assert h.answer(query) == "user_rate_limited"  # the first decision stands
    assert h.count() == (1, 1, 1)


def test_concurrent_calls_never_exceed_the_limit(ddb_url: str, fresh_table: str) -> None:
    # 24 transactions at once queue on 2 shared cores for up to ~0.5 s, which says nothing
    # about DynamoDB: a wider answer budget here, so each refusal is stored and checked
    # (the budget itself is tested in test_faults.py and test_service.py).
    h = Harness(ddb_url, fresh_table, budget_s=10, MAX_CALLS_PER_USER_PER_HOUR="5")
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def place() -> None:
        start.wait()
        reason = h.call()
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
    assert h.count()[0] == connected  # the counter is exactly the number of connects


def test_limit_through_the_route(make_project, fresh_table: str) -> None:
    project = make_project(CALLS_TABLE=fresh_table, MAX_CALLS_PER_USER_PER_DAY="1")
    with chalice_client(project) as client:
        first = client.http.get("/answer?from_user=jane&to=14155550101&conversation_uuid=CON-a&uuid=a")
        second = client.http.get("/answer?from_user=jane&to=14155550101&conversation_uuid=CON-b&uuid=b")
        record = client.http.get("/calls/CON-b").json_body["answer"]
    assert first.json_body[-1]["action"] == "connect"
    assert second.json_body == [{"action": "talk", "text": reasons.REFUSALS["user_rate_limited"]}]
    assert (record["decision"], record["reason"], record["caller"]) == ("refuse", "user_rate_limited", "jane")
    assert "MAX_CALLS_PER_USER_PER_DAY" in record["detail"]


def test_decision_log_line(ddb_url: str, fresh_table: str, caplog: Any) -> None:
    h = Harness(ddb_url, fresh_table)
    with caplog.at_level("INFO", logger="callgate"):
        h.call(to="33899123456")
    (line,) = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith('{"log": "answer_decision"')
    ]
    assert {k: line[k] for k in ("decision", "reason", "caller", "destination", "region", "number_type")} == {
        "decision": "refuse",
        "reason": "country_not_allowed",
        "caller": "jane",
        "destination": "+33899123456",
        "region": "FR",
        "number_type": "PREMIUM_RATE",
    }
