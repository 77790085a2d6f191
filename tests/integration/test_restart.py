"""DynamoDB going away and coming back mid-stream, and DynamoDB misbehaving for good.

Vonage retries an event that got a 503 and never one that got a 200, so each
reply must be either 200 with the event stored, or 503; then the retries must
leave every event stored exactly once. The figures printed (503s, worst latency
per fault) are for the reader: the tests do not assert on time.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import keys, prompts
from devtools import dynamodb_local as ddb
from devtools.simulate import OUTCOMES, Call, call_events
from tests.conftest import chalice_client
from tests.integration.test_faults import (
    Answer,
    conflict,
    fake_dynamodb,
    silent_endpoint,
    throttling,
)

JSON_HEADERS = {"Content-Type": "application/json"}
UNAVAILABLE = {"error": "the calls table is unavailable, retry later"}
EVENTS_PER_CALL = (2, 4, 7, 3)  # calls caught at different stages: 4 events a call on average

# (path, payload): one event as Vonage posts it
Delivery = tuple[str, dict[str, Any]]


def vonage_events(events: int, calls: int, seed: int) -> list[Delivery]:
    """`events` distinct status events of `calls` app-to-phone calls, interleaved as many
    concurrent calls deliver them; the callee's leg posts to /event?failover=1."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    found: list[Delivery] = []
    for n in range(calls):
        call = Call(
            conversation_uuid=f"CON-{uuid.UUID(int=rng.getrandbits(128))}",
            app_uuid=f"app-{uuid.UUID(int=rng.getrandbits(128))}",
            pstn_uuid=f"pstn-{uuid.UUID(int=rng.getrandbits(128))}",
            event_url="/event",
            failover_url="/event?failover=1",
            caller_id="14155550100",
            dialled="14155550101",
        )
        at = start + timedelta(seconds=37 * n)
        wanted = min(EVENTS_PER_CALL[n % len(EVENTS_PER_CALL)], events - len(found))
        if n == calls - 1:
            wanted = events - len(found)  # the last call takes up the rest
        deliveries = call_events(call, OUTCOMES[n % len(OUTCOMES)], rng, at)
        assert wanted <= len(deliveries), "too many events for so few calls"
        found += [(delivery.url, delivery.payload) for delivery in deliveries[:wanted]]
    rng.shuffle(found)
    assert len({_identity(payload) for _, payload in found}) == events
    return found


def _identity(payload: dict[str, Any]) -> tuple[str, str, str, str]:
    return payload["conversation_uuid"], payload["uuid"], payload["status"], payload["timestamp"]


def stored_events(client: Any, table: str, conversations: Iterable[str]) -> Counter[tuple[str, ...]]:
    """Every EVENT item of these calls, as DynamoDB holds them (consistent reads)."""
    found: Counter[tuple[str, ...]] = Counter()
    for conversation in conversations:
        query: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :event)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.call_partition(conversation)},
                ":event": {"S": "EVENT#"},
            },
            "ConsistentRead": True,
        }
        while True:
            page = client.query(**query)
            found.update(_identity(json.loads(item["payload"]["S"])) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def _post(client: Any, delivery: Delivery) -> tuple[int, Any]:
    path, payload = delivery
    response = client.http.post(path, headers=JSON_HEADERS, body=json.dumps(payload).encode())
    return response.status_code, response.json_body


def _check_reply(status: int, body: Any) -> None:
    """200 ({} or a failover NCCO) or a 503 Vonage will retry: nothing else."""
    assert status in (200, 503), (status, body)
    if status == 503:
        assert body == UNAVAILABLE
    else:
        assert body == {} or isinstance(body, list), body


def _redeliver(client: Any, deliveries: list[Delivery], rounds: int = 3) -> list[dict[int, int]]:
    """Post each delivery again until it gets a 200, as Vonage retries a 503, for at most
    `rounds` rounds; how many got each status, round by round."""
    found = []
    for _ in range(rounds):
        replies = [_post(client, delivery) for delivery in deliveries]
        for status, body in replies:
            _check_reply(status, body)
        found.append(dict(Counter(status for status, _ in replies)))
        deliveries = [
            delivery for delivery, (status, _) in zip(deliveries, replies, strict=True) if status != 200
        ]
        if not deliveries:
            return found
    raise AssertionError(f"still not stored after {rounds} rounds: {found}")


# --- DynamoDB Local stopped and restarted -------------------------------------------------------------


class Restartable:
    """A DynamoDB Local of the test's own, on disk, that can be stopped and started on its port."""

    def __init__(self, db_path: Path, log_path: Path) -> None:
        self.db_path = db_path
        self.log = open(log_path, "ab")  # closed in close()
        self.proc, self.url = ddb.start_on_free_port(db_path=db_path, log=self.log)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.stopped = threading.Event()
        self.ready = threading.Event()
        self.failure: str | None = None

    def stop(self) -> None:
        ddb.stop(self.proc)
        self.stopped.set()

    def restart(self) -> None:
        self.proc = ddb.start(self.port, self.db_path, self.log)
        if ddb.wait_ready(self.url, self.proc, limit_s=60):
            self.ready.set()
        else:
            self.failure = f"DynamoDB Local exited on restart (port {self.port} taken?)"

    def close(self) -> None:
        ddb.stop(self.proc)
        self.log.close()


def _in_background(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_events_survive_a_dynamodb_restart(make_project, tmp_path, capsys) -> None:
    """Stop DynamoDB Local after a third of the stream, start it again after two thirds."""
    total = 200
    deliveries = vonage_events(total, calls=50, seed=7)
    conversations = {payload["conversation_uuid"] for _, payload in deliveries}
    (tmp_path / "db").mkdir()
    local = Restartable(tmp_path / "db", tmp_path / "dynamodb-local.log")
    try:
        table = f"callgate-restart-{uuid.uuid4().hex[:8]}"
        ddb.ensure_table(local.url, table)
        reader = ddb.client(local.url)
        replies: list[tuple[int, Any]] = []
        phases: list[str] = []
        stopper = restarter = None
        started = time.monotonic()
        with chalice_client(
            make_project(AWS_ENDPOINT_URL_DYNAMODB=local.url, CALLS_TABLE=table), patient=False
        ) as client:
            for n, delivery in enumerate(deliveries):
                if n == total // 3:
                    stopper = _in_background(local.stop)  # requests keep coming while it goes down
                if n == 2 * total // 3:
                    stopper.join()  # type: ignore[union-attr]
                    restarter = _in_background(local.restart)
                if n >= 5 * total // 6:  # the last sixth: once it answers again
                    assert local.ready.wait(90), local.failure or "DynamoDB Local did not come back"
                phase = (
                    "ready" if local.ready.is_set()
                    else "restarting" if restarter
                    else "down" if local.stopped.is_set()
                    else "stopping" if stopper
                    else "up"
                )  # fmt: skip
                replies.append(_post(client, delivery))
                phases.append(phase)
            first_pass_s = time.monotonic() - started
            for status, body in replies:
                _check_reply(status, body)
            outcomes = list(zip(deliveries, [status for status, _ in replies], phases, strict=True))
            assert any(status == 200 for _, status, phase in outcomes if phase == "ready"), "never came back"
            failed = [delivery for delivery, status, _ in outcomes if status != 200]
            assert failed, "the stop changed nothing: the test did not test anything"

            stored = stored_events(reader, table, conversations)
            acknowledged = Counter(
                _identity(payload) for (_, payload), status, _ in outcomes if status == 200
            )
            assert not acknowledged - stored, "an event answered 200 is not stored"
            assert max(stored.values()) == 1, "an event is stored twice"
            stored_anyway = len(stored) - len(acknowledged)  # applied, but the reply was lost

            sent = Counter(_identity(payload) for _, payload in deliveries)
            retry_rounds = _redeliver(client, failed)
            after_retries = stored_events(reader, table, conversations)
            assert after_retries == sent  # every event, once
            again_rounds = _redeliver(client, deliveries)
            assert stored_events(reader, table, conversations) == sent
    finally:
        local.close()
    by_phase = Counter((phase, status) for phase, (status, _) in zip(phases, replies, strict=True))
    with capsys.disabled():
        print(
            f"\nrestart: {total} events in {first_pass_s:.1f} s, "
            + ", ".join(f"{phase} {status} x{count}" for (phase, status), count in by_phase.items())
            + f"; {len(failed)} x 503 ({stored_anyway} of them stored all the same); resent until 200: "
            f"{retry_rounds}; all {total} resent: {again_rounds}; "
            f"stored {sum(after_retries.values())} events, each once"
        )


# --- a DynamoDB that never stores anything ---------------------------------------------------------


def garbage(operation: str) -> Answer:
    return 200, os.urandom(48), {"Content-Type": "application/octet-stream"}


FAULTS: dict[str, Callable[[str], Answer] | None] = {
    "garbage": garbage,
    "conflict": conflict,
    "throttling": throttling,
    "silence": None,  # accepts the connection, never answers
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_dynamodb_that_never_stores_gets_503_from_every_event(make_project, capsys, fault: str) -> None:
    answer = FAULTS[fault]
    deliveries = vonage_events(8, calls=2, seed=11)
    endpoint = fake_dynamodb(answer) if answer else silent_endpoint()
    worst = {"/event": 0.0, "/fallback": 0.0}
    with (
        endpoint as url,
        chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=url), patient=False) as client,
    ):
        for delivery in deliveries:
            started = time.monotonic()
            status, body = _post(client, delivery)
            worst["/event"] = max(worst["/event"], time.monotonic() - started)
            assert (status, body) == (503, UNAVAILABLE)
        for n in range(4):
            query = urlencode({"from_user": "jane", "to": "14155550101", "conversation_uuid": f"CON-fb-{n}",
                               "uuid": f"leg-{n}", "reason": "Connection timed out"})  # fmt: skip
            started = time.monotonic()
            response = client.http.get(f"/fallback?{query}")
            worst["/fallback"] = max(worst["/fallback"], time.monotonic() - started)
            assert response.status_code == 200
            assert response.json_body == [{"action": "talk", "text": prompts.FALLBACK_ANSWER}]
    with capsys.disabled():
        print(f"\n{fault}: worst /event {worst['/event']:.3f} s, worst /fallback {worst['/fallback']:.3f} s")
