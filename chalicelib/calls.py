"""What to do with a call when Vonage asks the answer URL. Pure logic (policy.py holds the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import ncco, policy, reasons
from chalicelib.numbers import Destination
from chalicelib.settings import Settings
from chalicelib.webhooks import AnswerRequest, clip

CONNECT = "connect"
REFUSE = "refuse"


@dataclass(frozen=True)
class Decision:
    action: str  # CONNECT or REFUSE
    reason: str  # reasons.ALLOWED, or why the call was refused (reasons.REFUSALS)
    detail: str  # for people reading the record
    ncco: list[ncco.Action]
    destination: Destination | None = None
    caller_id: str | None = None

    def record(self, request: AnswerRequest, received_at: str) -> dict[str, Any]:
        """The audit record stored with the call and shown by GET /calls/{id}."""
        dest = self.destination
        return {
            "uuid": request.uuid,
            "caller": clip(request.caller),
            "caller_is_number": request.caller_is_number,
            "to": clip(request.to),
            "destination": dest.e164 if dest else None,
            "region": dest.region if dest else None,
            "number_type": dest.number_type if dest else None,
            "decision": self.action,
            "reason": self.reason,
            "detail": self.detail,
            "caller_id": self.caller_id,
            "received_at": received_at,
            "ncco": self.ncco,
        }


def refusal(
    reason: str, detail: str, settings: Settings | None = None, destination: Destination | None = None
) -> Decision:
    """Speak the reason's short refusal and end the call: no connect, so nothing is spent."""
    if settings is None:  # the settings themselves are broken: built-in text
        action = ncco.talk(reasons.REFUSALS.get(reason, reasons.GENERIC))
    else:
        action = ncco.talk(settings.refusal_text(reason), language=settings.refusal_language(reason))
    return Decision(REFUSE, reason, detail, ncco.ncco(action), destination=destination)


def _connect(number: str, caller_id: str, settings: Settings, event_url: str | None) -> ncco.Action:
    """Ring `number` for CONNECT_TIMEOUT, cut off after MAX_CALL_SECONDS; synchronous with an eventUrl."""
    return ncco.connect(
        ncco.phone(number),
        from_=caller_id,
        timeout=settings.connect_timeout,
        limit=settings.max_call_seconds,
        event_type="synchronous" if event_url else None,
        event_url=event_url,
    )


def decide(request: AnswerRequest, settings: Settings, event_url: str | None = None) -> Decision:
    """Every rule but the rate limits, which need the store (see service.py).

    With `event_url` (this service's /event), the connect is synchronous, so
    Vonage asks /event what to do when the callee's leg fails (failover()).
    """
    try:
        if request.id_problem:
            raise policy.Refused("invalid_request", request.id_problem)
        user = policy.check_caller(request, settings)
        dest = policy.check_destination(request.to, settings)
    except policy.Refused as refused:
        # audit where the call was headed even when the caller was the problem
        destination = refused.destination or policy.destination_or_none(request.to)
        return refusal(refused.reason, refused.detail, settings, destination)
    caller_id = policy.caller_id(user, dest, settings)
    actions = []
    if settings.greeting_text:
        actions.append(ncco.talk(settings.greeting_text, language=settings.talk_language))
    actions.append(_connect(dest.digits, caller_id, settings, event_url))
    return Decision(
        CONNECT,
        reasons.ALLOWED,
        f"{dest.e164} ({dest.region}, {dest.number_type})",
        ncco.ncco(*actions),
        destination=dest,
        caller_id=caller_id,
    )


def failover(payload: dict[str, Any], settings: Settings) -> list[ncco.Action] | None:
    """What the caller hears when the callee's leg ends busy, unanswered, timeout, failed or
    rejected (the synchronous connect asks /event); None for any other event.

    FALLBACK_NUMBER set: connect to it (once: that connect is not synchronous, so its own
    failure ends the call). Otherwise a short message for the outcome.
    """
    status = payload.get("status")
    if not isinstance(status, str) or status not in reasons.FAILOVERS:
        return None
    if payload.get("direction") == "inbound":  # the caller's own leg: nothing to fail over to
        return None
    if settings.fallback_number:
        actions = []
        if settings.fallback_connect_text:
            actions.append(ncco.talk(settings.fallback_connect_text, language=settings.talk_language))
        actions.append(_connect(settings.fallback_number, settings.vonage_number, settings, None))
        return ncco.ncco(*actions)
    return ncco.ncco(ncco.talk(settings.failover_texts[status], language=settings.talk_language))


def fallback_answer(settings: Settings | None) -> list[ncco.Action]:
    """The fallback answer URL's NCCO: spoken, safe, connects nothing."""
    if settings is None:
        return ncco.ncco(ncco.talk(reasons.FALLBACK_ANSWER))
    return ncco.ncco(ncco.talk(settings.fallback_answer_text, language=settings.talk_language))
