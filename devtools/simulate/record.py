"""Reading the call record back from callgate (`GET /calls/{id}`) and checking it.

The shape check comes first, so a record that lacks a documented field fails at step `record`
naming the field rather than as a KeyError in the timeline; then what the simulated call should
have left in it (every distinct event once, the status, the failover, the voicemail).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib import parse

from chalicelib import summary
from devtools.simulate.transport import StepError, excerpt, json_of, send
from devtools.simulate.vonage import RECORDING_S, Callback

RECORD_FIELDS = (
    "conversation_uuid",
    "status",
    "total_price",
    "total_duration",
    "first_event_time",
    "last_event_time",
    "answer",
    "answers",
    "fallbacks",
    "transfers",
    "failovers",
    "legs",
    "events",
)
ANSWER_FIELDS = (
    "uuid",
    "caller",
    "caller_is_number",
    "to",
    "destination",
    "region",
    "number_type",
    "decision",
    "reason",
    "detail",
    "caller_id",
    "received_at",
    "ncco",
)
LEG_FIELDS = ("uuid", "status", *summary.LEG_FIELDS)  # every leg in the record shows these
FAILOVER_FIELDS = ("uuid", "status", "ncco")


def record_url(base: str, conversation_uuid: str) -> str:
    return f"{base}/calls/{parse.quote(conversation_uuid, safe='')}"


def fetch_record(url: str, conversation_uuid: str) -> dict[str, Any]:
    """GET the call record and check it has the documented shape."""
    reply = send("record", url)
    record = json_of("record", reply)
    try:
        _require(record, RECORD_FIELDS, "the record")
        _require(record["answer"], ANSWER_FIELDS, "its answer")
        for name in ("answers", "fallbacks", "transfers", "failovers", "legs", "events"):
            if not isinstance(record[name], list):
                raise ValueError(f"its {name} is not a list: {record[name]!r}")
        for leg in record["legs"]:
            _require(leg, LEG_FIELDS, "a leg")
        for failover in record["failovers"]:
            _require(failover, FAILOVER_FIELDS, "a failover")
        if not all(isinstance(event, dict) for event in record["events"]):
            raise ValueError("its events are not all objects")
        if record["conversation_uuid"] != conversation_uuid:
            raise ValueError(f"it is the record of {record['conversation_uuid']!r}")
    except ValueError as exc:
        raise StepError("record", f"{reply.where()}, but {exc}: {excerpt(reply.body)}") from None
    return record


def _require(value: Any, fields: Sequence[str], what: str) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object: {value!r}")
    missing = [name for name in fields if name not in value]
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")


def check_record(record: dict[str, Any], outcome: str, distinct_events: int) -> list[str]:
    """What is wrong with the record of a connected call (empty when it is right)."""
    problems = []
    if len(record["events"]) != distinct_events:
        problems.append(
            f"{len(record['events'])} events stored, expected {distinct_events} "
            "(every distinct event once, the redelivery not again)"
        )
    expected = "completed" if outcome == "answered" else outcome
    if record["status"] != expected:
        problems.append(f"status is {record['status']!r}, expected {expected!r}")
    if record["answer"]["decision"] != "connect":
        problems.append(f"answer.decision is {record['answer']['decision']!r}, expected 'connect'")
    if outcome != "answered" and not record["failovers"]:
        problems.append("failovers is empty after a failed callee leg")
    return problems


def check_callback(
    record: dict[str, Any],
    listed: list[dict[str, Any]] | None,
    call: Callback,
    outcome: str,
    left: dict[str, Any] | None,
) -> list[str]:
    """What is wrong with the record (and the user's listing) of a callback."""
    problems = []
    answer = record["answer"]
    if record.get("direction") != "inbound":
        problems.append(f"direction is {record.get('direction')!r}, expected 'inbound'")
    if call.user is not None and answer["decision"] != "connect":
        problems.append(f"answer.decision is {answer['decision']!r}, expected 'connect'")
    voicemail = record.get("voicemail")
    if left is None:
        if voicemail is not None:
            problems.append(f"voicemail is {voicemail!r}, expected none")
    elif not isinstance(voicemail, dict):
        problems.append("no voicemail in the record after the record event")
    else:
        if voicemail.get("recording_url") != left["recording_url"]:
            problems.append(f"voicemail.recording_url is {voicemail.get('recording_url')!r}")
        if voicemail.get("duration") != RECORDING_S:
            problems.append(f"voicemail.duration is {voicemail.get('duration')!r}, expected {RECORDING_S}")
        if voicemail.get("user") != call.user:
            problems.append(f"voicemail.user is {voicemail.get('user')!r}, expected {call.user!r}")
    if listed is not None:
        mine = [entry for entry in listed if entry.get("conversation_uuid") == call.conversation_uuid]
        if not mine:
            problems.append(f"GET /calls?user={call.user} does not list the callback")
        elif mine[0].get("direction") != "inbound" or (left is not None) != bool(mine[0].get("voicemail")):
            problems.append(f"the listing shows the callback as {mine[0]!r}")
    return problems
