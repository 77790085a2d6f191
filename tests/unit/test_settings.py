"""Stage settings: defaults, and a clear error naming each bad setting."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator

import pytest

from chalicelib import prompts, settings
from chalicelib.errors import ConfigError
from chalicelib.settings import load
from chalicelib.user_names import valid_user_name
from tests.support import BASE_ENV as GOOD
from tests.support import PREVIOUS_SECRET, ROOT, SECRET

CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())


def test_defaults() -> None:
    cfg = load(GOOD)
    assert cfg.calls_table == "t"
    assert cfg.vonage_number == "14155550100"
    assert cfg.allowed_countries == {"US", "CA", "GB"}
    assert cfg.blocked_number_types == {
        "PREMIUM_RATE", "SHARED_COST", "UAN", "PERSONAL_NUMBER", "PAGER", "VOIP", "UNKNOWN"
    }  # fmt: skip
    assert (cfg.allowed_prefixes, cfg.denied_prefixes, cfg.allowed_users) == ((), (), None)
    assert cfg.allow_pstn_callers is False
    assert (cfg.max_calls_per_user_per_hour, cfg.max_calls_per_user_per_day, cfg.max_calls_per_minute) == (
        20,
        100,
        60,
    )
    assert (dict(cfg.caller_ids), dict(cfg.user_caller_ids)) == ({}, {})
    assert cfg.max_call_seconds == 3600
    assert cfg.greeting_text == "Please wait while we connect you."
    assert cfg.talk_language is None
    assert cfg.connect_timeout == 20
    assert dict(cfg.refusal_texts) == prompts.REFUSALS
    assert (cfg.retention_days, cfg.public_base_url, cfg.fallback_number) == (365, None, None)
    assert cfg.fallback_connect_text == prompts.FALLBACK_CONNECT
    assert cfg.fallback_answer_text == prompts.FALLBACK_ANSWER
    assert dict(cfg.failover_texts) == prompts.FAILOVERS


def test_values_are_normalised() -> None:
    cfg = load(
        {
            **GOOD,
            "VONAGE_NUMBER": "+1 415 555 0100",
            "ALLOWED_COUNTRIES": " us, gb ,",
            "DENIED_PREFIXES": "+44 70, 00881",
            "CALLER_IDS": "gb=+44 20 7946 0000",
            "USER_CALLER_IDS": "jane=+1 (202) 555-0123",
            "ALLOW_PSTN_CALLERS": "TRUE",
            "BLOCKED_NUMBER_TYPES": "premium_rate",
        }
    )
    assert cfg.vonage_number == "14155550100"
    assert cfg.allowed_countries == {"US", "GB"}
    assert cfg.denied_prefixes == ("4470", "881")
    assert dict(cfg.caller_ids) == {"GB": "442079460000"}
    assert dict(cfg.user_caller_ids) == {"jane": "12025550123"}
    assert cfg.allow_pstn_callers is True
    assert cfg.blocked_number_types == {"PREMIUM_RATE"}


def test_empty_greeting_means_none() -> None:
    assert load({**GOOD, "GREETING_TEXT": ""}).greeting_text == ""


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"CALLS_TABLE": None}, "CALLS_TABLE is not set"),
        ({"VONAGE_NUMBER": None}, "VONAGE_NUMBER is not set"),
        ({"VONAGE_NUMBER": "Vonage"}, "VONAGE_NUMBER: 'Vonage' is not a valid E.164 number"),
        ({"VONAGE_NUMBER": "15555550100"}, "VONAGE_NUMBER: '15555550100' is not a valid E.164 number"),
        ({"ALLOWED_COUNTRIES": None}, "ALLOWED_COUNTRIES is not set"),
        ({"ALLOWED_COUNTRIES": ","}, "ALLOWED_COUNTRIES lists no countries"),
        (
            {"ALLOWED_COUNTRIES": "US,UK"},
            "ALLOWED_COUNTRIES: UK not ISO 3166 region codes (the code for the United Kingdom is GB",
        ),
        ({"ALLOWED_COUNTRIES": "USA"}, "ALLOWED_COUNTRIES: USA not ISO 3166"),
        ({"BLOCKED_NUMBER_TYPES": "PREMIUM"}, "BLOCKED_NUMBER_TYPES: PREMIUM not number types"),
        ({"ALLOWED_PREFIXES": "1900x"}, "ALLOWED_PREFIXES: '1900x' is not a number prefix"),
        ({"DENIED_PREFIXES": "0044"}, None),  # '00' means international: fine
        ({"DENIED_PREFIXES": "07"}, "DENIED_PREFIXES: '07' is not a number prefix"),
        ({"ALLOW_PSTN_CALLERS": "yes"}, "ALLOW_PSTN_CALLERS='yes' must be true or false"),
        ({"MAX_CALLS_PER_USER_PER_HOUR": "0"}, "MAX_CALLS_PER_USER_PER_HOUR=0 is outside 1.."),
        ({"MAX_CALLS_PER_USER_PER_DAY": "ten"}, "MAX_CALLS_PER_USER_PER_DAY='ten' is not a whole number"),
        ({"MAX_CALLS_PER_MINUTE": "-5"}, "MAX_CALLS_PER_MINUTE=-5 is outside 1.."),
        ({"CALLER_IDS": "UK=442079460000"}, "CALLER_IDS: 'UK' is not an ISO 3166 region code"),
        ({"CALLER_IDS": "GB:442079460000"}, "CALLER_IDS: 'GB:442079460000' must be KEY=number"),
        ({"CALLER_IDS": "GB=447700900123"}, "CALLER_IDS: '447700900123' is not a valid E.164 number"),
        ({"USER_CALLER_IDS": "jane=0207946000"}, "USER_CALLER_IDS: '0207946000' is not a valid E.164 number"),
        ({"MAX_CALL_SECONDS": "7201"}, "MAX_CALL_SECONDS=7201 is outside 1..7200"),
        ({"TALK_LANGUAGE": "english"}, "TALK_LANGUAGE='english': must be a BCP-47 language tag"),
        ({"REFUSAL_TEXT": " "}, "REFUSAL_TEXT must not be empty"),
        ({"REFUSAL_TEXT_PREFIX_DENIED": ""}, "REFUSAL_TEXT_PREFIX_DENIED must not be empty"),
        ({"GREETING_TEXT": "x" * 1501}, "GREETING_TEXT: at most 1500"),
        ({"CONNECT_TIMEOUT": "twenty"}, "CONNECT_TIMEOUT='twenty' is not a whole number"),
        ({"CONNECT_TIMEOUT": "2"}, "CONNECT_TIMEOUT=2 is outside 3..120"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS=0 is outside 1..36500"),
        (
            {"PUBLIC_BASE_URL": "calls.example.com"},
            "PUBLIC_BASE_URL='calls.example.com' must be an absolute http(s) URL",
        ),
        ({"FALLBACK_NUMBER": "0800 123"}, "FALLBACK_NUMBER: '0800 123' is not a valid E.164 number"),
        ({"FAILOVER_TEXT_BUSY": " "}, "FAILOVER_TEXT_BUSY must not be empty"),
        ({"FALLBACK_ANSWER_TEXT": ""}, "FALLBACK_ANSWER_TEXT must not be empty"),
        ({"FALLBACK_CONNECT_TEXT": ""}, None),  # empty: connect without a word
        (
            {"REFUSAL_LANGUAGE_PREFIX_DENIED": "fr_FR"},
            "REFUSAL_LANGUAGE_PREFIX_DENIED='fr_FR': must be a BCP-47",
        ),
    ],
)
def test_bad_settings_are_named(override: dict[str, str | None], message: str | None) -> None:
    env = {k: v for k, v in {**GOOD, **override}.items() if v is not None}
    if message is None:
        load(env)
        return
    with pytest.raises(ConfigError) as caught:
        load(env)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("stage", sorted(CONFIG["stages"]))
def test_every_committed_stage_is_valid(stage: str) -> None:
    """Checked in CI, so a bad number in a stage never reaches a deployment."""
    env = {
        **CONFIG.get("environment_variables", {}),
        **CONFIG["stages"][stage].get("environment_variables", {}),
    }
    cfg = load(env)
    assert cfg.allowed_countries  # and every number in it parsed


def test_local_stage_allows_us_ca_gb() -> None:
    env = {**CONFIG.get("environment_variables", {}), **CONFIG["stages"]["local"]["environment_variables"]}
    assert load(env).allowed_countries == {"US", "CA", "GB"}


def test_signature_settings() -> None:
    signed = load({**GOOD, "ALLOW_UNSIGNED_WEBHOOKS": None, "VONAGE_SIGNATURE_SECRET": SECRET,
                   "VONAGE_SIGNATURE_SECRET_PREVIOUS": PREVIOUS_SECRET})  # fmt: skip
    assert signed.signature_secrets == (SECRET, PREVIOUS_SECRET)
    assert signed.signature_max_age_seconds == 300
    assert SECRET not in repr(signed)  # settings may be logged; secrets never
    param = {"VONAGE_SIGNATURE_SECRET_PARAM": "/callgate/x/secret", "SIGNATURE_MAX_AGE_SECONDS": "60"}
    deployed = load({**GOOD, "ALLOW_UNSIGNED_WEBHOOKS": None, **param})
    assert (deployed.signature_secrets, deployed.signature_secret_param) == ((), "/callgate/x/secret")
    assert deployed.signature_max_age_seconds == 60


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ALLOW_UNSIGNED_WEBHOOKS": None}, "no webhook signature secret"),
        ({"ALLOW_UNSIGNED_WEBHOOKS": "yes"}, "ALLOW_UNSIGNED_WEBHOOKS='yes' must be true or false"),
        ({"VONAGE_SIGNATURE_SECRET": "too-short"}, "VONAGE_SIGNATURE_SECRET must be at least 32 bytes"),
        ({"VONAGE_SIGNATURE_SECRET_PREVIOUS": SECRET}, "PREVIOUS goes with VONAGE_SIGNATURE_SECRET"),
        # with the parameter, the previous secret is its second line: else SSM would never be read
        ({"VONAGE_SIGNATURE_SECRET_PARAM": "/a", "VONAGE_SIGNATURE_SECRET_PREVIOUS": SECRET}, "second line"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "callgate-prod"}, "ALLOW_UNSIGNED_WEBHOOKS is for a local stage"),
        ({"VONAGE_SIGNATURE_SECRET": "s\udcff" * 20}, "VONAGE_SIGNATURE_SECRET is not UTF-8 text"),
        ({"VONAGE_SIGNATURE_SECRET": SECRET, "VONAGE_SIGNATURE_SECRET_PARAM": "/a"}, "not both"),
        ({"VONAGE_SIGNATURE_SECRET_PARAM": "no spaces allowed"}, "not an SSM Parameter Store name"),
        ({"VONAGE_SIGNATURE_SECRET": SECRET, "SIGNATURE_MAX_AGE_SECONDS": "5"}, "outside 10..3600"),
    ],
)
def test_bad_signature_settings(override: dict, message: str) -> None:
    env = {k: v for k, v in {**GOOD, **override}.items() if v is not None}
    with pytest.raises(ConfigError, match=message) as caught:
        load(env)
    assert "too-short" not in str(caught.value) and SECRET not in str(caught.value)


@pytest.fixture(autouse=True)
def _read_afresh() -> Iterator[None]:
    """Each test reads the environment anew, and leaves nothing read for the next."""
    settings.forget()
    yield
    settings.forget()


def _as_chalice_sets(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> None:
    """What chalice.test.Client (and so `make run`) does per request: a new os.environ, the
    current one with the stage's variables (None: without that variable)."""
    patched = os.environ.copy()
    for name, value in changes.items():
        if value is None:
            patched.pop(name, None)
        else:
            patched[name] = value
    monkeypatch.setattr(os, "environ", patched)


def test_the_process_environment_is_parsed_once_and_reread_when_it_changes(monkeypatch) -> None:
    """Once per container in Lambda; the test client puts a new environment in place per request."""
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    first = load()
    assert load() is first  # not parsed again
    _as_chalice_sets(monkeypatch, MAX_CALLS_PER_MINUTE="7")
    changed = load()
    assert changed.max_calls_per_minute == 7 and changed is not first
    _as_chalice_sets(monkeypatch, VONAGE_NUMBER="+44 20 7946 0000")
    assert load().vonage_number == "442079460000"
    _as_chalice_sets(monkeypatch, TALK_LANGUAGE="\u00e9")  # non-ASCII: as os.environ has it
    with pytest.raises(ConfigError, match="TALK_LANGUAGE='\u00e9'"):
        load()


def test_an_environment_changed_in_place_is_read_again_once_forgotten(monkeypatch) -> None:
    """A Lambda container's environment never changes: what changes it in place says so."""
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    first = load()
    monkeypatch.setenv("GREETING_TEXT", "Hello")
    assert load() is first  # read once per container
    settings.forget()
    assert load().greeting_text == "Hello"
    monkeypatch.setenv("TALK_LANGUAGE", "\u00e9")
    settings.forget()
    with pytest.raises(ConfigError, match="TALK_LANGUAGE='\u00e9'"):
        load()


def test_a_new_environment_with_the_same_values_has_the_same_settings(monkeypatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    first = load()
    _as_chalice_sets(monkeypatch, GREETING_TEXT="Hello")
    assert load().greeting_text == "Hello"
    _as_chalice_sets(monkeypatch, GREETING_TEXT="Please wait while we connect you.")
    assert load().greeting_text == first.greeting_text
    _as_chalice_sets(monkeypatch, GREETING_TEXT=None)
    assert load() is first  # parsed once for these values


def test_a_change_to_any_variable_is_noticed_and_only_a_read_one_parses_again(monkeypatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    first = load()
    _as_chalice_sets(monkeypatch, CALLGATE_TEST_UNREAD="1")  # not a setting: read, the same settings
    assert load() is first
    _as_chalice_sets(monkeypatch, CALLGATE_TEST_UNREAD=None)
    assert load() is first
    _as_chalice_sets(monkeypatch, REFUSAL_TEXT="No.")  # a setting that was absent
    assert load().refusal_texts["country_not_allowed"] == "No."
    _as_chalice_sets(monkeypatch, REFUSAL_TEXT=None)
    assert load() is first


def test_load_is_the_parse_of_the_environment_after_any_change(monkeypatch) -> None:
    """load() of the process environment is load() of the same values given as a mapping, after
    any change: a new environment, or one changed in place and then forgotten."""
    rng = random.Random(7)
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    choices = {
        "GREETING_TEXT": ["Hello", "Please wait.", None],
        "MAX_CALLS_PER_MINUTE": ["5", "60", None],
        "TALK_LANGUAGE": ["en-GB", None],
        "CALLGATE_TEST_UNREAD": ["a", "b", None],
    }
    for _ in range(200):
        name = rng.choice(list(choices))
        value = rng.choice(choices[name])
        if rng.random() < 0.5:
            _as_chalice_sets(monkeypatch, **{name: value})
        else:
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
            settings.forget()
        assert load() == load(dict(os.environ))
        assert load().greeting_text == os.environ.get("GREETING_TEXT", "Please wait while we connect you.")
        assert load().max_calls_per_minute == int(os.environ.get("MAX_CALLS_PER_MINUTE", "60"))


@pytest.mark.parametrize("name", ["jane\u200b", "jan\u202ee", "j\u043ese", "a&to=1", "a b", "é"])
def test_a_user_name_outside_the_safe_characters_is_refused(name: str) -> None:
    """`jane` + a zero-width space is not a second jane: a user name is ASCII letters, digits and
    . _ - @ + | : (e-mail addresses, uuids, auth0|123)."""
    assert not valid_user_name(name)
    for ok in ("jane", "jane.doe+x@example.com", "auth0|5f1c", "0f8fad5b-d9cb-469f-a165-70867728950e"):
        assert valid_user_name(ok)
    if "," not in name and " " not in name:  # ALLOWED_USERS splits on commas and trims spaces
        with pytest.raises(ConfigError, match="is not an app user's name"):
            load({**GOOD, "ALLOWED_USERS": f"jane,{name}"})
