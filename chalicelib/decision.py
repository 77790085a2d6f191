"""What to answer when Vonage asks the answer URL: every rule, in order, and the NCCO. Pure logic.

The `to` of an app-to-phone call is typed by the app's user and reaches us
unchanged, so every rule runs before anything is connected (toll fraud, IRSF:
premium and revenue-share numbers, look-alike country codes). In order: the
request itself, the caller, the destination, then the rate limits. A limit is a
counter only the store can check atomically with the answer write, so a connect
decision carries its limits, each with the refusal to answer when it is reached
(built only then): the store writes one or the other.

Also here: what the caller hears when the callee's leg fails (failover) and the
fallback answer URL's NCCO.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache, partial
from typing import Any, NamedTuple

from chalicelib import ncco, prompts
from chalicelib.phone_numbers import Destination, InvalidNumber, normalise, parse_destination
from chalicelib.settings import Settings
from chalicelib.webhooks import AnswerRequest, clip, utc_iso

CONNECT = "connect"
REFUSE = "refuse"
# An answer's "direction", from the team's side: an app user calling out, or a phone calling in
# (a callback to the team's number, or a phone caller the outbound rules decide).
OUTBOUND = "outbound"
INBOUND = "inbound"


class RateLimit(NamedTuple):
    """A fixed-window call counter that a connected call increments while it is under `limit`."""

    user: str | None  # None: everyone's
    window: str  # HOUR, DAY (a user's) or MINUTE (everyone's)
    period: str  # which window: 2026-11-21T09, 2026-11-21, 2026-11-21T09:15
    limit: int
    expires_at: int  # epoch seconds (DynamoDB TTL), a while after the window closes
    reason: str  # of the refusal, when the counter is at its limit
    detail: str
    refuse: Callable[[str, str], Decision]  # that refusal, built only when reached

    @property
    def refusal(self) -> dict[str, Any]:
        """The answer instead, when the counter is at its limit."""
        return self.refuse(self.reason, self.detail).answer


class Decision(NamedTuple):
    """An answer to store and reply with; a connect also carries the limits to count it against."""

    answer: dict[str, Any]  # stored with the call, shown by GET /calls/{id}; "ncco" is the reply
    limits: tuple[RateLimit, ...] = ()
    destination: Destination | None = None  # where the call was headed, when the number was valid

    @property
    def connects(self) -> bool:
        return self.answer["decision"] == CONNECT


class Refused(Exception):
    """A rule refused the call; `reason` is one of prompts.REFUSALS."""

    def __init__(self, reason: str, detail: str, destination: Destination | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.destination = destination


def _answer(
    request: AnswerRequest | None,
    received_at: str | None,
    action: str,
    reason: str,
    detail: str,
    actions: list[ncco.Action],
    destination: Destination | None = None,
    caller_id: str | None = None,
) -> dict[str, Any]:
    """The answer as stored and shown: the request, where it was headed, and what we did."""
    return {
        "uuid": request.uuid if request else None,
        "caller": clip(request.caller) if request else None,
        "caller_is_number": request.caller_is_number if request else None,
        "direction": (INBOUND if request.caller_is_number else OUTBOUND) if request else None,
        "to": clip(request.to) if request else None,
        "destination": destination.e164 if destination else None,
        "region": destination.region if destination else None,
        "number_type": destination.number_type if destination else None,
        "decision": action,
        "reason": reason,
        "detail": detail,
        "caller_id": caller_id,
        "received_at": received_at,
        "ncco": actions,
    }


def refusal(
    reason: str,
    detail: str,
    settings: Settings | None,
    request: AnswerRequest | None = None,
    received_at: str | None = None,
    destination: Destination | None = None,
) -> Decision:
    """Speak the reason's short refusal and end the call: no connect, so nothing is spent.

    Without settings (they are broken, or could not be read) the built-in text is spoken.
    """
    if settings is None:
        action = ncco.talk(prompts.REFUSALS.get(reason, prompts.GENERIC))
    else:
        action = ncco.talk(settings.refusal_text(reason), language=settings.refusal_language(reason))
    actions = ncco.ncco(action)
    return Decision(
        _answer(request, received_at, REFUSE, reason, detail, actions, destination), (), destination
    )


# --- the rules ------------------------------------------------------------------------------------


def _short(text: str | None, limit: int = 40) -> str | None:
    return text if text is None or len(text) <= limit else text[:limit] + "…"


def check_caller(request: AnswerRequest, settings: Settings) -> str:
    """The caller to account the call to; Refused if they may not call."""
    if request.caller_is_number:
        # Someone dialled the Vonage number from a phone: connecting them on
        # would let anyone call anywhere at our expense.
        if not settings.allow_pstn_callers:
            raise Refused("pstn_caller_not_allowed", f"from={_short(request.caller)!r} is a phone number")
        return request.caller  # type: ignore[return-value]
    if not request.caller:
        raise Refused("unknown_caller", "no from_user (or user name in from)")
    if settings.allowed_users is not None and request.caller not in settings.allowed_users:
        raise Refused("user_not_allowed", f"{_short(request.caller)!r} is not in ALLOWED_USERS")
    return request.caller


def _matching(digits: str, prefixes: tuple[str, ...]) -> str | None:
    return next((prefix for prefix in prefixes if digits.startswith(prefix)), None)


def check_destination(to: str | None, settings: Settings) -> Destination:
    """The destination, if every rule allows it, in this order; else Refused."""
    try:
        dest = parse_destination(to)
    except InvalidNumber as exc:
        raise Refused("invalid_number", f"to={_short(to)!r}: {exc}") from exc
    if dest.region not in settings.allowed_countries:
        raise Refused(
            "country_not_allowed", f"{dest.e164} is in {dest.region}, not in ALLOWED_COUNTRIES", dest
        )
    if dest.number_type in settings.blocked_number_types and not _matching(
        dest.digits, settings.allowed_prefixes
    ):
        raise Refused(
            "number_type_blocked", f"{dest.e164} is {dest.number_type}, in BLOCKED_NUMBER_TYPES", dest
        )
    denied = _matching(dest.digits, settings.denied_prefixes)
    if denied:
        raise Refused("prefix_denied", f"{dest.e164} starts with {denied}, in DENIED_PREFIXES", dest)
    return dest


def _destination_or_none(to: str | None) -> Destination | None:
    """The parsed number for the audit, when it is one."""
    try:
        return parse_destination(to)
    except InvalidNumber:
        return None


def caller_id(user: str, dest: Destination, settings: Settings) -> str:
    """Per-user number, else a local number for the destination's region, else VONAGE_NUMBER."""
    return (
        settings.user_caller_ids.get(user) or settings.caller_ids.get(dest.region) or settings.vonage_number
    )


def rate_limits(
    user: str,
    now: datetime,
    settings: Settings,
    request: AnswerRequest | None = None,
    destination: Destination | None = None,
    received_at: str | None = None,
) -> tuple[RateLimit, ...]:
    """The counters a connected call increments: the user's hour and day, and everyone's minute.

    `received_at`: utc_iso(now), when the caller has it already.
    """
    (hour, hour_expiry), (day, day_expiry), (minute, minute_expiry) = _windows(now)
    (hourly, per_hour), (daily, per_day), (everyone, per_minute) = settings.derive(
        "rate limits", _limits, settings
    )
    if received_at is None:
        received_at = utc_iso(now)
    # one refusal builder for the three: `refusal` with this call's request, time and destination
    refuse = partial(_refusal_of, settings, request, received_at, destination)
    return (
        RateLimit(user, "HOUR", hour, hourly, hour_expiry, "user_rate_limited", per_hour, refuse),
        RateLimit(user, "DAY", day, daily, day_expiry, "user_rate_limited", per_day, refuse),
        RateLimit(None, "MINUTE", minute, everyone, minute_expiry, "global_rate_limited", per_minute, refuse),
    )


def _refusal_of(
    settings: Settings,
    request: AnswerRequest | None,
    received_at: str | None,
    destination: Destination | None,
    reason: str,
    detail: str,
) -> Decision:
    return refusal(reason, detail, settings, request, received_at, destination)


def _limits(settings: Settings) -> tuple[tuple[int, str], tuple[int, str], tuple[int, str]]:
    """Each window's limit and the detail of its refusal: the user's hour and day, everyone's minute."""
    hourly, daily, everyone = (
        settings.max_calls_per_user_per_hour,
        settings.max_calls_per_user_per_day,
        settings.max_calls_per_minute,
    )
    return (
        (hourly, f"{hourly} calls this hour (MAX_CALLS_PER_USER_PER_HOUR)"),
        (daily, f"{daily} calls today (MAX_CALLS_PER_USER_PER_DAY)"),
        (everyone, f"{everyone} calls this minute for everyone (MAX_CALLS_PER_MINUTE)"),
    )


Windows = tuple[tuple[str, int], tuple[str, int], tuple[str, int]]


def _windows(now: datetime) -> Windows:
    """The hour, day and minute `now` is in, each as (period, counter expiry): they change once a
    minute, so they are kept for the minute (a naive time is local time, which may change)."""
    if now.tzinfo is None:
        return _windows_of(now.replace(second=0, microsecond=0))
    return _windows_in(now.year, now.month, now.day, now.hour, now.minute, now.tzinfo)


@lru_cache(maxsize=4)
def _windows_in(year: int, month: int, day: int, hour: int, minute: int, tz: tzinfo) -> Windows:
    return _windows_of(datetime(year, month, day, hour, minute, tzinfo=tz))


def _windows_of(minute: datetime) -> Windows:
    """Each window's period, and when its counter expires: a while after the window closes."""
    hour = minute.replace(minute=0)
    day = hour.replace(hour=0)
    return (
        (f"{hour:%Y-%m-%dT%H}", int((hour + timedelta(hours=1, days=1)).timestamp())),
        (f"{day:%Y-%m-%d}", int((day + timedelta(days=3)).timestamp())),
        (f"{minute:%Y-%m-%dT%H:%M}", int((minute + timedelta(minutes=1, hours=1)).timestamp())),
    )


def _connect_ncco(number: str, caller: str, settings: Settings, event_url: str | None) -> list[ncco.Action]:
    """The greeting (if any), then the connect to `number`.

    Only the endpoint depends on the call: the rest is built and checked once for the settings,
    caller ID and eventUrl, and each call gets a copy with its own endpoint.
    """
    # `number` is a Destination's digits: E.164 already, which is all ncco.phone() would check
    endpoint = {"type": "phone", "number": number}
    *before, connect = settings.derive(
        ("connect", caller, event_url), _connect_template, caller, settings, event_url
    )
    actions = [dict(action) for action in before]
    actions.append(
        {name: list(value) if isinstance(value, list) else value for name, value in connect.items()}
        | {"endpoint": [endpoint]}
    )
    return actions


def _connect_template(caller: str, settings: Settings, event_url: str | None) -> tuple[ncco.Action, ...]:
    """The connect answer's NCCO with a stand-in number, for _connect_ncco to copy."""
    actions = []
    if settings.greeting_text:
        actions.append(ncco.talk(settings.greeting_text, language=settings.talk_language))
    actions.append(_connect(_ANY_NUMBER, caller, settings, event_url))
    return tuple(ncco.ncco(*actions))


_ANY_NUMBER = "10000000000"  # E.164 digits: a stand-in the endpoint of each call replaces


def _connect(number: str, caller: str, settings: Settings, event_url: str | None) -> ncco.Action:
    """Ring `number` for CONNECT_TIMEOUT, cut off after MAX_CALL_SECONDS; synchronous with an eventUrl."""
    return ncco.connect(
        ncco.phone(number),
        from_=caller,
        timeout=settings.connect_timeout,
        limit=settings.max_call_seconds,
        event_type="synchronous" if event_url else None,
        event_url=event_url,
    )


def decide(
    request: AnswerRequest, settings: Settings, now: datetime, event_url: str | None = None
) -> Decision:
    """Every rule, in order; a connect carries the rate limits the store counts it against.

    With `event_url` (this service's /event), the connect is synchronous, so
    Vonage asks /event what to do when the callee's leg fails (failover()).
    """
    received_at = utc_iso(now)
    if request.body_problem:  # nothing in it can be trusted, `to` included: no destination
        return refusal("invalid_request", request.body_problem, settings, request, received_at)
    try:
        if request.id_problem:
            raise Refused("invalid_request", request.id_problem)
        user = check_caller(request, settings)
        dest = check_destination(request.to, settings)
    except Refused as refused:
        # audit where the call was headed even when the caller was the problem
        destination = refused.destination or _destination_or_none(request.to)
        return refusal(refused.reason, refused.detail, settings, request, received_at, destination)
    chosen = caller_id(user, dest, settings)
    actions = _connect_ncco(dest.digits, chosen, settings, event_url)
    detail = f"{dest.e164} ({dest.region}, {dest.number_type})"
    answer = _answer(request, received_at, CONNECT, prompts.ALLOWED, detail, actions, dest, chosen)
    return Decision(answer, rate_limits(user, now, settings, request, dest, received_at), dest)


# --- phone calls to the team's numbers: callbacks --------------------------------------------------

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


VOICEMAIL_MARK = "voicemail"  # the failover mark's value on a callback's connect: /event?failover=voicemail
# The voicemail's record action reports to /event?recording=voicemail: only that record event is
# the call's voicemail (any other recording is stored as an event and nothing more).
RECORDING_MARK = "recording"


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
    a robocaller cannot keep ringing an app user. Nothing here reaches the phone network.

    With voicemail on and `base_url` (where Vonage reaches this service) the connect is
    synchronous, so /event can offer a voicemail when the app user does not take the call
    (voicemail()); with no user at all the caller is offered it straight away.
    """
    received_at = utc_iso(now)
    limits = _inbound_limits(caller, now, settings, request, received_at)
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
        answer = _answer(request, received_at, REFUSE, prompts.NO_USER, detail, ncco.ncco(*said))
        return Decision({**answer, "user": None}, limits)
    event_url = f"{base_url}/event?failover={VOICEMAIL_MARK}" if offer else None
    *before, connect = settings.derive(("callback", event_url), _callback_template, settings, event_url)
    actions = [dict(action) for action in before]
    # the template's stand-in caller and user replaced: `from` keeps its place among the keys
    actions.append(
        {name: list(value) if isinstance(value, list) else value for name, value in connect.items()}
        | {"from": caller, "endpoint": [ncco.app(user)]}
    )
    detail = f"to app user {user!r}"
    answer = _answer(request, received_at, CONNECT, reason, detail, actions, None, caller)
    return Decision({**answer, "user": user}, limits)


def _callback_template(settings: Settings, event_url: str | None) -> tuple[ncco.Action, ...]:
    """A callback's NCCO with a stand-in caller and user, checked once per settings and eventUrl
    (decide_inbound copies it for each call, as _connect_ncco does for outbound calls)."""
    actions = []
    if settings.callback_text:
        actions.append(ncco.talk(settings.callback_text, language=settings.talk_language))
    actions.append(
        ncco.connect(
            ncco.app("callgate"),
            from_=_ANY_NUMBER,
            timeout=settings.connect_timeout,
            limit=settings.max_call_seconds,
            event_type="synchronous" if event_url else None,
            event_url=event_url,
        )
    )
    return tuple(ncco.ncco(*actions))


def _inbound_limits(
    caller: str, now: datetime, settings: Settings, request: AnswerRequest, received_at: str
) -> tuple[RateLimit, ...]:
    """The caller number's hourly counter (shared with its calls under ALLOW_PSTN_CALLERS)."""
    (hour, hour_expiry), _, _ = _windows(now)
    limit = settings.max_inbound_calls_per_number_per_hour
    detail = f"{limit} calls from this number this hour (MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR)"
    refuse = partial(_refusal_of, settings, request, received_at, None)
    return (RateLimit(caller, "HOUR", hour, limit, hour_expiry, "inbound_rate_limited", detail, refuse),)


def _voicemail(settings: Settings, base_url: str) -> list[ncco.Action]:
    """VOICEMAIL_TEXT, then a recording of up to VOICEMAIL_MAX_SECONDS after a beep, ended by
    silence or '#'; Vonage posts the recording's event (its URL) to /event."""
    return [
        ncco.talk(settings.voicemail_text, language=settings.talk_language),
        ncco.record(
            beep_start=True,
            end_on_silence=3,
            end_on_key="#",
            timeout=settings.voicemail_max_seconds,
            event_url=f"{base_url}/event?{RECORDING_MARK}={VOICEMAIL_MARK}",
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


def failover(payload: dict[str, Any], settings: Settings) -> list[ncco.Action] | None:
    """What the caller hears when the callee's leg ends busy, unanswered, timeout, failed or
    rejected (the synchronous connect asks /event); None for any other event.

    FALLBACK_NUMBER set: connect to it (once: that connect is not synchronous, so its own
    failure ends the call). Otherwise a short message for the outcome.
    """
    status = payload.get("status")
    if not isinstance(status, str) or status not in prompts.FAILOVERS:
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
        return ncco.ncco(ncco.talk(prompts.FALLBACK_ANSWER))
    return ncco.ncco(ncco.talk(settings.fallback_answer_text, language=settings.talk_language))
