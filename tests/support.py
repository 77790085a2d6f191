"""What every tier shares: stage settings for tests, the handler harness, the answer log parser.

The harness runs the real handlers and the real CallStore on whatever DynamoDB
client it is given (DynamoDB Local over HTTP in the integration tier, a
botocore Stubber in the unit tier), with fixed settings and a clock the test sets.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.decision import rate_limits
from chalicelib.routes import answer, event, history
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.settings import Settings, load
from chalicelib.signature import sign
from chalicelib.storage.call_store import CallStore
from chalicelib.storage.timing import ANSWER_BUDGET_S
from chalicelib.webhooks import OWN_QUERY_KEYS

ROOT = Path(__file__).resolve().parent.parent  # the repository
# The smallest stage that loads: every other setting has its default.
# Unsigned requests pass (as in the local stage); tests of signatures set SECRET.
BASE_ENV = {"CALLS_TABLE": "t", "VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US,CA,GB",
            "ALLOW_UNSIGNED_WEBHOOKS": "true"}  # fmt: skip
SECRET = "sig-secret-0123456789abcdefghijklmnopqrstuv"  # 40 characters, like the Dashboard's
PREVIOUS_SECRET = "sig-secret-previous-0123456789abcdefghijk"
# For tests that place many calls: the rate limits never trip.
UNLIMITED = {
    "MAX_CALLS_PER_MINUTE": "100000",
    "MAX_CALLS_PER_USER_PER_HOUR": "100000",
    "MAX_CALLS_PER_USER_PER_DAY": "100000",
}
JSON = "application/json"
# In the future, so DynamoDB Local's TTL sweep never removes what a test wrote (it really
# deletes expired items) and a counter never vanishes mid-test. Half past noon: no window closes.
FUTURE = (datetime.now(UTC) + timedelta(days=3)).replace(hour=12, minute=0, second=30, microsecond=0)


def settings_env(**overrides: str | None) -> dict[str, str]:
    """BASE_ENV with overrides; an override of None removes the variable."""
    env = {**BASE_ENV, **overrides}
    return {name: value for name, value in env.items() if value is not None}


def stage_settings(**overrides: str | None) -> Settings:
    """Settings as a stage with BASE_ENV and these overrides would load them."""
    return load(settings_env(**overrides))


def bearer(
    secret: str = SECRET,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    issued_at: float | None = None,
    content_type: str | None = None,
    **claims: Any,
) -> str:
    """An Authorization value as Vonage signs one (now, unless `issued_at`), over the body read
    as a body of `content_type` is read."""
    when = datetime.now(UTC).timestamp() if issued_at is None else issued_at
    return "Bearer " + sign(secret, when, query, body, OWN_QUERY_KEYS, content_type, **claims)


def answer_log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The JSON `answer_decision` lines the answer URL logged, one per answer (a 401's line
    answers nothing: it has no decision)."""
    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith('{"log":"answer_decision"')
    ]
    return [line for line in lines if "decision" in line]


LIMIT_REASONS = frozenset({"user_rate_limited", "global_rate_limited"})  # refusals that are not stored


@contextmanager
def answer_lines_of_this_thread(log: str = "answer_decision") -> Iterator[list[dict[str, Any]]]:
    """The `answer_decision` lines (or other request lines named `log`) logged by this thread
    meanwhile (tests place calls concurrently; a handler runs in the thread that logs, and app.py
    stops records naming their thread)."""
    start = '{"log":' + json.dumps(log) + ","
    lines: list[dict[str, Any]] = []
    me = threading.get_ident()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if threading.get_ident() == me and message.startswith(start):
                lines.append(json.loads(message))

    log = logging.getLogger("callgate")
    handler, level = Collect(), log.level
    log.addHandler(handler)
    log.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


class Counting:
    """A boto3 client that counts the calls made through it (round trips)."""

    def __init__(self, client: Any) -> None:
        self.unwrapped = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.unwrapped, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


BASE_URL = "https://calls.example.com/api"  # where the harness's Vonage reaches the handlers


class Harness:
    """The routes over a real CallStore on `client`; `now` is the clock, settings are fixed."""

    def __init__(
        self, client: Any, table: str = "t", budget_s: float = ANSWER_BUDGET_S, **env: str | None
    ) -> None:
        self.client = Counting(client)
        self.table = table
        self.now = FUTURE
        self.settings = stage_settings(CALLS_TABLE=table, **env)
        self.store = CallStore(self.client, table)
        self.adapters = Adapters(
            store_for=lambda settings: self.store,
            load_settings=lambda: self.settings,
            clock=lambda: self.now,
            answer_budget_s=budget_s,
        )

    def ask(self, query: dict[str, str] | None, base_url: str | None = BASE_URL) -> Reply:
        """GET /answer with `query`, as Vonage asks it."""
        return answer.answer(self.adapters, Request(query), base_url)

    def post(
        self, payload: Any, query: dict[str, str] | None = None, base_url: str | None = BASE_URL
    ) -> Reply:
        """POST /event with `payload` as its JSON body (and callgate's marks in `query`)."""
        return event.event(self.adapters, Request(query, json.dumps(payload).encode(), JSON), base_url)

    def answer(
        self,
        conversation: str | None = None,
        user: str = "jane",
        to: str = "14155550101",
        leg: str | None = None,
        **extra: str,
    ) -> list[dict[str, Any]]:
        """Ask the answer URL as the Client SDK's serverCall does; the NCCO it answered."""
        conversation = conversation or f"CON-{uuid.uuid4()}"
        query = {"from_user": user, "to": to, "conversation_uuid": conversation,
                 "uuid": leg or f"leg-{conversation}", **extra}  # fmt: skip
        reply = self.ask(query)
        assert reply.status == 200, reply.body
        return reply.body

    def answer_reason(self, query: dict[str, str]) -> str:
        """Answer `query`; the answer's reason ("allowed" when it connects), after checking that
        what Vonage heard is what was stored, or, for a rate limit's refusal (never stored), logged."""
        with answer_lines_of_this_thread() as lines:
            ncco = self.ask(query, base_url=None).body
        (line,) = lines
        found = self.store.get_call(query["conversation_uuid"])
        if line["reason"] in LIMIT_REASONS and line["decision"] == "refuse":
            assert not line["stored"] and (found is None or not found.answers), (
                "a limit's refusal is not stored"
            )
            assert not any(action["action"] == "connect" for action in ncco)
            return line["reason"]
        assert found is not None and line["stored"], "every other answer is stored"
        (stored,) = found.answers
        assert stored["ncco"] == ncco
        assert (stored["decision"] == "connect") == any(action["action"] == "connect" for action in ncco)
        assert stored["reason"] == line["reason"]
        return stored["reason"]

    def place(self, user: str = "jane", to: str = "14155550101", leg: str | None = None) -> str:
        """A new call from `user`; its answer's reason."""
        conversation = f"CON-{uuid.uuid4()}"
        return self.answer_reason(
            {"from_user": user, "to": to, "conversation_uuid": conversation, "uuid": leg or str(uuid.uuid4())}
        )

    def event(
        self, payload: dict[str, Any], failover: bool = False, query: dict[str, str] | None = None
    ) -> Any:
        """Post an event; `failover`: as the answer connect's eventUrl (/event?failover=1) does;
        `query`: any other marks callgate put on the eventUrl (?failover=voicemail…)."""
        marks = {"failover": "1"} if failover else query
        reply = self.post(payload, marks)
        assert reply.status == 200, reply.body
        return reply.body

    def record(self, conversation: str) -> dict[str, Any]:
        """GET /calls/{conversation}."""
        reply = history.get_call(self.adapters, conversation)
        assert reply.status == 200, reply.body
        return reply.body

    def listing(self, **query: str) -> dict[str, Any]:
        """GET /calls?…"""
        reply = history.list_calls(self.adapters, query)
        assert reply.status == 200, reply.body
        return reply.body

    def items(self, conversation: str) -> list[dict[str, Any]]:
        """Every item of the call, as DynamoDB holds it."""
        return self.client.unwrapped.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.call_partition(conversation)}},
            ConsistentRead=True,
        )["Items"]

    def counts(self, user: str = "jane") -> tuple[int, ...]:
        """The user's hour and day counters and the global minute, as DynamoDB holds them."""
        found = []
        for limit in rate_limits(user, self.now, self.settings):
            key = {name: {"S": value} for name, value in keys.counter_key(limit.user, limit.window,
                                                                          limit.period).items()}  # fmt: skip
            item = self.client.unwrapped.get_item(TableName=self.table, Key=key, ConsistentRead=True).get(
                "Item"
            )
            found.append(int(item["n"]["N"]) if item else 0)
        return tuple(found)
