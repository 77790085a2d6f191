"""Language settings: only a language Vonage's text-to-speech speaks starts the service."""

from __future__ import annotations

import json

import pytest

from chalicelib import languages, prompts
from chalicelib.errors import ConfigError
from chalicelib.settings import load
from tests.support import BASE_ENV

SETTINGS = ["TALK_LANGUAGE", *(prompts.language_setting_name(reason) for reason in prompts.CONFIGURABLE)]


def test_the_list_is_data_with_its_sources() -> None:
    data = json.loads(languages.DATA.read_text(encoding="utf-8"))
    assert data["source"] and all(
        "@vonage/voice" in s or "server-sdk" in s or "voices" in s for s in data["source"]
    )
    codes = data["languages"]
    assert codes == sorted(set(codes))  # sorted, no duplicates: a diff on an update says what changed
    assert {"en-US", "en-GB", "es-ES", "cmn-CN", "ar", "en-GB-WLS"} <= languages.talk_languages()


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_language_setting_refuses_a_language_vonage_does_not_have(setting: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{setting}='xx-XX': not one of Vonage's text-to-speech"):
        load({**BASE_ENV, setting: "xx-XX"})


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_language_setting_takes_each_of_vonages(setting: str) -> None:
    for code in ("de-DE", "yue-CN", "en-GB-SCT"):
        loaded = load({**BASE_ENV, setting: code})
        if setting == "TALK_LANGUAGE":
            assert loaded.talk_language == code
        else:
            assert list(loaded.refusal_languages.values()) == [code]


def test_a_language_in_other_letter_case_is_taken_in_vonages_spelling() -> None:
    assert load({**BASE_ENV, "TALK_LANGUAGE": "en-us"}).talk_language == "en-US"
    assert load({**BASE_ENV, "TALK_LANGUAGE": "en-gb-wls"}).talk_language == "en-GB-WLS"


def test_a_tag_of_the_wrong_shape_is_still_named_as_such() -> None:
    with pytest.raises(ConfigError, match="must be a BCP-47 language tag"):
        load({**BASE_ENV, "TALK_LANGUAGE": "english"})
