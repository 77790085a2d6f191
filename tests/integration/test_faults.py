"""DynamoDB down: the answer URL still answers in time (a refusal), the others answer 503.

Vonage waits about 1 s for the answer URL and does not retry a 500, so the
refusal must come back within that, whatever DynamoDB does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib import prompts
from devtools.dynamodb_local import free_port
from tests.conftest import chalice_client

VONAGE_ANSWER_DEADLINE_S = 1.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections (kernel backlog) and never answers: the read timeout path."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


class _Throttling(BaseHTTPRequestHandler):
    """Answers every DynamoDB call with ThrottlingException, as an overloaded table does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
        )
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


class _SlowConflict(_Throttling):
    """Answers after 0.35 s, every time, that the transaction conflicted with another."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(0.35)
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "message": "Transaction cancelled",
                "CancellationReasons": [
                    {"Code": "None"},
                    {"Code": "TransactionConflict"},
                    {"Code": "None"},
                    {"Code": "None"},
                ],
            }
        )
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def throttling_server() -> Iterator[str]:
    yield from _serve(_Throttling)


@pytest.fixture(scope="module")
def slow_conflict_server() -> Iterator[str]:
    yield from _serve(_SlowConflict)


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
