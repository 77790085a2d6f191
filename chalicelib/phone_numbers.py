"""Destination numbers: normalise untrusted input, then let phonenumbers judge it.

The `to` of an app-to-phone call is typed by an app user and reaches us
unchanged, so nothing here guesses: no default country, no letters-to-digits
(phonenumbers would turn 1-800-FLOWERS into digits), no national formats.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import phonenumbers

# Characters people put between digits. Anything else (letters, '*', '#', ',')
# makes the number invalid rather than being dropped silently.
_SEPARATORS = re.compile(r"[\s\-.()]")
MAX_INPUT_CHARS = 64  # far above any formatted E.164 number; bounds parser work
MAX_E164_DIGITS = 15  # ITU-T E.164


_NUMBER_TYPE_NAMES = {
    value: name for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()
}

# Why phonenumbers.parse refused the number, in our words: its own messages are not public API.
# For "+" and 1-15 digits only the first three occur (NOT_A_NUMBER: fewer than 3 digits).
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "starts with no country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short after the country code",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def _ascii_digits(text: str) -> bool:
    """At least one digit and nothing else: 0-9 only (str.isdigit() alone accepts '١٢٣')."""
    return text.isascii() and text.isdigit()


class InvalidNumber(ValueError):
    """The input is not a dialable international number; `str()` says why."""


class Destination(NamedTuple):
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
    text = raw if _ascii_digits(raw) else _SEPARATORS.sub("", raw)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not _ascii_digits(text):
        raise InvalidNumber("contains characters other than digits")
    if text.startswith("0"):
        raise InvalidNumber("no country code (national format is not accepted)")
    if len(text) > MAX_E164_DIGITS:
        raise InvalidNumber(f"more than {MAX_E164_DIGITS} digits")
    return text


def parse_destination(raw: str | None) -> Destination:
    """Normalise and validate; raise InvalidNumber for anything not dialable.

    Only phonenumbers' documented functions, so that a phonenumbers upgrade (new ranges every
    few weeks) is a pin bump. The digits go to parse with a '+' and no default region: the
    country code is the caller's, never a guess.
    """
    digits = normalise(raw)
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "unparsable")
        raise InvalidNumber(f"not a phone number ({why})") from exc
    # number_type is UNKNOWN for an invalid number (its documented contract), so a number with a
    # type is valid; only an UNKNOWN one needs is_valid_number to tell
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN and not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number in any numbering plan")
    region = phonenumbers.region_code_for_number(parsed)  # "001" for non-geographic codes
    # E.164 is the country code and the national significant number (format_number's E164), not
    # always the input: parse drops a national prefix dialled after the code (+44 0…)
    digits = f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
    return Destination(digits=digits, region=region, number_type=_NUMBER_TYPE_NAMES.get(kind, "UNKNOWN"))


def is_region_code(code: str) -> bool:
    """True for the ISO 3166 codes phonenumbers knows ('GB', not 'UK')."""
    return code in phonenumbers.SUPPORTED_REGIONS
