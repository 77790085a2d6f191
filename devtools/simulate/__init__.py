"""`make simulate`: play Vonage for one app-to-phone call against a running callgate (`make run`).

It asks the answer URL as the Client SDK user jane, posts both legs' events in a shuffled order
with one of them delivered twice (Vonage gives no order and may repeat itself), then reads the
call record back, prints it as a timeline and checks it. So the whole webhook path can be seen
working, or failing at a named step, without a Vonage account.

DIRECTION=inbound plays a callback instead: jane calls TO, then TO (or FROM) calls the team's
number back (the connect's caller ID); callgate rings jane's app. OUTCOME is then what jane's app
does: answered, or a failure after which the caller is offered a voicemail, which the simulator
leaves (Vonage's `record` event) and then finds in the call record and in jane's listing.

DIRECTION=internal plays an app-to-app call: jane calls the app user TO (bob by default); OUTCOME
is what bob's app does, a failure offering jane bob's voicemail; both users' listings must show it.

Settings: BASE, TO, OUTCOME (answered|busy|unanswered|failed), SEED, DIRECTION
(outbound|inbound|internal), FROM, or --base, --to, --outcome, --seed, --direction, --from (flags win).
SEED drives the order, the redelivery and the durations; the call's ids are new on every run,
so a seed can be replayed against the same table.
With VONAGE_SIGNATURE_SECRET set, every request is signed as Vonage signs it (a JWT in
Authorization), for a service that checks signatures.
Exit codes: 0 done (a refused call included), 1 a step went wrong, 2 bad usage.

The package, one thing a module (names the tests use stay importable from here):
  vonage.py     what Vonage sends: answer requests, status events, their order, a voicemail (no I/O)
  transport.py  sending them over HTTP, signed; StepError for a step that went wrong
  ncco.py       reading the NCCOs callgate answers with
  record.py     reading the call record back and checking it
  timeline.py   printing the record as a timeline
  outbound.py   DIRECTION=outbound: answer, events, record
  inbound.py    DIRECTION=inbound: jane's call, the callback, the voicemail, the listing
  internal.py   DIRECTION=internal: jane calls bob's app, his voicemail, both listings
  cli.py        the command line: settings, exit codes (__main__.py runs it)
"""

from __future__ import annotations

from devtools.simulate.cli import DEFAULT_BASE, DEFAULT_TO, DIRECTIONS, main
from devtools.simulate.inbound import call_back, leave_voicemail, simulate_inbound
from devtools.simulate.ncco import describe_ncco
from devtools.simulate.outbound import answer, connected_call, deliver, simulate
from devtools.simulate.record import (
    ANSWER_FIELDS,
    FAILOVER_FIELDS,
    LEG_FIELDS,
    RECORD_FIELDS,
    check_callback,
    check_record,
    fetch_record,
    record_url,
)
from devtools.simulate.timeline import print_call, print_callback, print_refusal
from devtools.simulate.transport import TIMEOUT_S, Reply, StepError
from devtools.simulate.vonage import (
    APP_RATE,
    EIGHT_PLACES,
    FAILURE_AFTER_S,
    FAILURE_DISCONNECTED_BY,
    FAILURE_FIELDS,
    FAILURE_SIP_CODE,
    NETWORK,
    OUTCOMES,
    PSTN_RATE,
    RECORDING_S,
    USER,
    VOICEMAIL_FIELDS,
    Call,
    Callback,
    Delivery,
    call_events,
    callback_events,
    delivery_order,
    vonage_time,
)

__all__ = [
    "ANSWER_FIELDS",
    "APP_RATE",
    "DEFAULT_BASE",
    "DEFAULT_TO",
    "DIRECTIONS",
    "EIGHT_PLACES",
    "FAILOVER_FIELDS",
    "FAILURE_AFTER_S",
    "FAILURE_DISCONNECTED_BY",
    "FAILURE_FIELDS",
    "FAILURE_SIP_CODE",
    "LEG_FIELDS",
    "NETWORK",
    "OUTCOMES",
    "PSTN_RATE",
    "RECORDING_S",
    "RECORD_FIELDS",
    "TIMEOUT_S",
    "USER",
    "VOICEMAIL_FIELDS",
    "Call",
    "Callback",
    "Delivery",
    "Reply",
    "StepError",
    "answer",
    "call_back",
    "call_events",
    "callback_events",
    "check_callback",
    "check_record",
    "connected_call",
    "deliver",
    "delivery_order",
    "describe_ncco",
    "fetch_record",
    "leave_voicemail",
    "main",
    "print_call",
    "print_callback",
    "print_refusal",
    "record_url",
    "simulate",
    "simulate_inbound",
    "vonage_time",
]
