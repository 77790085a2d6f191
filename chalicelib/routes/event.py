"""GET|POST /event: Vonage posts every change of a call; each is stored once, in one round trip.

200 once stored ({} or, for the answer's synchronous connect, the failover NCCO); 4xx for
input that can never be stored; 503 so Vonage retries (and, for a synchronous connect, then
asks /fallback). A redelivery is answered as the first delivery was, and stored nothing.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import metrics
from chalicelib.callbacks import voicemail
from chalicelib.decision import failover
from chalicelib.events import Event, parse_event
from chalicelib.ncco import Action
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.routes.settle import settle
from chalicelib.routes.signed import check_signature
from chalicelib.settings import Settings
from chalicelib.summary import voicemail_fields
from chalicelib.times import expiry, utc_iso
from chalicelib.webhooks import FAILOVER_MARK, RECORDING_MARK, SETTLE_MARK, VOICEMAIL, request_params

ROUTE = Route("event", "/event")
STORED = Reply(200, {}, None, "{}")  # most events get it: its text written once


def event(adapters: Adapters, request: Request, base_url: str | None = None) -> Reply:
    """Store the event. `base_url`: where Vonage reaches this service, for a voicemail's recording
    eventUrl (PUBLIC_BASE_URL overrides it)."""
    if (request.query or {}).get(SETTLE_MARK) is not None:  # a refusal's notify, not an event
        return settle(adapters, request)
    line = RequestLine(ROUTE)
    deadline = time.monotonic() + adapters.event_budget_s
    received = adapters.clock()
    received_at = utc_iso(received)
    # callgate's own marks on the eventUrls it gave Vonage, apart from Vonage's fields
    fields = dict(request.query or {})
    failover_mark, recording_mark = fields.pop(FAILOVER_MARK, None), fields.pop(RECORDING_MARK, None)
    try:
        settings = line.settings = adapters.load_settings()
        check_signature(adapters, settings, request)
        event = parse_event(request_params(fields, request.body, request.content_type), received_at)
        line.conversation_uuid, line.uuid = event.conversation_uuid, event.leg_uuid
        reply = _reply(event, failover_mark, settings, base_url)
        # the record event of a voicemail (/event?recording=voicemail) is the call's voicemail
        kept = (
            voicemail_fields(event.payload)
            if recording_mark == VOICEMAIL and event.kind == "record"
            else None
        )
        store = adapters.store_for(settings)
        with line.in_store():
            stored = store.save_event(
                event, received_at, expiry(received, settings.retention_days), reply, deadline, kept
            )
    except Exception as exc:
        return line.failed(exc)
    _write(line, event, stored, reply, kept)
    return STORED if reply is None else Reply(200, reply)


def _reply(event: Event, mark: str | None, settings: Settings, base_url: str | None) -> list[Action] | None:
    """What the caller hears next, for the events of a synchronous connect (only the answer's
    connect is one, marked ?failover=1; a callback's ?failover=voicemail): a failover, or the
    offer of a voicemail. None for every other event (any other connect reports here unmarked)."""
    if mark == VOICEMAIL:
        return voicemail(event.payload, settings, settings.public_base_url or base_url)
    if mark == "1":
        return failover(event.payload, settings)
    return None


def _write(
    line: RequestLine, event: Event, stored: bool, reply: list[Action] | None, kept: dict[str, Any] | None
) -> None:
    """The event's line: stored, or a duplicate (a redelivery: its digest made it one); a
    voicemail; a failover (with the status it answered)."""
    counted = (metrics.EVENTS_STORED,) if stored else (metrics.DUPLICATES,)
    if kept is not None:
        if stored:
            fields = {"recording_uuid": kept["recording_uuid"]}
            line.write("voicemail", 200, (metrics.EVENTS_STORED, metrics.VOICEMAILS), fields=fields)
        else:
            line.write("duplicate", 200, counted, fields={"recording_uuid": kept["recording_uuid"]})
    elif reply is not None:
        line.write("failover", 200, counted, fields={"event_status": event.status})
    elif stored:
        line.write("stored", 200, counted)
    else:
        line.write("duplicate", 200, counted, fields={"digest": event.digest})
