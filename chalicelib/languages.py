"""The languages Vonage's text-to-speech speaks: a setting naming any other is refused at start.

A tag of the right shape is not enough: `xx-XX` would pass, and then every NCCO would carry a
language Vonage does not have. The list is data (chalicelib/data/tts-languages.json, with its
sources), read once per container, the first time a setting names a language.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "tts-languages.json"


@cache
def talk_languages() -> frozenset[str]:
    """Every code Vonage's text-to-speech accepts, spelled as Vonage spells it."""
    return frozenset(json.loads(DATA.read_text(encoding="utf-8"))["languages"])


def unknown_talk_language(value: str) -> str | None:
    """Why `value` is not a text-to-speech language of Vonage's, or None when it is one."""
    languages = talk_languages()
    if value in languages:
        return None
    same = [code for code in languages if code.lower() == value.lower()]
    if same:
        return f"Vonage spells it {same[0]}"
    return f"not one of Vonage's text-to-speech languages (see {DATA.name}), e.g. en-US"
