"""DynamoDB down: the answer URL still answers in time (a refusal), the others answer 503.

Vonage waits about 1 s for the answer URL and does not retry a 500, so the
refusal must come back within that, whatever DynamoDB does. That promise is held
by a budget: each DynamoDB call is bounded by the client's timeouts (one attempt),
and the answer URL starts a call only while a worst-case one still ends inside
ANSWER_BUDGET_S, which leaves the rest of Vonage's second to the request itself.
The tests check that budget on an injected clock (a machine's load cannot make
them fail, nor pass), and the real wiring against dead endpoints for the refusal.

The fakes here answer as DynamoDB does (request id, CRC32 of the body), so each
fault reaches the code path it is named for; test_storage_replies.py and
test_restart.py build on them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from chalicelib import prompts
from chalicelib.storage import client as storage_client
from chalicelib.storage.timing import ANSWER_BUDGET_S, CONNECT_TIMEOUT_S, READ_TIMEOUT_S, WORST_CALL_S
from devtools.dynamodb_local import free_port
from tests.conftest import chalice_client
from tests.support import UNLIMITED, Harness

VONAGE_ANSWER_DEADLINE_S = 1.0
# What the request does besides its DynamoDB calls (settings, the decision, the reply, the log
# line) must fit in what the budget leaves of Vonage's second.
REST_OF_THE_REQUEST_S = 0.1
# Far beyond the budget, far below botocore's defaults (60 s per read, retries with backoff): a
# wall-clock bound that a busy machine cannot trip, but a DynamoDB call left unbounded would.
HANG_S = 10.0
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"

# (status, body, headers): what a fake endpoint sends back for one call
Answer = tuple[int, bytes, dict[str, str]]


def dynamodb_answer(status: int, payload: object) -> Answer:
    """A reply as DynamoDB sends it: JSON, a request id and the CRC32 of the body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amz-crc32": str(zlib.crc32(body)),
    }
    return status, body, headers


def dynamodb_error(code: str, message: str, **extra: object) -> Answer:
    return dynamodb_answer(400, {"__type": ERROR_PREFIX + code, "message": message, **extra})


class _FakeDynamoDB(BaseHTTPRequestHandler):
    """Answers each call with `server.answer(operation)` (operation: the X-Amz-Target's action)."""

    server: FakeServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        status, body, headers = self.server.answer(operation)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Callable[[str], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _FakeDynamoDB)
        self.answer = answer


@contextmanager
def fake_dynamodb(answer: Callable[[str], Answer]) -> Iterator[str]:
    """A DynamoDB endpoint on 127.0.0.1 answering every call with `answer(operation)`; its URL."""
    server = FakeServer(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """Accepts TCP connections (kernel backlog) and never answers: the read timeout path."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def throttling(operation: str) -> Answer:
    """An overloaded table."""
    return dynamodb_error("ThrottlingException", "Rate of requests exceeds the allowed throughput.")


def conflict(operation: str) -> Answer:
    """Every transaction collides with another on its second item (the summary)."""
    reasons = [
        {"Code": "None"},
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        {"Code": "None"},
        {"Code": "None"},
    ]
    message = "Transaction cancelled, please refer cancellation reasons for specific reasons [%s]"
    return dynamodb_answer(
        400,
        {
            "__type": ERROR_PREFIX + "TransactionCanceledException",
            "CancellationReasons": reasons,
            "Message": message % ", ".join(reason["Code"] for reason in reasons),
        },
    )


def slow_conflict(operation: str) -> Answer:
    """A conflict, after 0.35 s every time."""
    time.sleep(0.35)
    return conflict(operation)


@pytest.fixture
def silent_server() -> Iterator[str]:
    with silent_endpoint() as url:
        yield url


@pytest.fixture(scope="module")
def throttling_server() -> Iterator[str]:
    with fake_dynamodb(throttling) as url:
        yield url


@pytest.fixture(scope="module")
def slow_conflict_server() -> Iterator[str]:
    with fake_dynamodb(slow_conflict) as url:
        yield url


@pytest.fixture(params=["refused", "silent", "throttling", "slow-conflict"])
def dead_endpoint(request, silent_server: str, throttling_server: str, slow_conflict_server: str) -> str:
    return {
        "refused": f"http://127.0.0.1:{free_port()}",
        "silent": silent_server,
        "throttling": throttling_server,
        "slow-conflict": slow_conflict_server,
    }[request.param]


def test_answer_fails_closed_against_a_dead_dynamodb(make_project, dead_endpoint, conversation_uuid) -> None:
    """The real wiring: the caller hears the refusal, and the request does not hang on DynamoDB.
    That it is in time is checked on an injected clock below (a wall-clock bound near Vonage's
    deadline would fail on a busy machine without telling anything about the code)."""
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint), patient=False) as client:
        started = time.monotonic()
        response = client.http.get(
            f"/answer?to=14155550101&from_user=j&uuid=u&conversation_uuid={conversation_uuid}"
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json_body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    assert elapsed < HANG_S, f"refusal took {elapsed:.2f} s: a DynamoDB call is not bounded"


def test_the_budget_leaves_vonage_time_for_the_reply(monkeypatch) -> None:
    """The client the app builds bounds each DynamoDB call to WORST_CALL_S (its connect and read
    timeouts, one attempt), a call fits in the answer budget, and the budget in Vonage's second."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(storage_client, "_clients", {})  # built here, and forgotten after
    config = storage_client.dynamodb_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    assert config.retries["total_max_attempts"] == 1
    assert CONNECT_TIMEOUT_S + READ_TIMEOUT_S == WORST_CALL_S <= ANSWER_BUDGET_S
    assert ANSWER_BUDGET_S + REST_OF_THE_REQUEST_S <= VONAGE_ANSWER_DEADLINE_S


class FakeClock:
    """time.monotonic and time.sleep for the code under test: only what DynamoDB takes passes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _client_error(code: str, status: int = 400, **extra: object) -> ClientError:
    response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError({**response, **extra}, "TransactWriteItems")  # type: ignore[arg-type]


def _conflicted() -> ClientError:
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}, {"Code": "None"}]
    return _client_error("TransactionCanceledException", CancellationReasons=reasons)


class DeadDynamoDB:
    """A DynamoDB client each of whose calls takes `cost` seconds of the fake clock (at most what
    the real client's timeouts let one take), then fails with `error()`."""

    def __init__(self, clock: FakeClock, cost: float, error: Callable[[], Exception]) -> None:
        self.clock, self.cost, self.error = clock, cost, error
        self.calls: list[tuple[str, float]] = []  # each call and when it began, on the fake clock

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(**_: Any) -> Any:
            self.calls.append((operation, self.clock.now))
            self.clock.now += self.cost
            raise self.error()

        return call


URL = "http://127.0.0.1:9"
FAULTS: dict[str, tuple[float, Callable[[], Exception]]] = {
    # (how long each call takes, what it ends with): each fault at its slowest
    "unreachable": (CONNECT_TIMEOUT_S, lambda: ConnectTimeoutError(endpoint_url=URL)),
    "silent": (WORST_CALL_S, lambda: ReadTimeoutError(endpoint_url=URL)),
    "silent-after-connect": (READ_TIMEOUT_S, lambda: ReadTimeoutError(endpoint_url=URL)),
    "throttling": (WORST_CALL_S, lambda: _client_error("ThrottlingException")),
    "fast-error": (0.0, lambda: _client_error("ThrottlingException")),
    "slow-conflict": (0.35, _conflicted),
    "fast-conflict": (0.0, _conflicted),  # retried, with pauses, while a call still fits
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_the_refusal_comes_within_the_budget(monkeypatch, fault: str, direction: str) -> None:
    """On an injected clock: every DynamoDB call starts only while a worst-case call still ends
    inside the answer budget, so the refusal is answered within it. An inbound callback makes
    two calls (who last called the number, then the answer's write)."""
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    cost, error = FAULTS[fault]
    dynamodb = DeadDynamoDB(clock, cost, error)
    h = Harness(dynamodb, "t", **UNLIMITED, INBOUND_DEFAULT_USER="desk")
    if direction == "outbound":
        query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-budget", "uuid": "leg"}
    else:  # a phone call to the team's number (VONAGE_NUMBER), rung through to an app user
        query = {"from": "14155550123", "to": "14155550100", "conversation_uuid": "CON-budget", "uuid": "leg"}
    started = clock.now
    reply = h.ask(query)
    elapsed = clock.now - started
    refusal = [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    assert reply.status == 200
    if reply.body[0]["action"] == "notify":  # a connect's write that may have landed: settled next
        assert direction == "outbound" and fault in ("silent", "silent-after-connect")
        assert list(reply.body[0]["eventUrl"]) == ["https://calls.example.com/api/event?settle=1"]
    assert [action for action in reply.body if action["action"] != "notify"] == refusal
    operations = [operation for operation, _ in dynamodb.calls]
    # the inbound answer asks who last called the number first: without that the test tests nothing
    assert operations[:1] == (["get_item"] if direction == "inbound" else ["transact_write_items"])
    late = [at - started for _, at in dynamodb.calls if at - started + WORST_CALL_S > ANSWER_BUDGET_S]
    assert not late, f"calls started {late} s in could outlast the {ANSWER_BUDGET_S} s budget"
    assert elapsed <= ANSWER_BUDGET_S, f"the refusal took {elapsed:.2f} s of DynamoDB's time"


def test_event_is_503_so_vonage_retries(make_project, dead_endpoint, conversation_uuid) -> None:
    body = json.dumps({"conversation_uuid": conversation_uuid, "uuid": "u", "status": "started"}).encode()
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint), patient=False) as client:
        response = client.http.post("/event", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 503
    assert response.json_body == {"error": "the calls table is unavailable, retry later"}


def test_reads_and_health_are_503(make_project, dead_endpoint) -> None:
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint), patient=False) as client:
        assert client.http.get("/calls/CON-1").status_code == 503
        health = client.http.get("/health")
    assert health.status_code == 503
    assert health.json_body["status"] == "unavailable"


def test_event_with_broken_settings_is_503(make_project, conversation_uuid) -> None:
    body = json.dumps({"conversation_uuid": conversation_uuid, "uuid": "u", "status": "started"}).encode()
    with chalice_client(make_project(CALLS_TABLE=None)) as client:
        response = client.http.post("/event", headers={"Content-Type": "application/json"}, body=body)
    assert (response.status_code, response.json_body) == (
        503,
        {"error": "service misconfigured: CALLS_TABLE is not set"},
    )


class LateReplies:
    """DynamoDB Local, but the answer's transaction gets no reply in time: applied by DynamoDB
    (`lands`) or not, the client gives up on it after `lag_s` (a read timeout)."""

    def __init__(self, client: Any, lands: bool, lag_s: float) -> None:
        self.client, self.lands, self.lag_s = client, lands, lag_s
        self.lost: list[list[dict[str, Any]]] = []  # the transactions whose reply was lost

    def transact_write_items(self, **kwargs: Any) -> Any:
        items = kwargs["TransactItems"]
        # the answer's write: the only one that counts a call (ADD … :one on a counter)
        adds = any(":one" in item.get("Update", {}).get("UpdateExpression", "") for item in items)
        if adds and not self.lost:
            self.lost.append(items)
            if self.lands:
                self.client.transact_write_items(**kwargs)
            time.sleep(self.lag_s)
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return self.client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _notified(h: Harness, ncco: list[dict[str, Any]], conversation: str) -> Any:
    """Vonage executing the refusal's notify: POST its payload to its eventUrl, as a notify."""
    notify = ncco[0]
    assert notify["action"] == "notify" and notify["eventUrl"][0].endswith("/event?settle=1")
    body = {
        "conversation_uuid": conversation,
        "payload": notify["payload"],
        "timestamp": "2026-12-07T12:00:00.000Z",
    }
    return h.post(body, {"settle": "1"})


@pytest.mark.parametrize("lands", [True, False], ids=["landed-late", "never-landed"])
def test_an_answer_whose_write_outcome_is_unknown_is_settled_to_what_the_caller_heard(
    ddb_url: str, fresh_table: str, lands: bool
) -> None:
    """Before: DynamoDB applying the answer's transaction just after the client's read timeout,
    with no time left to correct it, left a refused call recorded as `connect`, the user's hour
    counter spent and the number's last caller pointing at it."""
    from devtools import dynamodb_local as ddb

    late = LateReplies(ddb.client(ddb_url), lands, lag_s=0.7)
    h = Harness(late, fresh_table, WORST_CALL_S + 0.5)  # a call fits at first, no correction after
    conversation, leg = f"CON-{uuid.uuid4()}", "leg-late"
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": conversation, "uuid": leg}
    ncco = h.ask(query).body
    assert ncco[1:] == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]  # what is heard
    if lands:  # the state the hostile test found: a connect, counted, noted
        assert [a["decision"] for a in h.record(conversation)["answers"]] == ["connect"]
        assert h.counts()[:2] == (1, 1)
    reply = _notified(h, ncco, conversation)
    assert (reply.status, reply.text) == (200, "")  # an empty body: Vonage goes on to the refusal
    answers = h.record(conversation)["answers"]
    assert [(a["decision"], a["reason"]) for a in answers] == [("refuse", "policy_unavailable")]
    assert answers[0]["ncco"] == ncco[1:]  # the record says what the caller heard
    assert h.counts()[:2] == (0, 0)  # no quota spent on a refused call
    assert h.store.last_caller("14155550101", "2000-01-01T00:00:00.000000Z") is None
    assert (_notified(h, ncco, conversation).status, h.counts()[:2]) == (200, (0, 0))  # repeated: no change
    if not lands:  # the lost write landing now, later still, fails its own condition
        with pytest.raises(ClientError, match="TransactionCanceled"):
            late.client.transact_write_items(TransactItems=late.lost[0])
        assert h.counts()[:2] == (0, 0)
    retried = h.ask(query).body  # a retried answer for the same leg is the refusal, not a connect
    assert not any(action["action"] == "connect" for action in retried)


def test_a_settle_notify_that_callgate_did_not_ask_for_is_400(make_harness) -> None:
    h = make_harness()
    refusal = {"decision": "refuse", "received_at": "2026-12-07T12:00:00.000000Z"}
    settle = {"callgate": "settle", "conversation": "CON-1", "leg": "l", "user": "jane", "counters": []}
    for payload in (
        {"callgate": "other"},
        {**settle, "answer": {"decision": "connect"}},  # it only ever stores a refusal
        {**settle, "conversation": "CON-other", "answer": refusal},  # another call's notify
    ):
        assert h.post({"conversation_uuid": "CON-1", "payload": payload}, {"settle": "1"}).status == 400


def test_a_forged_settle_notify_is_401_and_changes_nothing(make_harness) -> None:
    """Where webhooks must be signed, so must a settle: nobody else may give a user's quota back."""
    from tests.support import SECRET

    h = make_harness(VONAGE_SIGNATURE_SECRET=SECRET, ALLOW_UNSIGNED_WEBHOOKS=None)
    refusal = {"decision": "refuse", "received_at": "2026-12-07T12:00:00.000000Z"}
    payload = {"callgate": "settle", "conversation": "CON-1", "leg": "l", "user": "jane",
               "counters": [["jane", "HOUR", "2026-12-07T12"]], "answer": refusal}  # fmt: skip
    assert h.post({"conversation_uuid": "CON-1", "payload": payload}, {"settle": "1"}).status == 401
    assert h.items("CON-1") == []


def test_a_correction_that_fits_the_budget_gives_the_counters_back_at_once(
    ddb_url: str, fresh_table: str
) -> None:
    """The landed connect corrected within the answer's budget: no notify needed, and the quota
    and last caller are given back as a settle gives them."""
    from devtools import dynamodb_local as ddb

    h = Harness(LateReplies(ddb.client(ddb_url), lands=True, lag_s=0.0), fresh_table)
    conversation = f"CON-{uuid.uuid4()}"
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": conversation, "uuid": "leg"}
    assert h.ask(query).body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    assert [a["decision"] for a in h.record(conversation)["answers"]] == ["refuse"]
    assert h.counts()[:2] == (0, 0)
    assert h.store.last_caller("14155550101", "2000-01-01T00:00:00.000000Z") is None


def test_custom_data_an_ncco_cannot_hold_still_gets_the_spoken_refusal(
    ddb_url: str, fresh_table: str
) -> None:
    """The notify carries the refusal's answer record, custom_data included: nested deeper than
    an NCCO may hold (32), the notify cannot be built, and the refusal is answered without it."""
    from devtools import dynamodb_local as ddb

    h = Harness(LateReplies(ddb.client(ddb_url), lands=True, lag_s=0.7), fresh_table, WORST_CALL_S + 0.5)
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": f"CON-{uuid.uuid4()}",
             "uuid": "leg", "custom_data": json.dumps(deep)}  # fmt: skip
    reply = h.ask(query)
    assert (reply.status, reply.body) == (
        200,
        [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}],
    )
