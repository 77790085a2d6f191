"""What to do with a call, and what a call looks like afterwards. Pure logic."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib import ncco, policy, reasons
from chalicelib.numbers import Destination
from chalicelib.settings import Settings
from chalicelib.webhooks import AnswerRequest

CONNECT = "connect"
REFUSE = "refuse"

# Statuses that end a leg: a late `ringing` must not reopen it.
TERMINAL = frozenset({"completed", "busy", "cancelled", "unanswered", "rejected", "failed", "timeout"})
# Tie-break for events with equal timestamps: `started` and `ringing` are
# often created in the same millisecond and arrive either way round.
_PROGRESS = {"started": 0, "ringing": 1, "answered": 2, "disconnected": 3}
# Results of machine detection and transcription, not states of the leg.
_NOT_LEG_STATE = frozenset({"human", "machine", "transcribed"})
LEG_FIELDS = ("direction", "from", "to", "duration", "price", "rate", "start_time", "end_time")


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
            "caller": _clip(request.caller),
            "caller_is_number": request.caller_is_number,
            "to": _clip(request.to),
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


def _clip(text: str | None, limit: int = 100) -> str | None:
    """Keep the audit record small whatever a client sends (a DynamoDB item is <= 400 KiB)."""
    return text if text is None or len(text) <= limit else text[:limit] + "…"


def refusal(
    reason: str, detail: str, settings: Settings | None = None, destination: Destination | None = None
) -> Decision:
    """Speak the reason's short refusal and end the call: no connect, so nothing is spent."""
    if settings is None:  # the settings themselves are broken: built-in text
        action = ncco.talk(reasons.REFUSALS.get(reason, reasons.GENERIC))
    else:
        action = ncco.talk(settings.refusal_text(reason), language=settings.refusal_language(reason))
    return Decision(REFUSE, reason, detail, ncco.ncco(action), destination=destination)


def decide(request: AnswerRequest, settings: Settings) -> Decision:
    """Every rule but the rate limits, which need the store (see service.py)."""
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
    actions.append(
        ncco.connect(
            ncco.phone(dest.digits),
            from_=caller_id,
            timeout=settings.connect_timeout,
            limit=settings.max_call_seconds,
        )
    )
    return Decision(
        CONNECT,
        reasons.ALLOWED,
        f"{dest.e164} ({dest.region}, {dest.number_type})",
        ncco.ncco(*actions),
        destination=dest,
        caller_id=caller_id,
    )


def _rank(event: dict[str, Any], timestamp: str) -> tuple[bool, str, int]:
    """Later wins; any terminal status beats any non-terminal one."""
    status = event["status"]
    return (status in TERMINAL, timestamp, _PROGRESS.get(status, len(_PROGRESS)))


def _event_order(item: tuple[str, dict[str, Any]]) -> tuple[str, int, str]:
    """A total order, so any arrival order of the same events reads the same."""
    timestamp, payload = item
    status = payload.get("status")  # any JSON value: Vonage's payload is stored unchanged
    progress = _PROGRESS.get(status, len(_PROGRESS)) if isinstance(status, str) else len(_PROGRESS)
    return (timestamp, progress, json.dumps(payload, sort_keys=True, default=str))


def _new_leg(uuid: str) -> dict[str, Any]:
    leg: dict[str, Any] = {"uuid": uuid, "direction": None, "status": None}
    leg.update(dict.fromkeys(LEG_FIELDS))
    return leg


def call_view(
    conversation_uuid: str,
    answers: list[dict[str, Any]],
    events: Iterable[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """The call as a user reads it, from its stored answers and (timestamp, payload) events."""
    events = sorted(events, key=_event_order)
    status_events = [
        (timestamp, payload)
        for timestamp, payload in events
        if isinstance(payload.get("status"), str)
        and payload["status"] not in _NOT_LEG_STATE
        and isinstance(payload.get("uuid"), str)
    ]
    legs: dict[str, dict[str, Any]] = {}
    for _, payload in sorted(status_events, key=lambda e: _rank(e[1], e[0])):
        leg = legs.setdefault(payload["uuid"], _new_leg(payload["uuid"]))
        leg["status"] = payload["status"]
        for field in LEG_FIELDS:
            if payload.get(field) is not None:
                leg[field] = payload[field]
    first_seen: dict[str, str] = {}
    for timestamp, payload in status_events:
        first_seen.setdefault(payload["uuid"], timestamp)
    latest = max(status_events, key=lambda e: _rank(e[1], e[0]), default=None)
    return {
        "conversation_uuid": conversation_uuid,
        "status": latest[1]["status"] if latest else None,
        "answer": min(answers, key=lambda a: a["received_at"]) if answers else None,
        "answers": sorted(answers, key=lambda a: a["received_at"]),  # one per leg answered
        "legs": sorted(legs.values(), key=lambda leg: first_seen[leg["uuid"]]),
        "events": [payload for _, payload in events],
    }
