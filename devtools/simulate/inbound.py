"""DIRECTION=inbound: a callback. jane calls TO, then TO (or FROM) calls the team's number back
(the connect's caller ID) and callgate rings jane's app; a failure there offers a voicemail,
which the simulator leaves and then finds in the call record and in jane's listing.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib import parse

from devtools.simulate.ncco import describe_ncco, event_url_of, first_action, is_ncco
from devtools.simulate.outbound import answer
from devtools.simulate.record import check_callback, fetch_record, record_url
from devtools.simulate.timeline import print_callback
from devtools.simulate.transport import StepError, excerpt, json_of, send
from devtools.simulate.vonage import (
    Callback,
    call_start,
    callback_answer_url,
    callback_events,
    delivery_order,
    voicemail_event,
)


def call_back(
    base: str, caller: str, team_number: str, conversation_uuid: str, caller_uuid: str
) -> list[Any]:
    """Ask the answer URL as Vonage does for a phone call to one of the application's numbers."""
    reply = send("callback", callback_answer_url(base, caller, team_number, conversation_uuid, caller_uuid))
    ncco = json_of("callback", reply)
    if not is_ncco(ncco) or not ncco:
        raise StepError("callback", f"{reply.where()} with JSON that is not an NCCO: {excerpt(reply.body)}")
    return ncco  # type: ignore[no-any-return]


def leave_voicemail(record_action: dict[str, Any], call: Callback, at: datetime) -> dict[str, Any]:
    """Vonage's `record` event for the voicemail, posted to the record action's eventUrl."""
    url = event_url_of(record_action, "voicemail")
    payload = voicemail_event(call, at)
    body = json_of("voicemail", send("voicemail", url, payload))
    if body != {}:
        raise StepError("voicemail", f"POST {url} (record) answered {body!r}; expected {{}}")
    return payload


def simulate_inbound(base: str, to: str, caller: str, outcome: str, seed: int) -> int:
    """jane calls `to`; `caller` calls the team's number back; the callback is played to its end."""
    rng = random.Random(seed)
    out_conversation = f"CON-sim-{uuid.uuid4().hex}"
    ncco = answer(base, to, out_conversation, f"app-leg-{uuid.uuid4().hex[:12]}")
    connect = first_action(ncco, "connect")
    if connect is None or not isinstance(connect.get("from"), str):
        raise StepError(
            "answer", f"jane's call to {to} was not connected ({describe_ncco(ncco)}): nothing to call back"
        )
    team_number = connect["from"]  # the caller ID: the team's number that the callee sees
    placed = f"outbound  jane → {to}: {describe_ncco(ncco)} (caller ID {team_number})"
    conversation_uuid = f"CON-sim-{uuid.uuid4().hex}"
    caller_uuid = f"phone-leg-{uuid.uuid4().hex[:12]}"
    start = call_start()
    reply = call_back(base, caller, team_number, conversation_uuid, caller_uuid)
    connect, record_action = first_action(reply, "connect"), first_action(reply, "record")
    user = None
    if connect is not None:
        endpoint = (connect.get("endpoint") or [{}])[0]
        if not isinstance(endpoint, dict) or endpoint.get("type") != "app":
            raise StepError("callback", f"the callback connects {endpoint!r}, not an app user")
        user = endpoint.get("user")
    call = Callback(
        conversation_uuid,
        caller_uuid,
        f"app-leg-{uuid.uuid4().hex[:12]}",
        caller,
        team_number,
        user,
        f"{base}/event",
        event_url_of(connect, "callback") if connect and "eventUrl" in connect else None,
    )
    nccos: list[Any] = []
    left = None
    if connect is not None:
        order = delivery_order(callback_events(call, outcome, rng, start), rng)
        for delivery in order:
            body = json_of("events", send("events", delivery.url, delivery.payload))
            if isinstance(body, list) and body:
                nccos.append(body)
        if outcome != "answered":
            if not nccos:
                raise StepError("events", f"jane's app leg ended {outcome}, and no voicemail was offered")
            record_action = first_action(nccos[0], "record")
    if record_action is not None and (connect is None or outcome != "answered"):
        left = leave_voicemail(record_action, call, start + timedelta(seconds=5))
    record = fetch_record(record_url(base, conversation_uuid), conversation_uuid)
    listed = None
    if user is not None:
        listing = json_of("listing", send("listing", f"{base}/calls?{parse.urlencode({'user': user})}"))
        listed = listing.get("calls") if isinstance(listing, dict) else None
        if not isinstance(listed, list):
            raise StepError("listing", f"GET /calls?user={user} answered {listing!r}")
    print_callback(record, call, placed, seed, outcome, nccos, left, listed)
    problems = check_callback(record, listed, call, outcome, left)
    if problems:
        raise StepError("record", f"GET {record_url(base, conversation_uuid)}: " + "; ".join(problems))
    return 0
