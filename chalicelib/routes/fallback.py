"""GET|POST /fallback: Vonage's fallback answer URL, asked when the answer URL (or a synchronous
event) failed. It always speaks FALLBACK_ANSWER_TEXT, which connects nothing, and records
the use with the call when it can; 401 for a request not provably Vonage's.
"""

from __future__ import annotations

import time

from chalicelib import logs, metrics
from chalicelib.answer_request import parse_fallback
from chalicelib.decision import fallback_answer
from chalicelib.errors import StoreUnavailable, WebhookError
from chalicelib.routes import outcomes
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.routes.signed import check_signature
from chalicelib.settings import Settings
from chalicelib.signature import SignatureError
from chalicelib.storage.call_store import CallIdentity
from chalicelib.times import expiry
from chalicelib.webhooks import request_params

ROUTE = Route("fallback", "/fallback")


def fallback(adapters: Adapters, request: Request) -> Reply:
    """The spoken fallback NCCO. With settings that cannot be read (or a secret that cannot be),
    nothing can be verified or stored: the built-in message is spoken (a forger gains nothing)."""
    line = RequestLine(ROUTE)
    deadline = time.monotonic() + adapters.answer_budget_s  # Vonage waits on it like the answer URL
    now = adapters.clock()
    settings: Settings | None = None
    try:
        settings = line.settings = adapters.load_settings()
        check_signature(adapters, settings, request)
    except SignatureError as exc:
        return line.failed(exc)
    except Exception as exc:  # the caller still hears the fallback answer
        failure = outcomes.failure_of(exc)
        if failure is None:
            logs.exception("fallback_failed", exc, route=ROUTE.path)
        else:
            line.detail(failure, exc)
        settings = None
    reply = Reply(200, fallback_answer(settings))
    try:
        use = parse_fallback(request_params(request.query, request.body, request.content_type), now)
    except WebhookError as exc:
        logs.warning("fallback_unreadable", error=str(exc))
        line.write("unreadable", 200, (metrics.FALLBACK_USES,))
        return reply
    asked = use.request
    line.conversation_uuid, line.uuid = asked.conversation_uuid, asked.uuid
    logs.warning("fallback_used", conversation_uuid=asked.conversation_uuid, **use.fallback)
    if settings is None or use.use_key is None:
        line.write("not_recorded", 200, (metrics.FALLBACK_USES,))
        return reply
    call = CallIdentity(asked.conversation_uuid, asked.caller, use.fallback["received_at"])  # type: ignore[arg-type]
    expires = expiry(now, settings.retention_days)
    outcome = "recorded"
    try:
        store = adapters.store_for(settings)
        with line.in_store():
            store.save_fallback(call, use.use_key, use.fallback, expires, deadline)
            if use.carried is not None:  # only if a write still fits the budget (the store checks)
                store.save_event(use.carried, use.fallback["received_at"], expires, None, deadline)
    except StoreUnavailable as exc:
        outcome = "not_recorded"
        logs.error("fallback_not_recorded", conversation_uuid=asked.conversation_uuid, error=str(exc))
    except Exception as exc:  # the caller must still hear the fallback answer, whatever broke
        outcome = "not_recorded"
        logs.exception("fallback_not_recorded", exc, conversation_uuid=asked.conversation_uuid)
    if use.carried_problem:
        logs.error(
            "fallback_event_invalid", conversation_uuid=asked.conversation_uuid, error=use.carried_problem
        )
    line.write(outcome, 200, (metrics.FALLBACK_USES,))
    return reply
