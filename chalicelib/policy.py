"""Call policy: who may call, where to, with which caller ID, and how often. Pure logic.

The `to` of an app-to-phone call is typed by the app's user, so every rule
here runs before anything is connected (toll fraud, IRSF: premium and
revenue-share numbers, look-alike country codes). Rate limits are counters the
store updates atomically together with the answer record; this module only
says which counters, with which limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.numbers import Destination, InvalidNumber, parse_destination
from chalicelib.settings import Settings
from chalicelib.webhooks import AnswerRequest


class Refused(Exception):
    """A rule refused the call; `reason` is one of reasons.REFUSALS."""

    def __init__(self, reason: str, detail: str, destination: Destination | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.destination = destination


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


def destination_or_none(to: str | None) -> Destination | None:
    """The parsed number for the audit record, when it is one."""
    try:
        return parse_destination(to)
    except InvalidNumber:
        return None


def caller_id(user: str, dest: Destination, settings: Settings) -> str:
    """Per-user number, else a local number for the destination's region, else VONAGE_NUMBER."""
    return (
        settings.user_caller_ids.get(user) or settings.caller_ids.get(dest.region) or settings.vonage_number
    )


@dataclass(frozen=True)
class Counter:
    """A fixed-window call counter: one DynamoDB item, incremented only while under `limit`."""

    pk: str
    sk: str
    limit: int
    expires_at: int  # epoch seconds (DynamoDB TTL), a while after the window closes
    reason: str  # the refusal when the limit is reached
    detail: str


def counters(user: str, now: datetime, settings: Settings) -> tuple[Counter, ...]:
    """The counters a connected call increments: the user's hour and day, and everyone's minute."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    minute = now.replace(second=0, microsecond=0)

    def expiry(window_end: datetime, keep: timedelta) -> int:
        return int((window_end + keep).timestamp())

    user_key = f"RATE#USER#{user}"
    return (
        Counter(
            user_key,
            f"HOUR#{hour:%Y-%m-%dT%H}",
            settings.max_calls_per_user_per_hour,
            expiry(hour + timedelta(hours=1), timedelta(days=1)),
            "user_rate_limited",
            f"{settings.max_calls_per_user_per_hour} calls this hour (MAX_CALLS_PER_USER_PER_HOUR)",
        ),
        Counter(
            user_key,
            f"DAY#{day:%Y-%m-%d}",
            settings.max_calls_per_user_per_day,
            expiry(day + timedelta(days=1), timedelta(days=2)),
            "user_rate_limited",
            f"{settings.max_calls_per_user_per_day} calls today (MAX_CALLS_PER_USER_PER_DAY)",
        ),
        Counter(
            "RATE#GLOBAL",
            f"MINUTE#{minute:%Y-%m-%dT%H:%M}",
            settings.max_calls_per_minute,
            expiry(minute + timedelta(minutes=1), timedelta(hours=1)),
            "global_rate_limited",
            f"{settings.max_calls_per_minute} calls this minute for everyone (MAX_CALLS_PER_MINUTE)",
        ),
    )
