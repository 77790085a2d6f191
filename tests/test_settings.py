"""Stage settings: defaults, and a clear error naming each bad setting."""

from __future__ import annotations

import pytest

from chalicelib.settings import ConfigError, load

GOOD = {"CALLS_TABLE": "t", "VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US,CA,GB"}


def test_defaults() -> None:
    cfg = load(GOOD)
    assert cfg.calls_table == "t"
    assert cfg.vonage_number == "14155550100"
    assert cfg.allowed_countries == {"US", "CA", "GB"}
    assert cfg.greeting_text == "Please wait while we connect you."
    assert cfg.connect_timeout == 20


def test_values_are_normalised() -> None:
    cfg = load({**GOOD, "VONAGE_NUMBER": "+1 415 555 0100", "ALLOWED_COUNTRIES": " us, gb ,"})
    assert cfg.vonage_number == "14155550100"
    assert cfg.allowed_countries == {"US", "GB"}


def test_empty_greeting_means_none() -> None:
    assert load({**GOOD, "GREETING_TEXT": ""}).greeting_text == ""


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"CALLS_TABLE": None}, "CALLS_TABLE is not set"),
        ({"VONAGE_NUMBER": None}, "VONAGE_NUMBER is not set"),
        ({"VONAGE_NUMBER": "Vonage"}, "VONAGE_NUMBER='Vonage' is not a valid E.164 number"),
        ({"VONAGE_NUMBER": "15555550100"}, "VONAGE_NUMBER='15555550100' is not a valid E.164 number"),
        ({"ALLOWED_COUNTRIES": None}, "ALLOWED_COUNTRIES is not set"),
        ({"ALLOWED_COUNTRIES": ","}, "ALLOWED_COUNTRIES lists no countries"),
        (
            {"ALLOWED_COUNTRIES": "US,UK"},
            "UK not ISO 3166 region codes \\(the code for the United Kingdom is GB",
        ),
        ({"ALLOWED_COUNTRIES": "USA"}, "USA not ISO 3166"),
        ({"REFUSAL_TEXT": " "}, "REFUSAL_TEXT must not be empty"),
        ({"GREETING_TEXT": "x" * 1501}, "GREETING_TEXT: at most 1500"),
        ({"CONNECT_TIMEOUT": "twenty"}, "CONNECT_TIMEOUT='twenty' is not a whole number"),
        ({"CONNECT_TIMEOUT": "2"}, "CONNECT_TIMEOUT=2 is outside 3..120"),
    ],
)
def test_bad_settings_are_named(override: dict[str, str | None], message: str) -> None:
    env = {**GOOD, **override}
    env = {k: v for k, v in env.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        load(env)
