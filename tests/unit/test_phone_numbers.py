"""Destination normalisation and validation: what reaches `connect`, and what never does."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from chalicelib.phone_numbers import InvalidNumber, normalise, parse_destination


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("14155550100", "14155550100"),
        ("+14155550100", "14155550100"),
        (" 14155550100", "14155550100"),  # '+' not URL-encoded arrives as a space
        ("0014155550100", "14155550100"),  # international prefix 00
        ("+1 415 555 0100", "14155550100"),
        ("+1 (415) 555-0100", "14155550100"),
        ("+44 20 7946 0000", "442079460000"),
        ("44.20.7946.0000", "442079460000"),
        ("\t+14155550100\n", "14155550100"),
        ("1\u00a0415\u00a0555\u00a00100", "14155550100"),  # no-break spaces from copy/paste
    ],
)
def test_normalise_accepts_international_formats(raw: str, digits: str) -> None:
    assert normalise(raw) == digits


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (None, "no number given"),
        ("", "no number given"),
        ("   ", "no number given"),
        ("1-800-FLOWERS", "characters other than digits"),  # phonenumbers would map letters
        ("jane", "characters other than digits"),
        ("+1415555010O", "characters other than digits"),  # letter O
        ("*6714155550100", "characters other than digits"),
        ("14155550100,1234", "characters other than digits"),
        ("+\u0661\u0664\u0661\u0665", "characters other than digits"),  # Arabic-Indic digits
        ("++14155550100", "characters other than digits"),
        ("07700900123", "no country code"),  # GB national format
        ("0207 946 0000", "no country code"),
        ("1234567890123456", "more than 15 digits"),
        ("1" * 65, "longer than 64 characters"),
    ],
)
def test_normalise_refuses(raw: str | None, why: str) -> None:
    with pytest.raises(InvalidNumber, match=why):
        normalise(raw)


@pytest.mark.parametrize(
    ("raw", "digits", "region", "number_type"),
    [
        ("14155550100", "14155550100", "US", "FIXED_LINE_OR_MOBILE"),
        ("+1 613 555 0123", "16135550123", "CA", "FIXED_LINE_OR_MOBILE"),
        ("442079460000", "442079460000", "GB", "FIXED_LINE"),
        # NANP look-alikes: +1 but not the US
        ("18765550100", "18765550100", "JM", "MOBILE"),
        ("12462345678", "12462345678", "BB", "MOBILE"),
        ("18092345678", "18092345678", "DO", "FIXED_LINE_OR_MOBILE"),
        # +44 but not GB: Guernsey mobile
        ("447911123456", "447911123456", "GG", "MOBILE"),
        # premium rate, in the region of its country
        ("19005550100", "19005550100", "US", "PREMIUM_RATE"),
        ("448719123456", "448719123456", "GB", "PREMIUM_RATE"),
        ("33899123456", "33899123456", "FR", "PREMIUM_RATE"),
        ("18005550100", "18005550100", "US", "TOLL_FREE"),
        # non-geographic country code: region "001"
        ("80012345678", "80012345678", "001", "TOLL_FREE"),
    ],
)
def test_parse_destination(raw: str, digits: str, region: str, number_type: str) -> None:
    dest = parse_destination(raw)
    assert (dest.digits, dest.region, dest.number_type) == (digits, region, number_type)
    assert dest.e164 == "+" + digits


@pytest.mark.parametrize(
    "raw",
    [
        "4155550100",  # US national number without the 1: read as +41 (CH), not valid there
        "15555550100",  # US 555 exchange outside 555-01xx: not assigned
        "447700900123",  # Ofcom drama range: not a valid number
        "4415550100",  # too short for GB
        "882345678901",  # unassigned international network range
        "999",  # too short for anything
    ],
)
def test_parse_destination_refuses_invalid_numbers(raw: str) -> None:
    with pytest.raises(InvalidNumber, match=r"not a valid number|not a phone number"):
        parse_destination(raw)


def _public_api(raw: str) -> tuple[str, str, str] | None:
    """What phonenumbers' public functions say of a number: (digits, region, type), None if invalid."""
    parsed = phonenumbers.parse("+" + normalise(raw), None)
    if not phonenumbers.is_valid_number(parsed):
        return None
    kind = phonenumbers.number_type(parsed)
    name = next(n for n, v in vars(phonenumbers.PhoneNumberType).items() if n.isupper() and v == kind)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164[1:], phonenumbers.region_code_for_number(parsed), name


def _examples() -> list[str]:
    """Every region's example number of every type, and neighbours of each (often invalid)."""
    kinds = sorted(v for n, v in vars(phonenumbers.PhoneNumberType).items() if n.isupper())
    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in kinds
    ]
    numbers += [
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    e164 = phonenumbers.PhoneNumberFormat.E164
    digits = sorted({phonenumbers.format_number(number, e164)[1:] for number in numbers if number})
    variants = [variant for d in digits for variant in (d, d[:-1], d + "1", d[:-1] + str(9 - int(d[-1])))]
    # the national prefix dialled after the country code (+44 020…), which parse strips
    for number in numbers:
        if number:
            code, national = str(number.country_code), phonenumbers.national_significant_number(number)
            variants += [code + prefix + national for prefix in ("0", "1", "8", "00", "06")]
    return variants


def _random_digits(count: int) -> list[str]:
    """Digit strings of every length after every country code: mostly not numbers at all."""
    rng = random.Random(1234)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    found = [
        str(rng.choice(codes)) + "".join(rng.choices("0123456789", k=rng.randint(0, 13)))
        for _ in range(count)
    ]
    return found + [str(n) for n in range(1, 1000)]  # short ones and codes that are no country's


def _outcome(raw: str) -> tuple[str, str, str] | str:
    try:
        dest = parse_destination(raw)
    except InvalidNumber as exc:
        return str(exc)
    return dest.digits, dest.region, dest.number_type


def test_destination_agrees_with_phonenumbers_public_functions() -> None:
    """parse_destination finds the region once and types the number once; the result must be
    what is_valid_number, region_code_for_number, number_type and format_number say."""
    checked = valid = 0
    for raw in _examples():
        try:
            expected = _public_api(raw)
        except (InvalidNumber, phonenumbers.NumberParseException):  # refused before either looks
            continue
        if expected is None:
            with pytest.raises(InvalidNumber, match="not a valid number"):
                parse_destination(raw)
        else:
            dest = parse_destination(raw)
            assert (dest.digits, dest.region, dest.number_type) == expected, raw
            valid += 1
        checked += 1
    assert checked > 3000 and valid > 1500  # every region and type, and as many invalid neighbours


def test_destination_agrees_with_phonenumbers_parse_on_any_digits() -> None:
    """parse_destination splits country code and national number itself: every outcome, refusals
    and their reasons included, must be what phonenumbers.parse and the public functions say."""
    for raw in _examples() + _random_digits(20_000):
        try:
            digits = normalise(raw)
        except InvalidNumber:
            continue
        try:
            expected: tuple[str, str, str] | str | None = _public_api(raw)
        except phonenumbers.NumberParseException as exc:
            expected = f"not a phone number ({exc._msg})"
        if expected is None:
            expected = "not a valid number in any numbering plan"
        assert _outcome(digits) == expected, raw
