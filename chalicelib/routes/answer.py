"""GET|POST /answer: Vonage asks what to do with a call; the reply is an NCCO, always with 200.

read → settings → signature → decide → store once → reply. Every failure is a spoken refusal
(Vonage drops a call on a 500 and never retries it), but a request not provably Vonage's gets
401 and no NCCO. What the record says is what the caller heard: a connect is stored (with its
rate-limit counts, in one transaction) before it is answered, and a call the store cannot
vouch for is refused, not paid for.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from chalicelib import logs, metrics, prompts
from chalicelib.answer_request import AnswerRequest, read_answer
from chalicelib.callbacks import decide_inbound, inbound_caller
from chalicelib.decision import CONNECT, REFUSE, Decision, decide, limit_reached, refusal
from chalicelib.errors import StoreRejected, StoreUnavailable
from chalicelib.routes import outcomes
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.routes.settle import settle_later, settle_now
from chalicelib.routes.signed import check_signature
from chalicelib.settings import Settings
from chalicelib.storage.call_store import CallIdentity
from chalicelib.storage.timing import WORST_CALL_S, time_left
from chalicelib.text import compact_json
from chalicelib.times import expiry, utc_iso
from chalicelib.webhooks import FAILOVER_MARK, VOICEMAIL

ROUTE = Route("answer_decision", "/answer")
# the Reason dimension's values: each is a metric of its own, so any other is "other"
REASONS = frozenset({prompts.ALLOWED, *prompts.REFUSALS, *prompts.INBOUND_REASONS})


class AnswerText(NamedTuple):
    """An answer as JSON, encoded once for all that needs it: the store keeps `stored()`, the reply
    is `ncco`, and the request line carries `fields` (all of it but its uuid and NCCO)."""

    answer: dict[str, Any]
    fields: str  # JSON members, `"caller":"jane",…`
    ncco: str

    @classmethod
    def of(cls, answer: dict[str, Any]) -> AnswerText:
        fields = {name: value for name, value in answer.items() if name not in ("uuid", "ncco")}
        return cls(answer, compact_json(fields)[1:-1], compact_json(answer["ncco"]))

    def stored(self) -> str:
        """The whole answer, its uuid first and its NCCO last."""
        members = (f'"uuid":{compact_json(self.answer.get("uuid"))}', self.fields, f'"ncco":{self.ncco}')
        return "{" + ",".join(member for member in members if member) + "}"


def answer(adapters: Adapters, request: Request, base_url: str | None = None) -> Reply:
    """The NCCO for this call. `base_url`: where Vonage reaches this service, for the connect's
    eventUrl (PUBLIC_BASE_URL overrides it)."""
    line = RequestLine(ROUTE)
    asked = read_answer(request.query, request.body, request.content_type)  # never raises
    line.conversation_uuid = asked.conversation_uuid
    deadline = time.monotonic() + adapters.answer_budget_s
    now = adapters.clock()
    made: Decision | None = None
    text: AnswerText | None = None
    try:
        settings = line.settings = adapters.load_settings()
        check_signature(adapters, settings, request)
        made = _decide(adapters, line, asked, settings, now, base_url, deadline)
        text = AnswerText.of(made.answer)
        made, stored = _store(adapters, line, asked, made, text, settings, now, deadline)
    except Exception as exc:  # the caller must hear something, whatever broke
        reason = outcomes.refusal_reason(exc)
        if reason is None:  # not provably Vonage's
            line.uuid = asked.uuid
            return line.failed(exc)
        made, stored = _refused(adapters, line, exc, reason, asked, made, now, deadline, base_url)
    if text is None or text.answer is not made.answer:  # a retry's first answer, a refusal
        text = AnswerText.of(made.answer)
    _write(line, text, stored)
    return Reply(200, made.answer["ncco"], None, text.ncco)


def _decide(
    adapters: Adapters,
    line: RequestLine,
    asked: AnswerRequest,
    settings: Settings,
    now: datetime,
    base_url: str | None,
    deadline: float,
) -> Decision:
    """An app user's call out by the outbound rules; a phone call to the team's number is a
    callback, to the app user who last called that number."""
    base = settings.public_base_url or base_url
    if base is None:  # the connect cannot ask for failover: no synchronous eventUrl
        logs.warning("no_event_url", why="set PUBLIC_BASE_URL")
    caller = inbound_caller(asked, settings)
    if caller is None:
        failover_url = f"{base}/event?{FAILOVER_MARK}=1" if base else None
        voicemail_url = f"{base}/event?{FAILOVER_MARK}={VOICEMAIL}" if base else None
        return decide(asked, settings, now, failover_url, voicemail_url)
    last_user = _last_caller(adapters, line, asked, caller, settings, now, deadline)
    return decide_inbound(asked, caller, settings, now, last_user, base)


def _last_caller(
    adapters: Adapters,
    line: RequestLine,
    asked: AnswerRequest,
    caller: str,
    settings: Settings,
    now: datetime,
    deadline: float,
) -> str | None:
    """The app user who called `caller` within CALLBACK_DAYS. A read that fails still gets the
    call answered: by INBOUND_DEFAULT_USER, or INBOUND_TEXT (the answer's own write then
    reports the store)."""
    since = utc_iso(now - timedelta(days=settings.callback_days))
    try:
        with line.in_store():
            found = adapters.store_for(settings).last_caller(caller, since, deadline)
    except StoreUnavailable as exc:
        conversation_uuid = asked.conversation_uuid
        logs.warning(
            "callback_lookup_failed", route=ROUTE.path, conversation_uuid=conversation_uuid, error=str(exc)
        )
        return None
    return found.user if found is not None else None


def _store(
    adapters: Adapters,
    line: RequestLine,
    asked: AnswerRequest,
    made: Decision,
    text: AnswerText,
    settings: Settings,
    now: datetime,
    deadline: float,
) -> tuple[Decision, bool]:
    """Store the answer once, counted against its limits; what to answer, and whether it is stored.

    A retried request (the same leg) gets the first answer back, counted once. A limit that is
    reached cancels the whole write: its refusal is answered and logged, not stored.
    """
    leg_key = asked.leg_key
    if leg_key is None:  # no ids to file it under
        return made, False
    answer = made.answer
    # a callback is filed under the app user it went to: it shows in their history
    user = answer["user"] if "user" in answer else asked.caller
    call = CallIdentity(asked.conversation_uuid, user, answer["received_at"])  # type: ignore[arg-type]
    store = adapters.store_for(settings)
    expires = expiry(now, settings.retention_days)
    with line.in_store():
        saved = store.save_answer(
            call, leg_key, answer, expires, made.limits, deadline, encoded=text.stored()
        )
    if saved.reached is not None:
        return limit_reached(made, saved.reached, asked, settings), False
    return made._replace(answer=saved.answer), True


def _refused(
    adapters: Adapters,
    line: RequestLine,
    exc: Exception,
    reason: str,
    asked: AnswerRequest,
    made: Decision | None,
    now: datetime,
    deadline: float,
    base_url: str | None = None,
) -> tuple[Decision, bool]:
    """The refusal a failure becomes, and whether it is stored (only a corrected answer is).

    Fail closed: a call the policy store cannot vouch for is a call we do not pay for. A
    counted connect whose reply was lost may have been applied: corrected now while a call
    fits the budget, else settled by the next request for the leg (settle.settle_later).
    """
    if reason == outcomes.INTERNAL_ERROR:
        logs.exception("answer_failed", exc, conversation_uuid=asked.conversation_uuid)
        detail = "unexpected error (see the traceback logged above)"
    else:
        detail = str(exc)
    # misconfigured: the settings' own texts cannot be trusted, the built-in one is spoken
    settings = None if reason == "misconfigured" else line.settings
    destination = made.destination if made is not None else None
    refused = refusal(reason, detail, settings, asked, utc_iso(now), destination)
    if (
        made is None
        or not made.connects
        or settings is None
        or not isinstance(exc, StoreUnavailable)
        or isinstance(exc, StoreRejected)
        or not exc.maybe_applied
        or asked.leg_key is None
    ):
        return refused, False
    # the counted connect was sent and may have landed: the record must say the refusal
    if time_left(deadline) > WORST_CALL_S and settle_now(
        adapters, line, asked, made, refused, settings, now, deadline
    ):
        return refused, True
    return settle_later(line, asked, made, refused, settings.public_base_url or base_url), False


def _write(line: RequestLine, text: AnswerText, stored: bool) -> None:
    """The answer's request line: its fields but the NCCO, for log search, and the Answers metric
    by Decision and Reason. `stored` false marks an answer the call record lacks (Lambda cannot
    write after it has replied, so none is written later)."""
    answer = text.answer
    made, reason = answer.get("decision"), answer.get("reason")
    # each dimension value is a metric of its own: a stored answer that says otherwise is "other"
    made = made if made in (CONNECT, REFUSE) else "other"
    reason = reason if isinstance(reason, str) and reason in REASONS else "other"
    line.uuid = answer.get("uuid")
    dimensions = ((metrics.DECISION, made), (metrics.REASON, reason))
    line.write(made, 200, (metrics.ANSWERS,), dimensions, {"stored": stored}, text.fields)
