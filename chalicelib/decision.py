"""What to answer when an app user calls out: every rule, in order, and the NCCO. Pure logic.

The `to` of an app-to-phone call is typed by the app's user and reaches us
unchanged, so every rule runs before anything is connected (toll fraud, IRSF:
premium and revenue-share numbers, look-alike country codes). In order: the
request itself, the caller, the destination, then the rate limits. A limit is a
counter only the store can check atomically with the answer write, so a connect
decision carries its limits, each with the refusal to answer when it is reached:
the store writes one or the other.

Also here: what the caller hears when the callee's leg fails (failover) and the
fallback answer URL's NCCO. Phone calls to the team's numbers are callbacks.py's.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple

from chalicelib import ncco, prompts
from chalicelib.answer_request import AnswerRequest
from chalicelib.phone_numbers import Destination, InvalidNumber, parse_destination
from chalicelib.settings import Settings
from chalicelib.text import clip
from chalicelib.times import utc_iso
from chalicelib.user_names import valid_user_name

CONNECT = "connect"
REFUSE = "refuse"
# An answer's "direction", from the team's side: an app user calling out, or a phone calling in
# (a callback to the team's number, or a phone caller the outbound rules decide).
OUTBOUND = "outbound"
INBOUND = "inbound"
INTERNAL = "internal"  # an app user calling another app user by name: no phone network at all


class RateLimit(NamedTuple):
    """A fixed-window call counter that a connected call increments while it is under `limit`."""

    user: str | None  # None: everyone's
    window: str  # HOUR, DAY (a user's) or MINUTE (everyone's)
    period: str  # which window: 2026-11-21T09, 2026-11-21, 2026-11-21T09:15
    limit: int
    expires_at: int  # epoch seconds (DynamoDB TTL), a while after the window closes
    reason: str  # of the refusal answered instead, when the counter is at its limit
    counted: str  # what the limit counts, and its setting: "calls this hour (MAX_…)"

    @property
    def detail(self) -> str:
        """The refusal's detail, when the counter is at its limit."""
        return f"{self.limit} {self.counted}"


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


def answer_record(
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
        "direction": _direction(request),
        "to": clip(request.to) if request else None,
        "destination": destination.e164 if destination else None,
        "region": destination.region if destination else None,
        "number_type": destination.number_type if destination else None,
        "decision": action,
        "reason": reason,
        "detail": detail,
        "caller_id": caller_id,
        "endpoint_type": request.endpoint_type if request else None,
        "region_url": request.region_url if request else None,
        "custom_data": request.custom_data if request else None,
        "received_at": received_at,
        "ncco": actions,
    }


def _direction(request: AnswerRequest | None) -> str | None:
    """From the team's side: a phone calling in, an app user calling a user by name, or out."""
    if request is None:
        return None
    if request.caller_is_number:
        return INBOUND
    return INTERNAL if request.callee is not None else OUTBOUND


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
    answer = answer_record(request, received_at, REFUSE, reason, detail, ncco.ncco(action), destination)
    return Decision(answer, (), destination)


# --- the rules ------------------------------------------------------------------------------------


def check_caller(request: AnswerRequest, settings: Settings) -> str:
    """The caller to account the call to; Refused if they may not call."""
    if request.caller_is_number:
        # Someone dialled the Vonage number from a phone: connecting them on
        # would let anyone call anywhere at our expense.
        if not settings.allow_pstn_callers:
            raise Refused("pstn_caller_not_allowed", f"from={clip(request.caller, 40)!r} is a phone number")
        return request.caller  # type: ignore[return-value]
    if not request.caller:
        raise Refused("unknown_caller", "no from_user (or user name in from)")
    if not valid_user_name(request.caller):  # `jane` + U+200B is not jane, nor anyone else
        raise Refused("unknown_caller", f"{clip(request.caller, 40)!r} is not a valid user name")
    if settings.allowed_users is not None and request.caller not in settings.allowed_users:
        raise Refused("user_not_allowed", f"{clip(request.caller, 40)!r} is not in ALLOWED_USERS")
    return request.caller


def _matching(digits: str, prefixes: tuple[str, ...]) -> str | None:
    return next((prefix for prefix in prefixes if digits.startswith(prefix)), None)


def check_destination(to: str | None, settings: Settings) -> Destination:
    """The destination, if every rule allows it, in this order; else Refused."""
    try:
        dest = parse_destination(to)
    except InvalidNumber as exc:
        raise Refused("invalid_number", f"to={clip(to, 40)!r}: {exc}") from exc
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


Windows = tuple[tuple[str, int], tuple[str, int], tuple[str, int]]


def windows(now: datetime) -> Windows:
    """The hour, day and minute `now` is in, each as (period, counter expiry): a counter lives a
    while after its window closes (a naive time is local time, as datetime takes it)."""
    return _windows_of(now.year, now.month, now.day, now.hour, now.minute, now.tzinfo)


@lru_cache(maxsize=4)  # they change once a minute
def _windows_of(year: int, month: int, day_of: int, hour_of: int, at: int, tz: tzinfo | None) -> Windows:
    minute = datetime(year, month, day_of, hour_of, at, tzinfo=tz)
    hour = minute.replace(minute=0)
    day = hour.replace(hour=0)
    return (
        (f"{hour:%Y-%m-%dT%H}", int((hour + timedelta(hours=1, days=1)).timestamp())),
        (f"{day:%Y-%m-%d}", int((day + timedelta(days=3)).timestamp())),
        (f"{minute:%Y-%m-%dT%H:%M}", int((minute + timedelta(minutes=1, hours=1)).timestamp())),
    )


def rate_limits(user: str, now: datetime, settings: Settings) -> tuple[RateLimit, ...]:
    """The counters a connected call increments: the user's hour and day, and everyone's minute."""
    (hour, hour_expiry), (day, day_expiry), (minute, minute_expiry) = windows(now)
    hourly, daily = settings.max_calls_per_user_per_hour, settings.max_calls_per_user_per_day
    everyone = settings.max_calls_per_minute
    return (
        RateLimit(user, "HOUR", hour, hourly, hour_expiry, "user_rate_limited",
                  "calls this hour (MAX_CALLS_PER_USER_PER_HOUR)"),
        RateLimit(user, "DAY", day, daily, day_expiry, "user_rate_limited",
                  "calls today (MAX_CALLS_PER_USER_PER_DAY)"),
        RateLimit(None, "MINUTE", minute, everyone, minute_expiry, "global_rate_limited",
                  "calls this minute for everyone (MAX_CALLS_PER_MINUTE)"),
    )  # fmt: skip


def limit_reached(
    decision: Decision, limit: RateLimit, request: AnswerRequest, settings: Settings
) -> Decision:
    """The refusal answered instead of `decision`'s connect when the store found `limit` reached."""
    received_at = decision.answer["received_at"]
    return refusal(limit.reason, limit.detail, settings, request, received_at, decision.destination)


def connect_ncco(
    settings: Settings, endpoint: ncco.Endpoint, caller: str | None, event_url: str | None, greeting: str
) -> list[ncco.Action]:
    """`greeting` (if any), then the connect to `endpoint` (built by ncco.phone() or app(), or
    known to be what they build): rung for CONNECT_TIMEOUT, cut off after
    MAX_CALL_SECONDS, synchronous with an eventUrl (Vonage then asks it what to do on failure).

    Only the endpoint changes from call to call: the rest is built and checked once for what it
    depends on (_connect_template), and each call gets its own copy (of every dict and list).
    """
    *before, connect = _connect_template(
        greeting,
        settings.talk_language,
        settings.connect_timeout,
        settings.max_call_seconds,
        caller,
        event_url,
    )
    actions = [dict(action) for action in before]
    copy = {name: list(value) if isinstance(value, list) else value for name, value in connect.items()}
    copy["endpoint"] = [dict(endpoint)]  # a plain copy
    actions.append(copy)
    return actions


@lru_cache(maxsize=256)  # one per caller ID and eventUrl (a callback's: per caller's number)
def _connect_template(
    greeting: str, language: str | None, timeout: int, limit: int, caller: str | None, event_url: str | None
) -> tuple[ncco.Action, ...]:
    """connect_ncco's actions with a stand-in endpoint that each call replaces; never changed."""
    actions = [ncco.talk(greeting, language=language)] if greeting else []
    actions.append(
        ncco.connect(
            ncco.app("stand-in"),
            from_=caller,
            timeout=timeout,
            limit=limit,
            event_type="synchronous" if event_url else None,
            event_url=event_url,
        )
    )
    return tuple(ncco.ncco(*actions))


def decide(
    request: AnswerRequest,
    settings: Settings,
    now: datetime,
    event_url: str | None = None,
    voicemail_url: str | None = None,
) -> Decision:
    """Every rule, in order; a connect carries the rate limits the store counts it against.

    With `event_url` (this service's /event, marked for a failover), the connect to a number is
    synchronous, so Vonage asks /event what to do when the callee's leg fails (failover()); a
    call to an app user is, with `voicemail_url` (/event marked for a voicemail).
    """
    received_at = utc_iso(now)
    if request.body_problem:  # nothing in it can be trusted, `to` included: no destination
        return refusal("invalid_request", request.body_problem, settings, request, received_at)
    try:
        if request.id_problem:
            raise Refused("invalid_request", request.id_problem)
        user = check_caller(request, settings)
        if request.callee is not None:
            return _app_to_app(request, user, request.callee, settings, now, voicemail_url)
        dest = check_destination(request.to, settings)
    except Refused as refused:
        # audit where the call was headed even when the caller was the problem
        destination = refused.destination or _destination_or_none(request.to)
        return refusal(refused.reason, refused.detail, settings, request, received_at, destination)
    chosen = caller_id(user, dest, settings)
    # a Destination's digits are E.164 already (phonenumbers formatted them), all ncco.phone checks
    endpoint = {"type": "phone", "number": dest.digits}
    actions = connect_ncco(settings, endpoint, chosen, event_url, settings.greeting_text)
    detail = f"{dest.e164} ({dest.region}, {dest.number_type})"
    answer = answer_record(request, received_at, CONNECT, prompts.ALLOWED, detail, actions, dest, chosen)
    return Decision(answer, rate_limits(user, now, settings), dest)


def _app_to_app(
    request: AnswerRequest,
    user: str,
    callee: str,
    settings: Settings,
    now: datetime,
    voicemail_url: str | None,
) -> Decision:
    """Ring `callee`'s app (an `app` endpoint: no phone number is ever dialled, no caller ID
    spent), counted against the caller's limits like any call. The connect has no `from`: "if the
    caller is an app user, this option should be omitted" (Vonage NCCO reference, connect). With
    voicemail on, an unanswered callee's caller is offered their voicemail (callbacks.voicemail)."""
    received_at = utc_iso(now)
    if not settings.app_to_app:
        raise Refused("app_to_app_off", "APP_TO_APP is off")
    if callee == user:
        raise Refused("self_call", f"{clip(user, 40)!r} called themselves")
    if settings.allowed_users is not None and callee not in settings.allowed_users:
        raise Refused("callee_not_allowed", f"{clip(callee, 40)!r} is not in ALLOWED_USERS")
    # synchronous: Vonage asks /event (marked for a voicemail) what to do when nobody answers
    offer = voicemail_url if settings.voicemail else None
    actions = connect_ncco(settings, ncco.app(callee), None, offer, settings.greeting_text)
    detail = f"to app user {clip(callee, 40)!r}"
    answer = answer_record(request, received_at, CONNECT, prompts.ALLOWED, detail, actions)
    return Decision({**answer, "callee": callee}, rate_limits(user, now, settings))


# --- when the callee's leg fails, and when the answer URL failed ----------------------------------


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
        return connect_ncco(
            settings,
            ncco.phone(settings.fallback_number),
            settings.vonage_number,
            None,
            settings.fallback_connect_text,
        )
    return ncco.ncco(ncco.talk(settings.failover_texts[status], language=settings.talk_language))


def fallback_answer(settings: Settings | None) -> list[ncco.Action]:
    """The fallback answer URL's NCCO: spoken, safe, connects nothing."""
    if settings is None:
        return ncco.ncco(ncco.talk(prompts.FALLBACK_ANSWER))
    return ncco.ncco(ncco.talk(settings.fallback_answer_text, language=settings.talk_language))
