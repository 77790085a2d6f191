"""DIRECTION=outbound: jane's app-to-phone call, played in three steps (answer, events, record).

Each step checks what callgate answered as Vonage would rely on it (an NCCO as application/json,
`{}` for an event, a failover NCCO for the callee's failure), so a broken webhook fails at the
step that broke it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

from devtools.simulate.ncco import event_url_of, first_action, is_ncco
from devtools.simulate.record import check_record, fetch_record, record_url
from devtools.simulate.timeline import print_call, print_refusal
from devtools.simulate.transport import StepError, excerpt, json_of, send
from devtools.simulate.vonage import Call, Delivery, answer_url, call_events, call_start, delivery_order


def answer(base: str, to: str, conversation_uuid: str, app_uuid: str) -> list[dict[str, Any]]:
    """Ask the answer URL as a Client SDK `serverCall` does (GET, `from_user`, no `from`)."""
    reply = send("answer", answer_url(base, to, conversation_uuid, app_uuid))
    if reply.content_type != "application/json":
        raise StepError(
            "answer", f"{reply.where()} as {reply.content_type!r}; Vonage needs an NCCO as application/json"
        )
    ncco = json_of("answer", reply)
    if not is_ncco(ncco) or not ncco:
        raise StepError("answer", f"{reply.where()} with JSON that is not an NCCO: {excerpt(reply.body)}")
    return ncco


def connected_call(
    base: str, to: str, ncco: list[dict[str, Any]], conversation_uuid: str, app_uuid: str
) -> Call | None:
    """The call as the NCCO's connect sets it up; None when the NCCO connects nothing (refused)."""
    connect = first_action(ncco, "connect")
    if connect is None:
        return None
    failover_url = event_url_of(connect, "answer") if "eventUrl" in connect else f"{base}/event?failover=1"
    endpoints = connect.get("endpoint")
    number = None
    if isinstance(endpoints, list) and endpoints and isinstance(endpoints[0], dict):
        number = endpoints[0].get("number")
    caller_id = connect.get("from")
    return Call(
        conversation_uuid=conversation_uuid,
        app_uuid=app_uuid,
        pstn_uuid=f"pstn-leg-{uuid.uuid4().hex[:12]}",
        event_url=f"{base}/event",
        failover_url=failover_url,
        caller_id=caller_id if isinstance(caller_id, str) else None,
        dialled=number if isinstance(number, str) else to,
    )


def deliver(order: Sequence[Delivery], call: Call, outcome: str) -> list[list[dict[str, Any]]]:
    """Post every event; the failover NCCOs the callee's failure events got back."""
    nccos: list[list[dict[str, Any]]] = []
    for delivery in order:
        payload = delivery.payload
        reply = send("events", delivery.url, payload)
        body = json_of("events", reply)
        what = f"POST {delivery.url} ({payload['direction']} {payload['status']})"
        failure = outcome != "answered" and payload["status"] == outcome
        fails_over = failure and delivery.url == call.failover_url
        if fails_over and isinstance(body, list):
            if not is_ncco(body) or not body:
                raise StepError(
                    "events", f"{what} answered a list that is not an NCCO: {excerpt(reply.body)}"
                )
            nccos.append(body)
        elif body != {}:
            raise StepError("events", f"{what} answered {excerpt(reply.body)}; expected {{}}")
    if outcome != "answered" and not nccos:
        raise StepError(
            "events",
            f"the callee's {outcome} event got no failover NCCO from {call.failover_url} (it answered {{}})",
        )
    return nccos


def simulate(base: str, to: str, outcome: str, seed: int) -> int:
    """Run the three steps; raise StepError naming the step that went wrong."""
    rng = random.Random(seed)
    conversation_uuid = f"CON-sim-{uuid.uuid4().hex}"
    app_uuid = f"app-leg-{uuid.uuid4().hex[:12]}"
    start = call_start()
    ncco = answer(base, to, conversation_uuid, app_uuid)
    call = connected_call(base, to, ncco, conversation_uuid, app_uuid)
    url = record_url(base, conversation_uuid)
    if call is None:
        record = fetch_record(url, conversation_uuid)
        decision = record["answer"]["decision"]
        if decision != "refuse":
            raise StepError(
                "record", f"GET {url}: the NCCO connects nothing, yet answer.decision is {decision!r}"
            )
        print_refusal(record, conversation_uuid, to, seed)
        return 0
    events = call_events(call, outcome, rng, start)
    order = delivery_order(events, rng)
    nccos = deliver(order, call, outcome)
    record = fetch_record(url, conversation_uuid)
    print_call(record, call, seed, outcome, order, nccos)
    problems = check_record(record, outcome, len(events))
    if problems:
        raise StepError("record", f"GET {url}: " + "; ".join(problems))
    return 0
