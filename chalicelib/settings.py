"""Stage settings, read from the environment when a request needs them.

Never read at import: `chalice.test.Client` sets a stage's variables only
while a request runs. Parsing is cached per distinct set of raw values, so a
request pays for a few `os.environ` look-ups, not for validation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from chalicelib import ncco
from chalicelib.numbers import InvalidNumber, is_region_code, parse_destination

DEFAULT_GREETING = "Please wait while we connect you."
DEFAULT_REFUSAL = "Sorry, this call cannot be connected."
DEFAULT_CONNECT_TIMEOUT = 20

# The variables this module reads; anything else in the environment is ignored.
NAMES = (
    "CALLS_TABLE",
    "VONAGE_NUMBER",
    "ALLOWED_COUNTRIES",
    "GREETING_TEXT",
    "REFUSAL_TEXT",
    "CONNECT_TIMEOUT",
)


class ConfigError(ValueError):
    """A stage setting is missing or wrong; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    calls_table: str
    vonage_number: str  # E.164 digits, the caller ID shown to the callee
    allowed_countries: frozenset[str]
    greeting_text: str  # "" means no greeting before connecting
    refusal_text: str
    connect_timeout: int


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the current stage; raises ConfigError naming the bad setting."""
    env = os.environ if environ is None else environ
    return _parse(tuple(env.get(name) for name in NAMES))


@lru_cache(maxsize=8)
def _parse(raw: tuple[str | None, ...]) -> Settings:
    values = dict(zip(NAMES, raw, strict=True))
    return Settings(
        calls_table=_required(values, "CALLS_TABLE"),
        vonage_number=_number(values, "VONAGE_NUMBER"),
        allowed_countries=_countries(values, "ALLOWED_COUNTRIES"),
        greeting_text=_speech(values, "GREETING_TEXT", DEFAULT_GREETING, allow_empty=True),
        refusal_text=_speech(values, "REFUSAL_TEXT", DEFAULT_REFUSAL, allow_empty=False),
        connect_timeout=_int(values, "CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, 3, 120),
    )


def _required(values: dict[str, str | None], name: str) -> str:
    value = (values[name] or "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _number(values: dict[str, str | None], name: str) -> str:
    value = _required(values, name)
    try:
        return parse_destination(value).digits
    except InvalidNumber as exc:
        raise ConfigError(f"{name}={value!r} is not a valid E.164 number: {exc}") from exc


def _countries(values: dict[str, str | None], name: str) -> frozenset[str]:
    codes = [c.strip().upper() for c in _required(values, name).split(",") if c.strip()]
    unknown = [c for c in codes if not is_region_code(c)]
    if unknown:
        hint = " (the code for the United Kingdom is GB)" if "UK" in unknown else ""
        raise ConfigError(f"{name}: {', '.join(unknown)} not ISO 3166 region codes{hint}")
    if not codes:
        raise ConfigError(f"{name} lists no countries")
    return frozenset(codes)


def _speech(values: dict[str, str | None], name: str, default: str, *, allow_empty: bool) -> str:
    value = values[name]
    if value is None:
        return default
    if not value.strip():
        if allow_empty:
            return ""
        raise ConfigError(f"{name} must not be empty")
    try:
        ncco.talk(value)
    except ncco.NccoError as exc:
        raise ConfigError(f"{name}: {exc.rule}") from exc
    return value


def _int(values: dict[str, str | None], name: str, default: int, low: int, high: int) -> int:
    value = values[name]
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a whole number") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name}={number} is outside {low}..{high}")
    return number
