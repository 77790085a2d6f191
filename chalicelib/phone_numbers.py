"""Destination numbers: normalise untrusted input, then let phonenumbers judge it.

The `to` of an app-to-phone call is typed by an app user and reaches us
unchanged, so nothing here guesses: no default country, no letters-to-digits
(phonenumbers would turn 1-800-FLOWERS into digits), no national formats.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import (  # the steps parse, number_type take on metadata
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _test_number_length,
)

# Characters people put between digits. Anything else (letters, '*', '#', ',')
# makes the number invalid rather than being dropped silently.
_SEPARATORS = re.compile(r"[\s\-.()]")
MAX_INPUT_CHARS = 64  # far above any formatted E.164 number; bounds parser work
MAX_E164_DIGITS = 15  # ITU-T E.164

# phonenumbers' region for non-geographic codes (+800, +882, +883…).
NON_GEOGRAPHIC_REGION = "001"

_NUMBER_TYPE_NAMES = {
    value: name for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()
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
    """Normalise and validate; raise InvalidNumber for anything not dialable."""
    digits = normalise(raw)
    found = _split(digits)
    if found is None:  # an unusual number: phonenumbers says what it makes of it, or why not
        try:
            parsed = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException as exc:
            raise InvalidNumber(f"not a phone number ({exc._msg})") from exc
        found = parsed.country_code, phonenumbers.national_significant_number(parsed)
    country_code, national = found
    region, kind = _region_and_type(country_code, national)
    if kind is None:
        raise InvalidNumber("not a valid number in any numbering plan")
    # E.164 is the country code then the national significant number (format_number's E164)
    return Destination(
        digits=f"{country_code}{national}",
        region=region,  # type: ignore[arg-type]  # a valid number has one ("001": non-geographic)
        number_type=_NUMBER_TYPE_NAMES.get(kind, "UNKNOWN"),
    )


_NOT_STRIPPED = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


def _split(digits: str) -> tuple[int, str] | None:
    """(country code, national significant number) as phonenumbers.parse("+" + digits) finds
    them, without its work on arbitrary text (digits are plain ASCII here); None where parse
    would refuse the number, so that parse itself says why.

    parse's steps for a number with a plus sign: the country code (the first 1-3 digits that
    are one), a national prefix stripped where what remains still has a possible length, then
    the length limits. A national number with leading zeros keeps them (Italy's), so it is the
    remaining digits themselves.
    """
    if len(digits) <= _MIN_LENGTH_FOR_NSN:  # too short after the plus sign
        return None
    country_code, national = _extract_country_code(digits)
    if country_code == 0 or len(national) < _MIN_LENGTH_FOR_NSN:
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, COUNTRY_CODE_TO_REGION_CODE[country_code][0]
    )
    if metadata is not None:
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
        if _test_number_length(stripped, metadata) not in _NOT_STRIPPED:
            national = stripped
    if not _MIN_LENGTH_FOR_NSN <= len(national) <= _MAX_LENGTH_FOR_NSN:
        return None
    return country_code, national


def _region_and_type(country_code: int, national: str) -> tuple[str | None, int | None]:
    """phonenumbers' region_code_for_number, then the number's PhoneNumberType there (None when
    it is not valid there), doing each step once.

    is_valid_number, region_code_for_number and number_type would each find the region again,
    and for a code several regions share (+1: 25 of them) the region is found by typing the
    number against each in turn: the type found then is the one wanted, so it is kept.
    """
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return None, None
    if len(regions) == 1:
        return regions[0], _number_type(country_code, regions[0], national)
    for region in regions:  # phonenumbers' _region_code_for_number_from_list
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _leading_digits(metadata.leading_digits).match(national):
                return region, _number_type(country_code, region, national)
        elif (kind := _number_type_helper(national, metadata)) != phonenumbers.PhoneNumberType.UNKNOWN:
            if region == NON_GEOGRAPHIC_REGION:  # typed against other metadata: type it again
                return region, _number_type(country_code, region, national)
            return region, kind if country_code == metadata.country_code else None
    return None, None


def _number_type(country_code: int, region: str, national: str) -> int | None:
    """The PhoneNumberType of a number in `region`, or None when it is not valid there:
    phonenumbers.is_valid_number_for_region and number_type in one pass."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None or (region != NON_GEOGRAPHIC_REGION and country_code != metadata.country_code):
        return None
    kind: int = _number_type_helper(national, metadata)
    return None if kind == phonenumbers.PhoneNumberType.UNKNOWN else kind


def is_region_code(code: str) -> bool:
    """True for the ISO 3166 codes phonenumbers knows ('GB', not 'UK')."""
    return code in phonenumbers.SUPPORTED_REGIONS


_leading_digits = lru_cache(maxsize=64)(re.compile)  # the few regions that have them


class _Desc(NamedTuple):
    """A PhoneNumberDesc ready to test against: its lengths and its compiled pattern."""

    lengths: frozenset[int]  # empty: any length (the general description's)
    pattern: re.Pattern[str] | None

    def matches(self, national: str) -> bool:
        """phonenumbers' _is_number_matching_desc (a full match, not a prefix)."""
        if self.pattern is None or (self.lengths and len(national) not in self.lengths):
            return False
        return self.pattern.fullmatch(national) is not None


_NO_DESC = _Desc(frozenset(), None)
# The types phonenumbers tries before fixed line and mobile, in its order (_number_type_helper)
_SPECIAL_TYPES = (
    ("premium_rate", phonenumbers.PhoneNumberType.PREMIUM_RATE),
    ("toll_free", phonenumbers.PhoneNumberType.TOLL_FREE),
    ("shared_cost", phonenumbers.PhoneNumberType.SHARED_COST),
    ("voip", phonenumbers.PhoneNumberType.VOIP),
    ("personal_number", phonenumbers.PhoneNumberType.PERSONAL_NUMBER),
    ("pager", phonenumbers.PhoneNumberType.PAGER),
    ("uan", phonenumbers.PhoneNumberType.UAN),
    ("voicemail", phonenumbers.PhoneNumberType.VOICEMAIL),
)


class _Plan(NamedTuple):
    """A region's descriptions, compiled once: phonenumbers looks each pattern up again in re's
    cache on every test, ten or so per number."""

    general: _Desc
    special: tuple[tuple[_Desc, int], ...]
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return _NO_DESC
    return _Desc(frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


_PLANS: dict[tuple[str, int], _Plan] = {}  # (region, country code): one per metadata, ~250 in all


def _plan(metadata: Any) -> _Plan:
    key = (metadata.id, metadata.country_code)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _new_plan(metadata)
    return plan


def _new_plan(metadata: Any) -> _Plan:
    return _Plan(
        _desc(metadata.general_desc),
        tuple((_desc(getattr(metadata, name)), kind) for name, kind in _SPECIAL_TYPES),
        _desc(metadata.fixed_line),
        _desc(metadata.mobile),
        bool(metadata.same_mobile_and_fixed_line_pattern),
    )


def _number_type_helper(national: str, metadata: Any) -> int:
    """phonenumbers' _number_type_helper: the number's PhoneNumberType in a region, UNKNOWN when
    it is none (a unit test holds every outcome to phonenumbers' public number_type)."""
    plan = _plan(metadata)
    if not plan.general.matches(national):
        return phonenumbers.PhoneNumberType.UNKNOWN
    for desc, kind in plan.special:
        if desc.matches(national):
            return kind
    if plan.fixed_line.matches(national):
        if plan.same_mobile_and_fixed_line or plan.mobile.matches(national):
            return phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
        return phonenumbers.PhoneNumberType.FIXED_LINE
    if not plan.same_mobile_and_fixed_line and plan.mobile.matches(national):
        return phonenumbers.PhoneNumberType.MOBILE
    return phonenumbers.PhoneNumberType.UNKNOWN
