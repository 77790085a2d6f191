"""End to end: `chalice local` as a subprocess, driven over real HTTP like Vonage drives it."""

from __future__ import annotations

import json
import os
import re
import subprocess

from tests.e2e.conftest import http
from tests.support import ROOT


def test_a_call_from_answer_to_record(server: str, conversation_uuid: str) -> None:
    status, headers, ncco = http(
        "GET",
        f"{server}/answer?from_user=jane&to=%2B14155550101&conversation_uuid={conversation_uuid}&uuid=app-leg",
    )
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert ncco[1]["endpoint"] == [{"type": "phone", "number": "14155550101"}]
    assert ncco[1]["from"] == "14155550100"

    events = [
        {
            "uuid": "app-leg",
            "status": "answered",
            "direction": "inbound",
            "timestamp": "2020-01-01T12:00:00.000Z",
        },
        {
            "uuid": "pstn-leg",
            "status": "started",
            "direction": "outbound",
            "timestamp": "2020-01-01T12:00:01.000Z",
        },
        {"uuid": "pstn-leg", "status": "answered", "timestamp": "2020-01-01T12:00:03.000Z"},
        {
            "uuid": "pstn-leg",
            "status": "completed",
            "duration": "30",
            "price": "0.006",
            "timestamp": "2020-01-01T12:00:33.000Z",
        },
        {"uuid": "app-leg", "status": "completed", "timestamp": "2020-01-01T12:00:33.500Z"},
    ]
    for event in events:
        status, _, reply = http("POST", f"{server}/event", {**event, "conversation_uuid": conversation_uuid})
        assert (status, reply) == (200, {})

    status, _, call = http("GET", f"{server}/calls/{conversation_uuid}")
    assert status == 200
    assert call["status"] == "completed"
    assert call["answer"]["decision"] == "connect"
    assert {leg["uuid"]: leg["status"] for leg in call["legs"]} == {
        "app-leg": "completed",
        "pstn-leg": "completed",
    }
    assert [e["timestamp"] for e in call["events"]] == [e["timestamp"] for e in events]


WALKTHROUGH = (ROOT / "docs" / "curl-walkthrough.md").read_text()
CALL_RECORD = (ROOT / "docs" / "call-record.md").read_text()


def test_the_curl_walkthrough_leaves_a_complete_record(server: str) -> None:
    """docs/curl-walkthrough.md's block, run as written (BASE pointed at this server)."""
    block = WALKTHROUGH.split("### Simulate a call", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    run = subprocess.run(["bash", "-c", block], env={**os.environ, "BASE": server}, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    outputs = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    ncco, *event_replies, record = outputs
    assert ncco[-1]["eventUrl"] == [f"{server}/event?failover=1"]  # built from the request's own host
    assert event_replies == [{}] * 8
    assert record["conversation_uuid"] == "CON-readme-0001"
    example = CALL_RECORD.split("### Call record", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    assert re.findall(r'^  "(\w+)":', example, flags=re.M) == list(record)  # the docs show every field
    assert (record["status"], record["total_price"], record["total_duration"]) == (
        "completed",
        "0.03030000",
        246,
    )
    legs = [(leg["uuid"], leg["status"]) for leg in record["legs"]]
    assert legs == [("app-leg-1", "completed"), ("pstn-leg-1", "completed")]
    assert len(record["events"]) == 7  # eight deliveries, one of them twice
    assert record["answer"]["decision"] == "connect"
    day = record["answer"]["received_at"][:10]  # listed by when the answer URL was asked
    status, _, listed = http("GET", f"{server}/calls?user=jane&date={day}")
    assert status == 200
    assert "CON-readme-0001" in [call["conversation_uuid"] for call in listed["calls"]]


def test_failover_and_fallback_over_http(server: str, conversation_uuid: str) -> None:
    busy = {"conversation_uuid": conversation_uuid, "uuid": "pstn", "status": "busy", "direction": "outbound"}
    status, _, reply = http("POST", f"{server}/event?failover=1", busy)
    assert (status, reply[0]["action"]) == (200, "talk")
    status, headers, ncco = http(
        "GET", f"{server}/fallback?conversation_uuid={conversation_uuid}&uuid=x&reason=timeout"
    )
    assert (status, headers["Content-Type"], ncco[0]["action"]) == (200, "application/json", "talk")
    status, _, record = http("GET", f"{server}/calls/{conversation_uuid}")
    assert [f["reason"] for f in record["fallbacks"]] == ["timeout"]
    assert [f["status"] for f in record["failovers"]] == ["busy"]


def test_refusal_and_errors_over_http(server: str, conversation_uuid: str) -> None:
    status, _, ncco = http(
        "GET", f"{server}/answer?from_user=jane&to=18765550100&conversation_uuid={conversation_uuid}&uuid=u"
    )
    assert (status, [a["action"] for a in ncco]) == (200, ["talk"])
    assert http("POST", f"{server}/event", {"status": "started"})[0] == 400
    assert http("GET", f"{server}/calls/CON-unknown")[0] == 404
