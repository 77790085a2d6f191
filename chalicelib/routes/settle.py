"""Settling an answer whose write's outcome is unknown: what the record says is what the caller heard.

The answer's one transaction (the answer, its counters, the number's last caller) may time out
on the client and still be applied by DynamoDB a moment later. The caller then hears the refusal
(`policy_unavailable`), and when no correction fits the answer's budget the record, the user's
quota and the last caller would say "connect". So such a refusal starts with a `notify` action:
Vonage posts its payload to /event?settle=1 before it speaks the refusal, the next request for
that leg, with a budget of its own. There the store settles the leg (CallStore.settle_answer):
the refusal stored in the connect's place, its counters given back, what it noted removed; or,
the connect not having landed, the refusal stored first so that it never can. Safe to repeat
(Vonage retries a notify it got no answer to). A `notify` is answered with an empty body: the
NCCO goes on (Vonage NCCO reference, notify).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from chalicelib import logs, ncco
from chalicelib.answer_request import AnswerRequest
from chalicelib.decision import REFUSE, Decision
from chalicelib.errors import WebhookError
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.routes.signed import check_signature
from chalicelib.settings import Settings
from chalicelib.storage.call_store import CallIdentity
from chalicelib.storage.writes import Counter
from chalicelib.times import expiry
from chalicelib.webhooks import SETTLE_MARK, request_params

ROUTE = Route("answer_settled", "/event")
KIND = "settle"  # the payload's "callgate" member: what the notify is for
CONTINUE = Reply(200, None, None, "")  # an empty body: Vonage goes on with the NCCO


def _leg(asked: AnswerRequest, made: Decision) -> tuple[str | None, list[Counter]]:
    """Whom the connect was filed under (a callback: the app user it went to, as the answer's own
    write files it) and the counters it counted."""
    user = made.answer["user"] if "user" in made.answer else asked.caller
    return user, [(limit.user, limit.window, limit.period) for limit in made.limits]


def settle_now(
    adapters: Adapters,
    line: RequestLine,
    asked: AnswerRequest,
    made: Decision,
    refused: Decision,
    settings: Settings,
    now: datetime,
    deadline: float,
) -> bool:
    """Settle the leg within the answer's own budget, when a DynamoDB call still fits it; whether
    it was (else settle_later asks for the leg's next request)."""
    answer = refused.answer
    user, counters = _leg(asked, made)
    call = CallIdentity(asked.conversation_uuid, user, answer["received_at"])  # type: ignore[arg-type]
    try:
        with line.in_store():
            adapters.store_for(settings).settle_answer(
                call,
                asked.leg_key,
                answer,
                expiry(now, settings.retention_days),
                counters,
                deadline,  # type: ignore[arg-type]
            )
    except Exception as again:  # the leg's next request settles it
        logs.warning("answer_not_corrected", conversation_uuid=asked.conversation_uuid, error=str(again))
        return False
    return True


def settle_later(
    line: RequestLine, asked: AnswerRequest, made: Decision, refused: Decision, base: str | None
) -> Decision:
    """`refused`, asking Vonage to call /event?settle=1 first with what settling the leg takes."""
    answer = refused.answer
    user, counters = _leg(asked, made)
    if base is None:  # nowhere to be called back on: the record may say connect
        logs.error("answer_unsettled", conversation_uuid=asked.conversation_uuid, why="no PUBLIC_BASE_URL")
        return refused
    payload = {
        "callgate": KIND,
        "conversation": asked.conversation_uuid,
        "leg": asked.leg_key,
        "user": user,
        "counters": [list(counter) for counter in counters],
        "answer": answer,  # what the caller hears: the record's answer once settled
    }
    try:
        notify = ncco.notify(payload, f"{base}/event?{SETTLE_MARK}=1", event_method="POST")
    except Exception as exc:  # e.g. the app's custom_data nested past what an NCCO may hold
        logs.error("answer_unsettled", conversation_uuid=asked.conversation_uuid, why=f"no notify: {exc}")
        return refused
    logs.warning("answer_unsettled", conversation_uuid=asked.conversation_uuid, settle="asked of Vonage")
    return refused._replace(answer={**answer, "ncco": [notify, *answer["ncco"]]})


def settle(adapters: Adapters, request: Request) -> Reply:
    """Vonage's notify of a settle_later refusal: settle the leg, then let the NCCO go on."""
    line = RequestLine(ROUTE)
    try:
        settings = line.settings = adapters.load_settings()
        check_signature(adapters, settings, request)
        fields = request_params({}, request.body, request.content_type)
        conversation, leg, user, counters, answer = _read(fields)
        line.conversation_uuid, line.uuid = conversation, leg or None
        store = adapters.store_for(settings)
        call = CallIdentity(conversation, user, answer["received_at"])
        deadline = time.monotonic() + adapters.event_budget_s
        with line.in_store():
            outcome = store.settle_answer(
                call, leg, answer, expiry(adapters.clock(), settings.retention_days), counters, deadline
            )
    except Exception as exc:
        return line.failed(exc)
    line.write(outcome)
    return CONTINUE


def _read(fields: dict[str, Any]) -> tuple[str, str, str | None, list[Counter], dict[str, Any]]:
    """The notify's conversation and the settle payload callgate put in it; WebhookError (400)
    for anything else (a notify callgate did not ask for)."""
    payload = fields.get("payload")
    conversation = fields.get("conversation_uuid")
    if isinstance(payload, str):  # a payload Vonage passed on as JSON text
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    if not isinstance(payload, dict) or payload.get("callgate") != KIND or not isinstance(conversation, str):
        raise WebhookError("not a settle notify: no conversation_uuid or no callgate payload")
    if payload.get("conversation") != conversation:  # the notify of another call's answer
        raise WebhookError("settle payload: not this conversation's")
    leg, user, counters, answer = (payload.get(name) for name in ("leg", "user", "counters", "answer"))
    if not isinstance(leg, str) or not (user is None or isinstance(user, str)):
        raise WebhookError("settle payload: leg or user is not text")
    if (
        not isinstance(answer, dict)
        or answer.get("decision") != REFUSE
        or not isinstance(answer.get("received_at"), str)
    ):
        raise WebhookError("settle payload: answer is not a refusal")
    if not isinstance(counters, list) or not all(
        isinstance(c, list) and len(c) == 3 and (c[0] is None or isinstance(c[0], str))
        and all(isinstance(part, str) for part in c[1:])
        for c in counters
    ):  # fmt: skip
        raise WebhookError("settle payload: counters are not [user, window, period] triples")
    return conversation, leg, user, [(c[0], c[1], c[2]) for c in counters], answer
