"""Destination numbers: normalise untrusted input, then let phonenumbers judge it.

The `to` of an app-to-phone call is typed by an app user and reaches us
unchanged, so nothing here guesses: no default country, no letters-to-digits
(phonenumbers would turn 1-800-FLOWERS into digits), no national formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

# Characters people put between digits. Anything else (letters, '*', '#', ',')
# makes the number invalid rather than being dropped silently.
_SEPARATORS = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts '١٢٣'
MAX_INPUT_CHARS = 64  # far above any formatted E.164 number; bounds parser work
MAX_E164_DIGITS = 15  # ITU-T E.164

# phonenumbers' region for non-geographic codes (+800, +882, +883…).
NON_GEOGRAPHIC_REGION = "001"

_NUMBER_TYPE_NAMES = {
    value: name for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()
}


class InvalidNumber(ValueError):
    """The input is not a dialable international number; `str()` says why."""


@dataclass(frozen=True)
class Destination:
    """A valid number: `digits` is E.164 without '+', as Vonage wants it."""

    digits: str
    region: str  # ISO 3166-1 alpha-2, or "001" for non-geographic codes
    number_type: str  # phonenumbers.PhoneNumberType name, e.g. "MOBILE"

    @property
    def e164(self) -> str:
        return "+" + self.digits


def normalise(raw: str | None) -> str:
    """Return the digits of an international number, or raise InvalidNumber.

    Accepts a leading '+' (also one that arrived as a space because the query
    string was not URL-encoded) or '00', and visual separators.
    """
    if raw is None or not raw.strip():
        raise InvalidNumber("no number given")
    if len(raw) > MAX_INPUT_CHARS:
        raise InvalidNumber(f"longer than {MAX_INPUT_CHARS} characters")
    text = _SEPARATORS.sub("", raw)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not _DIGITS.fullmatch(text):
        raise InvalidNumber("contains characters other than digits")
    if text.startswith("0"):
        raise InvalidNumber("no country code (national format is not accepted)")
    if len(text) > MAX_E164_DIGITS:
        raise InvalidNumber(f"more than {MAX_E164_DIGITS} digits")
    return text


def parse_destination(raw: str | None) -> Destination:
    """Normalise and validate; raise InvalidNumber for anything not dialable."""
    digits = normalise(raw)
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number in any numbering plan")
    region = phonenumbers.region_code_for_number(parsed) or NON_GEOGRAPHIC_REGION
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    number_type = _NUMBER_TYPE_NAMES.get(phonenumbers.number_type(parsed), "UNKNOWN")
    return Destination(digits=e164[1:], region=region, number_type=number_type)


def is_region_code(code: str) -> bool:
    """True for the ISO 3166 codes phonenumbers knows ('GB', not 'UK')."""
    return code in phonenumbers.SUPPORTED_REGIONS
