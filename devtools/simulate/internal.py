"""DIRECTION=internal: an app-to-app call. jane calls TO (a user name, bob by default) from her
app; callgate rings bob's app. OUTCOME is what bob's app does: answered, or a failure after which
jane is offered bob's voicemail, which the simulator leaves. Then it checks the call record and
that both jane's and bob's listings show the call.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib import parse

from devtools.simulate.inbound import leave_voicemail
from devtools.simulate.ncco import describe_ncco, event_url_of, first_action
from devtools.simulate.outbound import answer
from devtools.simulate.record import fetch_record, record_url
from devtools.simulate.transport import StepError, json_of, send
from devtools.simulate.vonage import (
    APP_RATE,
    FAILURE_AFTER_S,
    FAILURE_FIELDS,
    USER,
    Callback,
    Delivery,
    billed,
    call_start,
    delivery_order,
    vonage_time,
)

DEFAULT_CALLEE = "bob"


def internal_events(call: Callback, outcome: str, rng: random.Random, start: datetime) -> list[Delivery]:
    """jane's app leg and bob's, as Vonage reports an app-to-app call (both legs `app`)."""

    def leg(
        uuid_: str, direction: str, to: str, url: str, status: str, at: datetime, **fields: Any
    ) -> Delivery:
        payload = {"from": None if direction == "inbound" else USER, "to": to, "uuid": uuid_}
        payload.update(conversation_uuid=call.conversation_uuid, status=status, direction=direction)
        return Delivery(url, {**payload, **fields, "timestamp": vonage_time(at)})

    def jane(status: str, at: datetime, **fields: Any) -> Delivery:
        return leg(call.caller_uuid, "inbound", USER, call.event_url, status, at, **fields)

    def callee(status: str, at: datetime, **fields: Any) -> Delivery:
        return leg(
            call.app_uuid,
            "outbound",
            call.user or "",
            call.failover_url or call.event_url,
            status,
            at,
            **fields,
        )

    ringing = start + timedelta(milliseconds=800)
    events = [
        jane("started", start),
        jane("answered", start),
        callee("started", ringing),
        callee("ringing", ringing),
    ]
    if outcome == "answered":
        answered = ringing + timedelta(seconds=rng.randint(2, 8))
        ended = answered + timedelta(seconds=rng.randint(20, 300))
        events += [
            callee("answered", answered),
            callee("completed", ended, **billed(answered, ended, APP_RATE)),
        ]
        end = ended + timedelta(milliseconds=300)
    else:
        low, high = FAILURE_AFTER_S[outcome]
        failed = ringing + timedelta(milliseconds=rng.randint(int(low * 1000), int(high * 1000)))
        events.append(callee(outcome, failed, **FAILURE_FIELDS[outcome]))
        end = failed + timedelta(seconds=20)  # the message spoken, the voicemail left
    events.append(jane("completed", end, **billed(start, end, APP_RATE)))
    return events


def simulate_internal(base: str, to: str, outcome: str, seed: int) -> int:
    """jane calls the app user `to`; the call is played to its end and read back."""
    rng = random.Random(seed)
    conversation_uuid = f"CON-sim-{uuid.uuid4().hex}"
    jane_uuid = f"app-leg-{uuid.uuid4().hex[:12]}"
    start = call_start()
    ncco = answer(base, to, conversation_uuid, jane_uuid)
    print(f"internal  {USER} → {to}: {describe_ncco(ncco)} (seed {seed})")
    connect = first_action(ncco, "connect")
    url = record_url(base, conversation_uuid)
    if connect is None:
        record = fetch_record(url, conversation_uuid)
        print(f"  refused: {record['answer']['reason']} ({record['answer']['detail']})")
        return 0
    endpoint = (connect.get("endpoint") or [{}])[0]
    if not isinstance(endpoint, dict) or endpoint != {"type": "app", "user": to}:
        raise StepError("answer", f"jane's call to {to!r} connects {endpoint!r}, not {to}'s app")
    if "from" in connect:
        raise StepError("answer", f"an app-to-app connect spends a caller ID ({connect['from']!r})")
    failover = event_url_of(connect, "answer") if "eventUrl" in connect else None
    call = Callback(conversation_uuid, jane_uuid, f"app-leg-{uuid.uuid4().hex[:12]}", USER, "", to,
                    f"{base}/event", failover)  # fmt: skip
    offers: list[Any] = []
    for delivery in delivery_order(internal_events(call, outcome, rng, start), rng):
        body = json_of("events", send("events", delivery.url, delivery.payload))
        if isinstance(body, list) and body:
            offers.append(body)
    left = None
    if outcome != "answered" and failover is not None:
        record_action = first_action(offers[0], "record") if offers else None
        if record_action is None:
            raise StepError("events", f"{to}'s app leg ended {outcome}, and no voicemail was offered")
        left = leave_voicemail(record_action, call, start + timedelta(seconds=25))
    record = fetch_record(url, conversation_uuid)
    problems = _check(base, record, conversation_uuid, to, outcome, left)
    status = record.get("status")
    voicemail = record.get("voicemail") or {}
    made = record["answer"]
    said = f"  status {status}; direction {made.get('direction')}; callee {made.get('callee')}"
    print(said + (f"; voicemail for {voicemail.get('user')} ({voicemail.get('duration')} s)" if left else ""))
    if problems:
        raise StepError("record", f"GET {url}: " + "; ".join(problems))
    print(f"  listed for {USER} and for {to}: ok")
    return 0


def _check(
    base: str, record: dict[str, Any], conversation_uuid: str, to: str, outcome: str, left: Any
) -> list[str]:
    """What the record and both listings must say of the call."""
    problems = []
    answer_ = record["answer"]
    seen = tuple(answer_.get(name) for name in ("direction", "callee", "caller_id"))
    if seen != ("internal", to, None):
        problems.append(f"answer direction, callee, caller_id {seen!r}, expected ('internal', {to!r}, None)")
    expected_status = "completed" if outcome == "answered" else outcome
    if record.get("status") != expected_status:
        problems.append(f"status {record.get('status')!r}, expected {expected_status!r}")
    voicemail = record.get("voicemail")
    if left is not None and (not voicemail or voicemail.get("user") != to):
        problems.append(f"voicemail {voicemail!r}, expected one left for {to!r}")
    for user in (USER, to):
        listing = json_of("listing", send("listing", f"{base}/calls?{parse.urlencode({'user': user})}"))
        calls = listing.get("calls") if isinstance(listing, dict) else None
        if not isinstance(calls, list) or conversation_uuid not in [
            c.get("conversation_uuid") for c in calls
        ]:
            problems.append(f"GET /calls?user={user} does not list the call")
    return problems
