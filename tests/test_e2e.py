"""End to end: `chalice local` as a subprocess, driven over real HTTP like Vonage drives it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.dynamodb_local import LOCAL_AWS_ENV, free_port, stop


def http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture(scope="module")
def server(make_project, tmp_path_factory) -> Iterator[str]:
    project = make_project(copy_code=True)
    chalice = shutil.which("chalice", path=os.path.dirname(sys.executable))
    assert chalice, "chalice CLI not installed next to this Python"
    env = {**os.environ, **LOCAL_AWS_ENV}
    log_path = tmp_path_factory.mktemp("chalice") / "chalice-local.log"
    with open(log_path, "ab") as log:
        for _ in range(3):  # the port can be taken between free_port() and the bind
            port = free_port()
            proc = subprocess.Popen(
                [
                    chalice,
                    "local",
                    "--no-autoreload",
                    "--stage",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if http("GET", f"{base}/health")[0] == 200:
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(0.1)
            if proc.poll() is None and time.monotonic() < deadline:
                break
            stop(proc)
        else:
            pytest.fail(f"chalice local did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
        try:
            yield base
        finally:
            stop(proc)  # the whole process group


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


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_simulation_leaves_a_complete_record(server: str) -> None:
    """The README's "Simulate a call" block, run as written (BASE pointed at this server)."""
    block = README.split("### Simulate a call", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    run = subprocess.run(["bash", "-c", block], env={**os.environ, "BASE": server}, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    outputs = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    ncco, *event_replies, record = outputs
    assert ncco[-1]["eventUrl"] == [f"{server}/event?failover=1"]  # built from the request's own host
    assert event_replies == [{}] * 8
    assert record["conversation_uuid"] == "CON-readme-0001"
    example = README.split("### Call record", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    assert re.findall(r'^  "(\w+)":', example, flags=re.M) == list(record)  # the README shows every field
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
