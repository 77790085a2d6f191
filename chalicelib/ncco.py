"""NCCO builder: plain dicts with Vonage's wire names, validated when built.

Every action is a function returning a `dict`; `ncco()` checks the rules that
span actions. A mistake raises NccoError naming the action, field and rule, at
build time, because Vonage rejects a bad NCCO by dropping the call.
Only optional fields that were given are emitted, in a fixed order.
"""

from __future__ import annotations

import re
from typing import Any

Action = dict[str, Any]

TALK_MAX_CHARS = 1500  # text outside SSML markup (NCCO reference, talk)
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")  # no '+', 7-15 digits
_SSML_TAG = re.compile(r"<[^>]*>")


class NccoError(ValueError):
    """A rule of the NCCO reference was broken."""

    def __init__(self, action: str, field: str, rule: str) -> None:
        super().__init__(f"{action}.{field}: {rule}")
        self.action = action
        self.field = field
        self.rule = rule


def _number_in(action: str, field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NccoError(action, field, "must be a number")
    if not low <= value <= high:
        raise NccoError(action, field, f"must be between {low} and {high}")


def _e164(action: str, field: str, value: str) -> None:
    if not isinstance(value, str) or not _E164_DIGITS.fullmatch(value):
        raise NccoError(action, field, "must be E.164 digits without '+' (7-15 digits)")


def talk(text: str, *, language: str | None = None, barge_in: bool | None = None) -> Action:
    if not isinstance(text, str) or not text.strip():
        raise NccoError("talk", "text", "is required")
    if len(_SSML_TAG.sub("", text)) > TALK_MAX_CHARS:
        raise NccoError("talk", "text", f"at most {TALK_MAX_CHARS} characters outside SSML")
    action: Action = {"action": "talk", "text": text}
    if barge_in is not None:
        action["bargeIn"] = barge_in
    if language is not None:
        action["language"] = language
    return action


def phone(number: str) -> dict[str, Any]:
    _e164("phone", "number", number)
    return {"type": "phone", "number": number}


def connect(
    endpoint: dict[str, Any],
    *,
    from_: str | None = None,
    timeout: int | None = None,
    limit: int | None = None,
) -> Action:
    if not isinstance(endpoint, dict) or "type" not in endpoint:
        raise NccoError("connect", "endpoint", "must be one endpoint built by phone()")
    action: Action = {"action": "connect"}
    if timeout is not None:
        _number_in("connect", "timeout", timeout, 1, 7200)
        action["timeout"] = timeout
    if limit is not None:
        _number_in("connect", "limit", limit, 1, 7200)
        action["limit"] = limit
    if from_ is not None:
        _e164("connect", "from", from_)
        action["from"] = from_
    action["endpoint"] = [endpoint]
    return action


def ncco(*actions: Action) -> list[Action]:
    """Assemble actions into an NCCO, checking rules that span actions."""
    if not actions:
        raise NccoError("ncco", "actions", "must contain at least one action")
    return list(actions)
