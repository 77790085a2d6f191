"""The NCCO builder's output is exactly what Vonage documents, and bad values fail at build time."""

from __future__ import annotations

import json

import pytest

from chalicelib import ncco


def test_seed_ncco_talk_then_connect() -> None:
    """The iOS app-to-phone guide's NCCO, key for key and in the same order."""
    built = ncco.ncco(
        ncco.talk("Please wait while we connect you."),
        ncco.connect(ncco.phone("14155550101"), timeout=20, from_="14155550100"),
    )
    assert json.dumps(built) == json.dumps(
        [
            {"action": "talk", "text": "Please wait while we connect you."},
            {
                "action": "connect",
                "timeout": 20,
                "from": "14155550100",
                "endpoint": [{"type": "phone", "number": "14155550101"}],
            },
        ]
    )


def test_optional_fields_are_left_out() -> None:
    assert ncco.connect(ncco.phone("14155550101")) == {
        "action": "connect",
        "endpoint": [{"type": "phone", "number": "14155550101"}],
    }
    assert ncco.talk("Hi", language="en-GB", barge_in=False) == {
        "action": "talk",
        "text": "Hi",
        "bargeIn": False,
        "language": "en-GB",
    }


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: ncco.talk(""), "talk.text: is required"),
        (lambda: ncco.talk("a" * 1501), "talk.text: at most 1500"),
        (lambda: ncco.phone("+14155550101"), "phone.number: must be E.164 digits"),
        (lambda: ncco.phone("014155550101"), "phone.number: must be E.164 digits"),
        (lambda: ncco.phone("1415555010123456"), "phone.number: must be E.164 digits"),
        (lambda: ncco.connect(ncco.phone("14155550101"), timeout=0), "connect.timeout: must be between"),
        (lambda: ncco.connect(ncco.phone("14155550101"), limit=7201), "connect.limit: must be between"),
        (lambda: ncco.connect(ncco.phone("14155550101"), timeout=True), "connect.timeout: must be a number"),
        (lambda: ncco.connect(ncco.phone("14155550101"), from_="Vonage"), "connect.from: must be E.164"),
        (lambda: ncco.connect({"number": "14155550101"}), "connect.endpoint"),
        (lambda: ncco.ncco(), "ncco.actions: must contain at least one action"),
    ],
)
def test_rule_violations_name_action_field_and_rule(build, where: str) -> None:
    with pytest.raises(ncco.NccoError, match=where):
        build()


def test_talk_length_ignores_ssml_markup() -> None:
    text = "<speak>" + "a" * 1500 + "</speak>"
    assert ncco.talk(text)["text"] == text
