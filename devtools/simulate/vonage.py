"""What Vonage would send for one simulated call: the answer requests, both legs' status events,
the order it delivers them in, a voicemail's `record` event.

No I/O here (the ids and times come in, requests and payloads go out), so the same calls can be
built by `make simulate` and by tests that post them on their own (tests/integration/test_restart.py).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib import parse

OUTCOMES = ("answered", "busy", "unanswered", "failed")
USER = "jane"
NETWORK = "310260"  # an MCCMNC (a US mobile network), as Vonage reports `network`
PSTN_RATE = Decimal("0.01200000")  # EUR per minute, written the way Vonage writes it
APP_RATE = Decimal("0.00300000")
EIGHT_PLACES = Decimal("0.00000001")
# What the callee's leg reports for each failure: `busy` carries only the common fields;
# `unanswered` and `failed` add `detail` and the SIP hang-up code (an integer).
FAILURE_FIELDS: dict[str, dict[str, Any]] = {
    "busy": {},
    "unanswered": {"detail": "unavailable", "sip_code": 480},
    "failed": {"detail": "number_out_of_service", "sip_code": 404},
}
FAILURE_SIP_CODE = {"busy": 486, "unanswered": 480, "failed": 404}
# who ended the leg: the callee refused or did not answer; the platform could not route
FAILURE_DISCONNECTED_BY = {"busy": "user", "unanswered": "user", "failed": "platform"}
# seconds from ringing to the failure: busy is quick, no answer takes a while
FAILURE_AFTER_S = {"busy": (1.0, 4.0), "unanswered": (12.0, 19.0), "failed": (0.2, 1.5)}
RECORDING_S = 14  # the voicemail the simulated caller leaves
VOICEMAIL_FIELDS = ("recording_url", "recording_uuid", "start_time", "end_time", "duration", "size", "user")


@dataclass(frozen=True)
class Call:
    """The ids and addresses of the simulated call, as the answer step found them."""

    conversation_uuid: str
    app_uuid: str
    pstn_uuid: str
    event_url: str  # the application's event URL: the caller's leg reports here
    failover_url: str  # the connect's eventUrl: the callee's leg reports here
    caller_id: str | None  # the connect's `from`
    dialled: str  # the connect endpoint's number


@dataclass(frozen=True)
class Callback:
    """The phone call back to the team's number, as its answer set it up."""

    conversation_uuid: str
    caller_uuid: str  # the caller's (phone) leg: reports to the application's event URL
    app_uuid: str  # the leg to the app user, made by the connect
    caller: str
    team_number: str
    user: str | None  # the app user the connect rings; None when nobody was found
    event_url: str
    failover_url: str | None  # the connect's eventUrl (synchronous): None without voicemail


@dataclass(frozen=True)
class Delivery:
    url: str
    payload: dict[str, Any]
    redelivery: bool = False


# --- times and money -------------------------------------------------------------------------------


def vonage_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as in Vonage's `timestamp`."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def call_start() -> datetime:
    """Now, to the millisecond: Vonage's timestamps carry no finer time, so a call starts on one."""
    start = datetime.now(UTC)
    return start.replace(microsecond=start.microsecond // 1000 * 1000)


def price(seconds: int, rate: Decimal) -> str:
    return f"{(rate * seconds / 60).quantize(EIGHT_PLACES):f}"  # "0.00000000", never "0E-8"


def billed(start: datetime, end: datetime, rate: Decimal) -> dict[str, str]:
    """A leg's closing fields as Vonage reports them on `completed`: its times, length and cost."""
    seconds = int((end - start).total_seconds())
    return {"start_time": vonage_time(start), "end_time": vonage_time(end), "duration": str(seconds),
            "rate": str(rate), "price": price(seconds, rate)}  # fmt: skip


# --- answer requests -------------------------------------------------------------------------------


def answer_url(base: str, to: str, conversation_uuid: str, app_uuid: str) -> str:
    """The answer request of a Client SDK `serverCall` (a GET with `from_user` and no `from`)."""
    query = parse.urlencode(
        {"from_user": USER, "to": to, "conversation_uuid": conversation_uuid, "uuid": app_uuid}
    )
    return f"{base}/answer?{query}"


def callback_answer_url(
    base: str, caller: str, team_number: str, conversation_uuid: str, caller_uuid: str
) -> str:
    """The answer request Vonage makes for a phone call to one of the application's numbers."""
    query = parse.urlencode(
        {"from": caller, "to": team_number, "conversation_uuid": conversation_uuid, "uuid": caller_uuid}
    )
    return f"{base}/answer?{query}"


# --- status events ---------------------------------------------------------------------------------


def call_events(call: Call, outcome: str, rng: random.Random, start: datetime) -> list[Delivery]:
    """Both legs' status events in the order Vonage creates them, each with its URL."""

    def app(status: str, at: datetime, **fields: Any) -> Delivery:
        payload = {"headers": {}, "from": None, "to": USER, "uuid": call.app_uuid}
        payload.update(conversation_uuid=call.conversation_uuid, status=status, direction="inbound")
        return Delivery(call.event_url, {**payload, **fields, "timestamp": vonage_time(at)})

    def pstn(status: str, at: datetime, **fields: Any) -> Delivery:
        payload = {"headers": {}, "from": call.caller_id, "to": call.dialled, "uuid": call.pstn_uuid}
        payload.update(conversation_uuid=call.conversation_uuid, status=status, direction="outbound")
        return Delivery(call.failover_url, {**payload, **fields, "timestamp": vonage_time(at)})

    answered_app = start + timedelta(milliseconds=200)
    ringing = start + timedelta(seconds=1)
    events = [
        app("started", start),
        app("answered", answered_app, start_time=None, rate=None, network=None),
        pstn("started", ringing),
        pstn("ringing", ringing),  # Vonage often creates both in the same millisecond
    ]
    if outcome == "answered":
        picked_up = ringing + timedelta(seconds=rng.randint(3, 12))
        talk_s = rng.randint(20, 300)
        hung_up = picked_up + timedelta(seconds=talk_s)
        events += [
            pstn("answered", picked_up, start_time=None, rate=None, network=None),
            pstn(
                "completed",
                hung_up,
                **billed(picked_up, hung_up, PSTN_RATE),
                network=NETWORK,
                disconnected_by="user",
            ),
        ]
        app_end = hung_up + timedelta(milliseconds=300)
    else:
        failed_at = _failure_time(outcome, ringing, rng)
        events += [
            pstn(outcome, failed_at, **FAILURE_FIELDS[outcome]),
            # the `completed` Vonage sends with a failure (they may arrive either way round)
            pstn(
                "completed",
                failed_at + timedelta(milliseconds=20),
                start_time=None,
                end_time=vonage_time(failed_at),
                duration="0",
                rate=str(PSTN_RATE),
                price=price(0, PSTN_RATE),
                network=NETWORK,
                sip_code=FAILURE_SIP_CODE[outcome],
                disconnected_by=FAILURE_DISCONNECTED_BY[outcome],
            ),
        ]
        app_end = failed_at + timedelta(seconds=rng.randint(3, 6))  # the failover message is spoken
    events.append(
        app(
            "completed",
            app_end,
            **billed(answered_app, app_end, APP_RATE),
            disconnected_by="platform",  # the NCCO ran out of actions once the callee's leg ended
        )
    )
    return events


def callback_events(call: Callback, outcome: str, rng: random.Random, start: datetime) -> list[Delivery]:
    """The caller's and the app leg's status events, in the order Vonage creates them."""

    def phone(status: str, at: datetime, **fields: Any) -> Delivery:
        payload = {"from": call.caller, "to": call.team_number, "uuid": call.caller_uuid}
        payload.update(conversation_uuid=call.conversation_uuid, status=status, direction="inbound")
        return Delivery(call.event_url, {**payload, **fields, "timestamp": vonage_time(at)})

    def app(status: str, at: datetime, **fields: Any) -> Delivery:
        payload = {"from": call.caller, "to": call.user, "uuid": call.app_uuid}
        payload.update(conversation_uuid=call.conversation_uuid, status=status, direction="outbound")
        url = call.failover_url or call.event_url
        return Delivery(url, {**payload, **fields, "timestamp": vonage_time(at)})

    picked = start + timedelta(milliseconds=150)
    ringing = start + timedelta(seconds=1)
    events = [
        phone("started", start),
        phone("answered", picked),
        app("started", ringing),
        app("ringing", ringing),
    ]
    if outcome == "answered":
        answered = ringing + timedelta(seconds=rng.randint(2, 8))
        ended = answered + timedelta(seconds=rng.randint(20, 300))
        events += [
            app("answered", answered),
            app("completed", ended, **billed(answered, ended, APP_RATE), disconnected_by="user"),
        ]
        end = ended + timedelta(milliseconds=300)
    else:
        failed = _failure_time(outcome, ringing, rng)
        events.append(app(outcome, failed, **FAILURE_FIELDS[outcome]))
        end = failed + timedelta(seconds=RECORDING_S + 6)  # the message spoken, the voicemail left
    events.append(
        phone("completed", end, **billed(picked, end, PSTN_RATE), network=NETWORK, disconnected_by="user")
    )
    return events


def _failure_time(outcome: str, ringing: datetime, rng: random.Random) -> datetime:
    """When a leg that rang ends in `outcome`: each failure takes its own while (FAILURE_AFTER_S)."""
    low, high = FAILURE_AFTER_S[outcome]
    return ringing + timedelta(milliseconds=rng.randint(int(low * 1000), int(high * 1000)))


def delivery_order(events: Sequence[Delivery], rng: random.Random) -> list[Delivery]:
    """The events shuffled, plus an exact copy of one of them delivered again later."""
    order = list(events)
    rng.shuffle(order)
    first = rng.randrange(len(order))
    again = Delivery(order[first].url, json.loads(json.dumps(order[first].payload)), redelivery=True)
    order.insert(rng.randint(first + 1, len(order)), again)
    return order


# --- voicemail -------------------------------------------------------------------------------------


def voicemail_event(call: Callback, at: datetime) -> dict[str, Any]:
    """Vonage's `record` event for a voicemail of RECORDING_S seconds begun at `at`."""
    return {
        "start_time": vonage_time(at),
        "end_time": vonage_time(at + timedelta(seconds=RECORDING_S)),
        "recording_url": f"https://api.nexmo.com/v1/files/{uuid.uuid4()}",
        "size": RECORDING_S * 2000,
        "recording_uuid": str(uuid.uuid4()),
        "conversation_uuid": call.conversation_uuid,
        "timestamp": vonage_time(at + timedelta(seconds=RECORDING_S, milliseconds=120)),
    }
