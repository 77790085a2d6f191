"""Destination normalisation and validation: what reaches `connect`, and what never does."""

from __future__ import annotations

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
        # +1 is 25 regions: the area code says which, the US is never assumed
        ("+1 212 555 0100", "12125550100", "US", "FIXED_LINE_OR_MOBILE"),
        ("+1 506 234 5678", "15062345678", "CA", "FIXED_LINE_OR_MOBILE"),
        ("+1 876 523 0123", "18765230123", "JM", "FIXED_LINE_OR_MOBILE"),
        ("+1 876 210 1234", "18762101234", "JM", "MOBILE"),
        ("+1 787 234 5678", "17872345678", "PR", "FIXED_LINE_OR_MOBILE"),
        ("+1 900 212 3456", "19002123456", "US", "PREMIUM_RATE"),  # NANP premium rate is the US's
        # +44: GB mobile and premium rate (09xx), and the Crown Dependencies that share the code
        ("+44 7400 123456", "447400123456", "GB", "MOBILE"),
        ("+44 (0)7400 123456", "447400123456", "GB", "MOBILE"),  # the national 0 after +44 is dropped
        ("+44 901 234 5678", "449012345678", "GB", "PREMIUM_RATE"),
        ("+44 909 876 5432", "449098765432", "GB", "PREMIUM_RATE"),
        ("+44 300 123 4567", "443001234567", "GB", "UAN"),
        ("+44 1534 456789", "441534456789", "JE", "FIXED_LINE"),
        ("+44 1624 756789", "441624756789", "IM", "FIXED_LINE"),
        # Italy: the leading 0 after +39 is part of the number, not a national prefix to drop
        ("+39 06 1234 5678", "390612345678", "IT", "FIXED_LINE"),
        ("0039 02 1234 5678", "390212345678", "IT", "FIXED_LINE"),
        ("+39 06 698 12345", "390669812345", "VA", "FIXED_LINE"),  # Vatican City shares +39 06
        ("+39 312 345 6789", "393123456789", "IT", "MOBILE"),
        # non-geographic codes: region "001"
        ("+800 1234 5678", "80012345678", "001", "TOLL_FREE"),
        ("+882 342 1234", "8823421234", "001", "MOBILE"),
        ("+883 510 012 345", "883510012345", "001", "VOIP"),
        ("+870 301 234 567", "870301234567", "001", "MOBILE"),
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


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        # the right length, in no range
        ("+1 212 055 0100", "not a valid number in any numbering plan"),  # no NANP exchange starts 0
        ("+1 555 555 0100", "not a valid number in any numbering plan"),  # 555 is no area code
        ("+39 00 6123 4567", "not a valid number in any numbering plan"),
        # a digit short, a digit too many
        ("+1 876 555 010", "not a valid number in any numbering plan"),
        ("+1 876 555 01001", "not a valid number in any numbering plan"),
        ("+44 7400 12345", "not a valid number in any numbering plan"),
        ("+44 7400 1234567", "not a valid number in any numbering plan"),
        ("+800 1234 567", "not a valid number in any numbering plan"),
        # what phonenumbers will not parse as a number at all
        ("+44 1", "not a phone number (too short after the country code)"),
        ("+12", "not a phone number (too short)"),
        ("+999 1234 5678", "not a phone number (starts with no country code)"),
        ("+210 123 4567", "not a phone number (starts with no country code)"),
    ],
)
def test_parse_destination_says_why_not(raw: str, why: str) -> None:
    with pytest.raises(InvalidNumber) as refused:
        parse_destination(raw)
    assert str(refused.value) == why


def _example_digits() -> list[str]:
    """phonenumbers' example number of every type in every region and non-geographic code, and
    neighbours of each (a digit less, a digit more: often invalid)."""
    kinds = [value for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()]
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
    return [variant for d in digits for variant in (d, d[:-1], d + "1")]


def test_accepted_numbers_have_a_type_and_keep_their_digits() -> None:
    """Whatever is accepted has a region and a PhoneNumberType that the settings' rules can name
    (never UNKNOWN), and its stored digits parse to the same destination again."""
    type_names = {name for name in vars(phonenumbers.PhoneNumberType) if name.isupper()} - {"UNKNOWN"}
    accepted = 0
    for raw in _example_digits():
        try:
            dest = parse_destination(raw)
        except InvalidNumber:
            continue
        assert dest.number_type in type_names, raw
        assert dest.region in phonenumbers.SUPPORTED_REGIONS or dest.region == "001", raw
        assert parse_destination(dest.e164) == dest, raw
        accepted += 1
    assert accepted > 1000  # every region and type (1,142 with phonenumbers 9.0.42)
