"""Vonage Voice event payloads as Vonage sends them, for an IVR-heavy app-to-phone call.

Storage cost grows with what a call has seen, so the bench builds calls from realistic
events: status events for a few legs (started, ringing, answered, completed) and many
input, notify, transcription and recording events, each with its own timestamp.
Deterministic for a given conversation, so a rerun after a redesign sends the same bytes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

VONAGE_NUMBER = "14155550100"
CALLEE = "14155550101"
USER = "jane"
STEP = timedelta(milliseconds=1250)  # between two events of one call
# The IVR events after the legs are up, in turn: the bulk of an IVR-heavy call.
IVR_KINDS = ("speech", "notify", "dtmf", "transcription", "notify", "speech", "record")
LIVE = ("started", "ringing", "answered")
TAIL_FROM = 40  # calls of at least this many events also have an agent leg and their completions


def vonage_time(moment: datetime) -> str:
    """Vonage's timestamp format: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _id(conversation: str, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join((conversation, *map(str, parts)))))


def legs(conversation: str) -> dict[str, dict[str, str]]:
    """The call's legs: the app user's (inbound), the callee's and an agent's (outbound)."""
    return {
        "app": {"uuid": _id(conversation, "app"), "from": USER, "to": VONAGE_NUMBER, "direction": "inbound"},
        "callee": {"uuid": _id(conversation, "callee"), "from": VONAGE_NUMBER, "to": CALLEE,
                   "direction": "outbound"},
        "agent": {"uuid": _id(conversation, "agent"), "from": VONAGE_NUMBER, "to": "14155550199",
                  "direction": "outbound"},
    }  # fmt: skip


def status_event(conversation: str, leg: dict[str, str], status: str, when: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {"headers": {}, **leg, "conversation_uuid": conversation, "status": status,
                               "timestamp": vonage_time(when)}  # fmt: skip
    if status == "answered":
        payload.update(start_time=None, rate=None, network=None)
    if status == "completed":
        payload.update(
            start_time=vonage_time(when - timedelta(minutes=4)),
            end_time=vonage_time(when),
            duration="240",
            rate="0.00450000",
            price="0.01800000",
            network="310260",
            disconnected_by="user",
        )
    return payload


def ivr_event(conversation: str, index: int, when: datetime) -> dict[str, Any]:
    """The `index`-th IVR event of the call: an input, notify, transcription or recording."""
    kind = IVR_KINDS[index % len(IVR_KINDS)]
    callee = legs(conversation)["callee"]["uuid"]
    stamp = vonage_time(when)
    if kind in ("speech", "dtmf"):
        spoken = kind == "speech"
        return {
            "speech": {"timeout_reason": "end_on_silence_timeout",
                       "results": [{"confidence": "0.9405097", "text": f"option {index % 9} please"}]}
            if spoken else {"results": []},
            "dtmf": {"digits": None if spoken else str(index % 10), "timed_out": False},
            "from": CALLEE, "to": VONAGE_NUMBER, "uuid": callee, "conversation_uuid": conversation,
            "timestamp": stamp,
        }  # fmt: skip
    if kind == "notify":
        return {"conversation_uuid": conversation, "payload": {"menu": f"step-{index}", "choice": index % 4},
                "timestamp": stamp}  # fmt: skip
    recording = _id(conversation, "recording", index)
    if kind == "transcription":  # Vonage sends no timestamp with it
        text = f"https://api.nexmo.com/v1/files/{_id(conversation, 'tx', index)}"
        return {"conversation_uuid": conversation, "type": "transcription", "recording_uuid": recording,
                "status": "transcribed", "transcription_url": text}  # fmt: skip
    return {"start_time": vonage_time(when - timedelta(seconds=20)), "end_time": stamp,
            "recording_url": f"https://api.nexmo.com/v1/files/{recording}", "size": 160044,
            "recording_uuid": recording, "conversation_uuid": conversation, "timestamp": stamp}  # fmt: skip


def call_events(conversation: str, count: int, start: datetime) -> list[dict[str, Any]]:
    """`count` events of one call, in order: the app and callee legs come up, IVR events follow;
    a call of TAIL_FROM events or more also brings an agent in halfway and ends every leg."""
    parts = legs(conversation)
    statuses = [(name, status) for name in ("app", "callee") for status in LIVE]
    middle = [("agent", status) for status in LIVE] if count >= TAIL_FROM else []
    tail = [(name, "completed") for name in ("agent", "callee", "app")] if count >= TAIL_FROM else []
    plan: list[tuple[str, str] | None] = [*statuses, *[None] * max(0, count - len(statuses) - len(middle)
                                                                   - len(tail)), *tail][:count]  # fmt: skip
    if middle:
        plan[count // 2 : count // 2] = middle
        plan = plan[:count]
    events, ivr = [], 0
    for n, step in enumerate(plan):
        when = start + n * STEP
        if step is None:
            events.append(ivr_event(conversation, ivr, when))
            ivr += 1
        else:
            events.append(status_event(conversation, parts[step[0]], step[1], when))
    return events


def next_events(conversation: str, after: int, count: int, start: datetime) -> list[dict[str, Any]]:
    """IVR events that follow the first `after` events of the call (distinct timestamps and payloads)."""
    return [ivr_event(conversation, after + n, start + (after + n) * STEP) for n in range(count)]
