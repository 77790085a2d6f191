"""DynamoDB down: the answer URL still answers in time (a refusal), the others answer 503.

Vonage waits about 1 s for the answer URL and does not retry a 500, so the
refusal must come back within that, whatever DynamoDB does.

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

import pytest

from chalicelib import prompts
from devtools.dynamodb_local import free_port
from tests.conftest import chalice_client

VONAGE_ANSWER_DEADLINE_S = 1.0
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


def test_answer_fails_closed_within_the_deadline(make_project, dead_endpoint, conversation_uuid) -> None:
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint)) as client:
        started = time.monotonic()
        response = client.http.get(
            f"/answer?to=14155550101&from_user=j&uuid=u&conversation_uuid={conversation_uuid}"
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json_body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    assert elapsed < VONAGE_ANSWER_DEADLINE_S, f"refusal took {elapsed:.2f} s"


def test_event_is_503_so_vonage_retries(make_project, dead_endpoint, conversation_uuid) -> None:
    body = json.dumps({"conversation_uuid": conversation_uuid, "uuid": "u", "status": "started"}).encode()
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint)) as client:
        response = client.http.post("/event", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 503
    assert response.json_body == {"error": "storage unavailable, retry later"}


def test_reads_and_health_are_503(make_project, dead_endpoint) -> None:
    with chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=dead_endpoint)) as client:
        assert client.http.get("/calls/CON-1").status_code == 503
        health = client.http.get("/health")
    assert health.status_code == 503
    assert health.json_body["status"] == "unavailable"


def test_event_with_broken_settings_is_503(make_project, conversation_uuid) -> None:
    body = json.dumps({"conversation_uuid": conversation_uuid, "uuid": "u", "status": "started"}).encode()
    with chalice_client(make_project(CALLS_TABLE=None)) as client:
        response = client.http.post("/event", headers={"Content-Type": "application/json"}, body=body)
    assert (response.status_code, response.json_body) == (503, {"error": "service misconfigured"})
