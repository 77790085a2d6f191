"""Phone calls to the team's numbers: a callback rings the app user who last called that number,
and a voicemail is offered when nobody takes it. Pure logic; the store finds the last caller.

Nothing here reaches the phone network: every connect is to an app user (`app` endpoint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import ncco, prompts
from chalicelib.answer_request import AnswerRequest
from chalicelib.decision import CONNECT, REFUSE, Decision, RateLimit, answer_record, connect_ncco, windows
from chalicelib.phone_numbers import InvalidNumber, normalise
from chalicelib.settings import Settings
from chalicelib.times import utc_iso
from chalicelib.webhooks import FAILOVER_MARK, RECORDING_MARK, VOICEMAIL


def inbound_caller(request: AnswerRequest, settings: Settings) -> str | None:
    """The caller's number (E.164 digits) when this is a phone call to one of the team's numbers
    (VONAGE_NUMBER, CALLER_IDS, USER_CALLER_IDS): a callback, routed to an app user. None for
    anything else, which the outbound rules decide (a withheld number included)."""
    if not request.caller_is_number or request.problem:
        return None
    try:
        to, caller = normalise(request.to), normalise(request.caller)
    except InvalidNumber:
        return None
    return caller if to in settings.team_numbers else None


def decide_inbound(
    request: AnswerRequest,
    caller: str,
    settings: Settings,
    now: datetime,
    last_user: str | None,
    base_url: str | None = None,
) -> Decision:
    """Connect a callback to the app user who last called `caller` (`last_user`, found by the
    store within CALLBACK_DAYS), else to INBOUND_DEFAULT_USER, else speak INBOUND_TEXT. Each
    counts against the caller number's hourly limit (MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR), so
    a robocaller cannot keep ringing an app user.

    With voicemail on and `base_url` (where Vonage reaches this service) the connect is
    synchronous, so /event can offer a voicemail when the app user does not take the call
    (voicemail()); with no user at all the caller is offered it straight away.
    """
    received_at = utc_iso(now)
    limits = (_inbound_limit(caller, now, settings),)
    offer = settings.voicemail and base_url is not None
    if last_user:
        user, reason = last_user, prompts.CALLBACK_USER
    elif settings.inbound_default_user:
        user, reason = settings.inbound_default_user, prompts.DEFAULT_USER
    else:
        said = [ncco.talk(settings.inbound_text, language=settings.talk_language)]
        if offer:
            said += _voicemail(settings, base_url)  # type: ignore[arg-type]
        detail = "no app user called this number within CALLBACK_DAYS, and no INBOUND_DEFAULT_USER"
        answer = answer_record(request, received_at, REFUSE, prompts.NO_USER, detail, ncco.ncco(*said))
        return Decision({**answer, "user": None}, limits)
    event_url = f"{base_url}/event?{FAILOVER_MARK}={VOICEMAIL}" if offer else None
    # No `from`: Vonage's connect `from` "must be one of your Vonage virtual numbers, another value
    # will result in the caller ID being unknown" (NCCO reference, connect action), and its
    # phone-to-app tutorial (developer.vonage.com/en/tutorials/vg-phone-to-app) and reference
    # backend (Vonage-Community/reference-client_sdk-ios-android-js-node-deno-usecases,
    # webhook-voice-answer) connect the app user without one: the app's call invite shows the caller.
    actions = connect_ncco(settings, ncco.app(user), None, event_url, settings.callback_text)
    detail = f"to app user {user!r}"
    answer = answer_record(request, received_at, CONNECT, reason, detail, actions)
    return Decision({**answer, "user": user}, limits)


def _inbound_limit(caller: str, now: datetime, settings: Settings) -> RateLimit:
    """The caller number's hourly counter (shared with its calls under ALLOW_PSTN_CALLERS)."""
    (hour, hour_expiry), _, _ = windows(now)
    limit = settings.max_inbound_calls_per_number_per_hour
    counted = "calls from this number this hour (MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR)"
    return RateLimit(caller, "HOUR", hour, limit, hour_expiry, "inbound_rate_limited", counted)


def _voicemail(settings: Settings, base_url: str) -> list[ncco.Action]:
    """VOICEMAIL_TEXT, then a recording of up to VOICEMAIL_MAX_SECONDS after a beep, ended by
    silence or '#'; Vonage posts the recording's event (its URL) to /event?recording=voicemail."""
    return [
        ncco.talk(settings.voicemail_text, language=settings.talk_language),
        ncco.record(
            beep_start=True,
            end_on_silence=3,
            end_on_key="#",
            timeout=settings.voicemail_max_seconds,
            event_url=f"{base_url}/event?{RECORDING_MARK}={VOICEMAIL}",
        ),
    ]


def voicemail(payload: dict[str, Any], settings: Settings, base_url: str | None) -> list[ncco.Action] | None:
    """What a callback's caller hears when the app user's leg ends busy, unanswered, timeout,
    failed or rejected: the offer of a voicemail. None for any other event, with voicemail off,
    or without a URL for the recording's event (the call then ends)."""
    status = payload.get("status")
    if not isinstance(status, str) or status not in prompts.FAILOVERS:
        return None
    if payload.get("direction") == "inbound" or not settings.voicemail or base_url is None:
        return None
    return ncco.ncco(*_voicemail(settings, base_url))
