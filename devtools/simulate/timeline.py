"""Printing a simulated call's stored record as a timeline: one line per answer, event and
failover, then a summary; so what callgate kept can be read at a glance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devtools.simulate.ncco import describe_ncco, spoken
from devtools.simulate.vonage import USER, Call, Callback, Delivery


def clock(text: Any) -> str:
    """HH:MM:SS.mmm of an ISO 8601 time, for the timeline."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def _leg_label(payload: dict[str, Any], call: Call) -> str:
    if payload.get("uuid") == call.app_uuid:
        return "app"
    if payload.get("uuid") == call.pstn_uuid:
        return "pstn"
    return {"inbound": "app", "outbound": "pstn"}.get(str(payload.get("direction")), "?")


def _event_line(payload: dict[str, Any], call: Call, twice: bool) -> str:
    extras = []
    if payload.get("duration") is not None:
        extras.append(f"{payload['duration']} s")
    if payload.get("price") is not None:
        extras.append(str(payload["price"]))
    for name in ("detail", "sip_code", "disconnected_by"):
        if payload.get(name) is not None:
            extras.append(f"{name}={payload[name]}")
    if twice:
        extras.append("(delivered twice, stored once)")
    status = str(payload.get("status"))
    line = f"event     {clock(payload.get('timestamp'))}  {_leg_label(payload, call):<5} {status:<11}"
    return f"{line} {'  '.join(extras)}".rstrip()


def _answer_line(decision: dict[str, Any]) -> str:
    line = f"answer    {clock(decision['received_at'])}  {decision['decision']}  {decision['reason']}"
    if decision.get("detail"):
        line += f"  {decision['detail']}"
    if decision.get("caller_id"):
        line += f", caller ID {decision['caller_id']}"
    return line


def print_call(
    record: dict[str, Any], call: Call, seed: int, outcome: str, order: Sequence[Delivery], nccos: list[Any]
) -> None:
    decision = record["answer"]
    redelivered = next(d.payload for d in order if d.redelivery)
    print(
        f"call {call.conversation_uuid}  {USER} → {decision['destination'] or call.dialled}   "
        f"(seed {seed}; outcome {outcome}; {len(order)} deliveries, 1 of them a redelivery)"
    )
    print(_answer_line(decision))
    for payload in record["events"]:
        print(_event_line(payload, call, payload == redelivered))
    for failover in record["failovers"]:
        label = _leg_label({"uuid": failover["uuid"]}, call)
        print(f"failover  {label} {failover['status']} → {describe_ncco(failover['ncco'])}")
    if nccos:
        print(f"failover NCCO answered to the {outcome} event:")
        print(json.dumps(nccos[0], indent=2, ensure_ascii=False))
    duration = "—" if record["total_duration"] is None else f"{record['total_duration']} s"
    print(
        f"summary   {record['status']} · {len(record['legs'])} legs · {duration} · "
        f"{record['total_price'] or '—'} · {len(record['events'])} events stored"
    )


def print_refusal(record: dict[str, Any], conversation_uuid: str, to: str, seed: int) -> None:
    decision = record["answer"]
    print(f"call {conversation_uuid}  {USER} → {decision['destination'] or to}   (seed {seed}; refused)")
    print(_answer_line(decision))
    for text in spoken(decision["ncco"]):
        print(f"spoken    {json.dumps(text, ensure_ascii=False)}")
    print(
        f"summary   refused ({decision['reason']}) · no events sent · {len(record['events'])} events stored"
    )


def print_callback(
    record: dict[str, Any],
    call: Callback,
    placed: str,
    seed: int,
    outcome: str,
    nccos: list[Any],
    left: dict[str, Any] | None,
    listed: list[dict[str, Any]] | None,
) -> None:
    answer = record["answer"]
    print(placed)
    who = f"app user {call.user}" if call.user else "no app user"
    print(
        f"call {call.conversation_uuid}  {call.caller} → {call.team_number} ({who})   "
        f"(seed {seed}; outcome {outcome})"
    )
    line = f"answer    {clock(answer['received_at'])}  {answer['decision']}  {answer['reason']}"
    print(f"{line}  {describe_ncco(answer['ncco'])}")
    for payload in record["events"]:
        if "recording_url" in payload:
            print(f"event     {clock(payload.get('timestamp'))}  record      {payload['recording_url']}")
            continue
        label = "phone" if payload.get("uuid") == call.caller_uuid else "app"
        print(f"event     {clock(payload.get('timestamp'))}  {label:<5} {payload.get('status')}")
    for ncco in nccos:
        print(f"failover  app {outcome} → {describe_ncco(ncco)}")
    if left is not None:
        voicemail = record["voicemail"]
        print(
            f"voicemail {voicemail['duration']} s, {voicemail['size']} bytes, "
            f"for {voicemail['user'] or 'nobody'}: {voicemail['recording_url']}"
        )
    print(
        f"summary   {record['status'] or '—'} · direction {record['direction']} · "
        f"{len(record['events'])} events stored"
    )
    if listed is not None:
        print(f"listing   GET /calls?user={call.user}:")
        for entry in listed:
            mail = "  voicemail" if entry.get("voicemail") else ""
            print(
                f"          {entry['conversation_uuid']}  {entry.get('direction')}  {entry.get('decision')} "
                f"{entry.get('reason')}{mail}"
            )
