"""`make simulate`: play Vonage for one app-to-phone call against a running callgate (`make run`).

It asks the answer URL as the Client SDK user jane, posts both legs' events in a shuffled order
with one of them delivered twice (Vonage gives no order and may repeat itself), then reads the
call record back, prints it as a timeline and checks it. So the whole webhook path can be seen
working, or failing at a named step, without a Vonage account.

DIRECTION=inbound plays a callback instead: jane calls TO, then TO (or FROM) calls the team's
number back (the connect's caller ID); callgate rings jane's app. OUTCOME is then what jane's app
does: answered, or a failure after which the caller is offered a voicemail, which the simulator
leaves (Vonage's `record` event) and then finds in the call record and in jane's listing.

Settings: BASE, TO, OUTCOME (answered|busy|unanswered|failed), SEED, DIRECTION
(outbound|inbound), FROM, or --base, --to, --outcome, --seed, --direction, --from (flags win).
SEED drives the order, the redelivery and the durations; the call's ids are new on every run,
so a seed can be replayed against the same table.
With VONAGE_SIGNATURE_SECRET set, every request is signed as Vonage signs it (a JWT in
Authorization), for a service that checks signatures.
Exit codes: 0 done (a refused call included), 1 a step went wrong, 2 bad usage.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib import error, parse, request

from chalicelib import signature, summary

DEFAULT_BASE = "http://127.0.0.1:8000"
DEFAULT_TO = "14155550101"  # a US number, which the local stage allows
OUTCOMES = ("answered", "busy", "unanswered", "failed")
DIRECTIONS = ("outbound", "inbound")
TIMEOUT_S = 5.0
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


class StepError(Exception):
    """A step went wrong; main() prints `simulate: step <name>: <what happened>` and exits 1."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step {step}: {message}")
        self.step = step


@dataclass(frozen=True)
class Reply:
    method: str
    url: str
    status: int
    content_type: str
    body: bytes

    def where(self) -> str:
        return f"{self.method} {self.url} answered {self.status}"


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
class Delivery:
    url: str
    payload: dict[str, Any]
    redelivery: bool = False


# --- HTTP ------------------------------------------------------------------------------------------


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip()
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"


def _opener(url: str) -> request.OpenerDirector:
    """No proxy for a local server: an http_proxy meant for the internet must not catch it."""
    if parse.urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1"):
        return request.build_opener(request.ProxyHandler({}))
    return request.build_opener()


def _http(step: str, url: str, payload: dict[str, Any] | None = None) -> Reply:
    """One request; any answer but a 200 is a StepError that says what came back."""
    method = "GET" if payload is None else "POST"
    headers = {"Accept": "application/json"}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode("utf-8")
        headers["Content-Type"] = "application/json"
    secret = os.environ.get("VONAGE_SIGNATURE_SECRET", "").strip()
    if secret:  # sign as Vonage does: a JWT over the query (GET) or the body (POST)
        query = dict(parse.parse_qsl(parse.urlsplit(url).query, keep_blank_values=True))
        token = signature.sign(secret, time.time(), None if data else query, data)
        headers["Authorization"] = f"Bearer {token}"
    req = request.Request(url, data=data, headers=headers, method=method)
    try:
        with _opener(url).open(req, timeout=TIMEOUT_S) as response:
            reply = Reply(method, url, response.status, response.headers.get_content_type(), response.read())
    except error.HTTPError as exc:
        hint = ""
        if exc.code == 401:
            hint = " (the service checks signatures: set VONAGE_SIGNATURE_SECRET to its secret here too)"
        raise StepError(step, f"{method} {url} answered {exc.code}: {_excerpt(exc.read())}{hint}") from None
    except error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise StepError(
                step, f"{method} {url}: connection refused; start the service first with `make run`"
            ) from None
        if isinstance(exc.reason, TimeoutError):
            raise StepError(step, f"{method} {url}: no answer within {TIMEOUT_S:g} s") from None
        raise StepError(step, f"{method} {url}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise StepError(step, f"{method} {url}: no answer within {TIMEOUT_S:g} s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise StepError(step, f"{method} {url}: the connection failed ({exc!r})") from None
    if reply.status != 200:
        raise StepError(step, f"{reply.where()} (expected 200): {_excerpt(reply.body)}")
    return reply


def _json(step: str, reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:
        raise StepError(
            step, f"{reply.where()} with a body that is not JSON: {_excerpt(reply.body)}"
        ) from None


def _is_ncco(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(action, dict) and isinstance(action.get("action"), str) for action in value
    )


# --- times and money -------------------------------------------------------------------------------


def vonage_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as in Vonage's `timestamp`."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _clock(text: Any) -> str:
    """HH:MM:SS.mmm of an ISO 8601 time, for the timeline."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def _price(seconds: int, rate: Decimal) -> str:
    return f"{(rate * seconds / 60).quantize(EIGHT_PLACES):f}"  # "0.00000000", never "0E-8"


def _billed(start: datetime, end: datetime, rate: Decimal) -> dict[str, str]:
    """A leg's closing fields as Vonage reports them on `completed`: its times, length and cost."""
    seconds = int((end - start).total_seconds())
    return {"start_time": vonage_time(start), "end_time": vonage_time(end), "duration": str(seconds),
            "rate": str(rate), "price": _price(seconds, rate)}  # fmt: skip


# --- step 1: answer --------------------------------------------------------------------------------


def answer(base: str, to: str, conversation_uuid: str, app_uuid: str) -> list[dict[str, Any]]:
    """Ask the answer URL as a Client SDK `serverCall` does (GET, `from_user`, no `from`)."""
    query = parse.urlencode(
        {"from_user": USER, "to": to, "conversation_uuid": conversation_uuid, "uuid": app_uuid}
    )
    reply = _http("answer", f"{base}/answer?{query}")
    if reply.content_type != "application/json":
        raise StepError(
            "answer", f"{reply.where()} as {reply.content_type!r}; Vonage needs an NCCO as application/json"
        )
    ncco = _json("answer", reply)
    if not _is_ncco(ncco) or not ncco:
        raise StepError("answer", f"{reply.where()} with JSON that is not an NCCO: {_excerpt(reply.body)}")
    return ncco


def connected_call(
    base: str, to: str, ncco: list[dict[str, Any]], conversation_uuid: str, app_uuid: str
) -> Call | None:
    """The call as the NCCO's connect sets it up; None when the NCCO connects nothing (refused)."""
    connect = next((action for action in ncco if action["action"] == "connect"), None)
    if connect is None:
        return None
    failover_url = f"{base}/event?failover=1"
    if "eventUrl" in connect:
        urls = connect["eventUrl"]
        if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
            raise StepError("answer", f"the connect's eventUrl is not a list of URLs: {urls!r}")
        failover_url = urls[0]
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


# --- step 2: events --------------------------------------------------------------------------------


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
                **_billed(picked_up, hung_up, PSTN_RATE),
                network=NETWORK,
                disconnected_by="user",
            ),
        ]
        app_end = hung_up + timedelta(milliseconds=300)
    else:
        low, high = FAILURE_AFTER_S[outcome]
        failed_at = ringing + timedelta(milliseconds=rng.randint(int(low * 1000), int(high * 1000)))
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
                price=_price(0, PSTN_RATE),
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
            **_billed(answered_app, app_end, APP_RATE),
            disconnected_by="platform",  # the NCCO ran out of actions once the callee's leg ended
        )
    )
    return events


def delivery_order(events: Sequence[Delivery], rng: random.Random) -> list[Delivery]:
    """The events shuffled, plus an exact copy of one of them delivered again later."""
    order = list(events)
    rng.shuffle(order)
    first = rng.randrange(len(order))
    again = Delivery(order[first].url, json.loads(json.dumps(order[first].payload)), redelivery=True)
    order.insert(rng.randint(first + 1, len(order)), again)
    return order


def deliver(order: Sequence[Delivery], call: Call, outcome: str) -> list[list[dict[str, Any]]]:
    """Post every event; the failover NCCOs the callee's failure events got back."""
    nccos: list[list[dict[str, Any]]] = []
    for delivery in order:
        payload = delivery.payload
        reply = _http("events", delivery.url, payload)
        body = _json("events", reply)
        what = f"POST {delivery.url} ({payload['direction']} {payload['status']})"
        failure = outcome != "answered" and payload["status"] == outcome
        fails_over = failure and delivery.url == call.failover_url
        if fails_over and isinstance(body, list):
            if not _is_ncco(body) or not body:
                raise StepError(
                    "events", f"{what} answered a list that is not an NCCO: {_excerpt(reply.body)}"
                )
            nccos.append(body)
        elif body != {}:
            raise StepError("events", f"{what} answered {_excerpt(reply.body)}; expected {{}}")
    if outcome != "answered" and not nccos:
        raise StepError(
            "events",
            f"the callee's {outcome} event got no failover NCCO from {call.failover_url} (it answered {{}})",
        )
    return nccos


# --- step 3: record --------------------------------------------------------------------------------


def record_url(base: str, conversation_uuid: str) -> str:
    return f"{base}/calls/{parse.quote(conversation_uuid, safe='')}"


def fetch_record(url: str, conversation_uuid: str) -> dict[str, Any]:
    """GET the call record and check it has the documented shape."""
    reply = _http("record", url)
    record = _json("record", reply)
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
        raise StepError("record", f"{reply.where()}, but {exc}: {_excerpt(reply.body)}") from None
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


# --- output ----------------------------------------------------------------------------------------


def _spoken(ncco: Any) -> list[str]:
    return [a["text"] for a in ncco if isinstance(a, dict) and a.get("action") == "talk" and "text" in a]


def describe_ncco(ncco: Any) -> str:
    """An NCCO in one line: talk "…", connect 1415…"""
    if not isinstance(ncco, list):
        return repr(ncco)
    parts = []
    for action in ncco:
        name = action.get("action") if isinstance(action, dict) else None
        if name == "talk":
            parts.append(f"talk {json.dumps(action.get('text'), ensure_ascii=False)}")
        elif name == "connect":
            endpoints = action.get("endpoint") or [{}]
            first = endpoints[0] if isinstance(endpoints[0], dict) else {}
            parts.append(f"connect {first.get('number') or first.get('type') or '?'}")
        else:
            parts.append(str(name))
    return ", ".join(parts)


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
    line = f"event     {_clock(payload.get('timestamp'))}  {_leg_label(payload, call):<5} {status:<11}"
    return f"{line} {'  '.join(extras)}".rstrip()


def _answer_line(decision: dict[str, Any]) -> str:
    line = f"answer    {_clock(decision['received_at'])}  {decision['decision']}  {decision['reason']}"
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
    for text in _spoken(decision["ncco"]):
        print(f"spoken    {json.dumps(text, ensure_ascii=False)}")
    print(
        f"summary   refused ({decision['reason']}) · no events sent · {len(record['events'])} events stored"
    )


# --- main ------------------------------------------------------------------------------------------


def simulate(base: str, to: str, outcome: str, seed: int) -> int:
    """Run the three steps; raise StepError naming the step that went wrong."""
    rng = random.Random(seed)
    conversation_uuid = f"CON-sim-{uuid.uuid4().hex}"
    app_uuid = f"app-leg-{uuid.uuid4().hex[:12]}"
    start = datetime.now(UTC)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
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


# --- DIRECTION=inbound: a callback ---------------------------------------------------------------

RECORDING_S = 14  # the voicemail the simulated caller leaves
VOICEMAIL_FIELDS = ("recording_url", "recording_uuid", "start_time", "end_time", "duration", "size", "user")


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


def call_back(
    base: str, caller: str, team_number: str, conversation_uuid: str, caller_uuid: str
) -> list[Any]:
    """Ask the answer URL as Vonage does for a phone call to one of the application's numbers."""
    query = parse.urlencode(
        {"from": caller, "to": team_number, "conversation_uuid": conversation_uuid, "uuid": caller_uuid}
    )
    reply = _http("callback", f"{base}/answer?{query}")
    ncco = _json("callback", reply)
    if not _is_ncco(ncco) or not ncco:
        raise StepError("callback", f"{reply.where()} with JSON that is not an NCCO: {_excerpt(reply.body)}")
    return ncco  # type: ignore[no-any-return]


def _first(ncco: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((action for action in ncco if action["action"] == name), None)


def _event_url_of(action: dict[str, Any], step: str) -> str:
    urls = action.get("eventUrl")
    if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
        raise StepError(step, f"the {action['action']}'s eventUrl is not a list of URLs: {urls!r}")
    return urls[0]


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
            app("completed", ended, **_billed(answered, ended, APP_RATE), disconnected_by="user"),
        ]
        end = ended + timedelta(milliseconds=300)
    else:
        low, high = FAILURE_AFTER_S[outcome]
        failed = ringing + timedelta(milliseconds=rng.randint(int(low * 1000), int(high * 1000)))
        events.append(app(outcome, failed, **FAILURE_FIELDS[outcome]))
        end = failed + timedelta(seconds=RECORDING_S + 6)  # the message spoken, the voicemail left
    events.append(
        phone("completed", end, **_billed(picked, end, PSTN_RATE), network=NETWORK, disconnected_by="user")
    )
    return events


def leave_voicemail(record_action: dict[str, Any], call: Callback, at: datetime) -> dict[str, Any]:
    """Vonage's `record` event for the voicemail, posted to the record action's eventUrl."""
    url = _event_url_of(record_action, "voicemail")
    payload = {
        "start_time": vonage_time(at),
        "end_time": vonage_time(at + timedelta(seconds=RECORDING_S)),
        "recording_url": f"https://api.nexmo.com/v1/files/{uuid.uuid4()}",
        "size": RECORDING_S * 2000,
        "recording_uuid": str(uuid.uuid4()),
        "conversation_uuid": call.conversation_uuid,
        "timestamp": vonage_time(at + timedelta(seconds=RECORDING_S, milliseconds=120)),
    }
    body = _json("voicemail", _http("voicemail", url, payload))
    if body != {}:
        raise StepError("voicemail", f"POST {url} (record) answered {body!r}; expected {{}}")
    return payload


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
    line = f"answer    {_clock(answer['received_at'])}  {answer['decision']}  {answer['reason']}"
    print(f"{line}  {describe_ncco(answer['ncco'])}")
    for payload in record["events"]:
        if "recording_url" in payload:
            print(f"event     {_clock(payload.get('timestamp'))}  record      {payload['recording_url']}")
            continue
        label = "phone" if payload.get("uuid") == call.caller_uuid else "app"
        print(f"event     {_clock(payload.get('timestamp'))}  {label:<5} {payload.get('status')}")
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


def simulate_inbound(base: str, to: str, caller: str, outcome: str, seed: int) -> int:
    """jane calls `to`; `caller` calls the team's number back; the callback is played to its end."""
    rng = random.Random(seed)
    out_conversation = f"CON-sim-{uuid.uuid4().hex}"
    ncco = answer(base, to, out_conversation, f"app-leg-{uuid.uuid4().hex[:12]}")
    connect = _first(ncco, "connect")
    if connect is None or not isinstance(connect.get("from"), str):
        raise StepError(
            "answer", f"jane's call to {to} was not connected ({describe_ncco(ncco)}): nothing to call back"
        )
    team_number = connect["from"]  # the caller ID: the team's number that the callee sees
    placed = f"outbound  jane → {to}: {describe_ncco(ncco)} (caller ID {team_number})"
    conversation_uuid = f"CON-sim-{uuid.uuid4().hex}"
    caller_uuid = f"phone-leg-{uuid.uuid4().hex[:12]}"
    start = datetime.now(UTC)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    reply = call_back(base, caller, team_number, conversation_uuid, caller_uuid)
    connect, record_action = _first(reply, "connect"), _first(reply, "record")
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
        _event_url_of(connect, "callback") if connect and "eventUrl" in connect else None,
    )
    nccos: list[Any] = []
    left = None
    if connect is not None:
        order = delivery_order(callback_events(call, outcome, rng, start), rng)
        for delivery in order:
            body = _json("events", _http("events", delivery.url, delivery.payload))
            if isinstance(body, list) and body:
                nccos.append(body)
        if outcome != "answered":
            if not nccos:
                raise StepError("events", f"jane's app leg ended {outcome}, and no voicemail was offered")
            record_action = _first(nccos[0], "record")
    if record_action is not None and (connect is None or outcome != "answered"):
        left = leave_voicemail(record_action, call, start + timedelta(seconds=5))
    record = fetch_record(record_url(base, conversation_uuid), conversation_uuid)
    listed = None
    if user is not None:
        listing = _json("listing", _http("listing", f"{base}/calls?{parse.urlencode({'user': user})}"))
        listed = listing.get("calls") if isinstance(listing, dict) else None
        if not isinstance(listed, list):
            raise StepError("listing", f"GET /calls?user={user} answered {listing!r}")
    print_callback(record, call, placed, seed, outcome, nccos, left, listed)
    problems = check_callback(record, listed, call, outcome, left)
    if problems:
        raise StepError("record", f"GET {record_url(base, conversation_uuid)}: " + "; ".join(problems))
    return 0


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulate",
        description="Play Vonage for one app-to-phone call against a running callgate (`make run`).",
    )
    parser.add_argument("--base", default=env.get("BASE") or DEFAULT_BASE, help="service URL (env BASE)")
    parser.add_argument("--to", default=env.get("TO") or DEFAULT_TO, help="number dialled (env TO)")
    parser.add_argument(
        "--outcome",
        default=env.get("OUTCOME") or "answered",
        help=f"what the callee does: {'|'.join(OUTCOMES)} (env OUTCOME)",
    )
    parser.add_argument("--seed", default=env.get("SEED") or None, help="replay an order (env SEED)")
    parser.add_argument(
        "--direction",
        default=env.get("DIRECTION") or "outbound",
        help=f"{'|'.join(DIRECTIONS)}: jane's call, or a call back to the team's number (env DIRECTION)",
    )
    parser.add_argument(
        "--from", dest="caller", default=env.get("FROM") or None,
        help="inbound: the number calling back (env FROM; default: TO, the number jane called)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.outcome not in OUTCOMES:
            parser.error(f"outcome must be one of {', '.join(OUTCOMES)}, not {args.outcome!r}")
        if args.direction not in DIRECTIONS:
            parser.error(f"direction must be one of {', '.join(DIRECTIONS)}, not {args.direction!r}")
        base = str(args.base).rstrip("/")
        parts = parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            parser.error(f"base must be an http(s) URL such as {DEFAULT_BASE}, not {args.base!r}")
        if args.seed is None:
            seed = random.SystemRandom().randrange(1_000_000)
        elif str(args.seed).strip().lstrip("-").isdigit():
            seed = int(args.seed)
        else:
            parser.error(f"seed must be an integer, not {args.seed!r}")
    except SystemExit as exc:  # usage errors and --help: a code, not an exit, for in-process callers
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.direction == "inbound":
            return simulate_inbound(base, str(args.to), str(args.caller or args.to), args.outcome, seed)
        return simulate(base, str(args.to), args.outcome, seed)
    except StepError as exc:
        sys.stdout.flush()
        print(f"simulate: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
