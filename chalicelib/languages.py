"""The languages Vonage's text-to-speech speaks: a setting naming any other is refused at start.

A tag of the right shape is not enough: `xx-XX` would pass, and then every NCCO would carry a
language Vonage does not have. The list is data (chalicelib/data/tts-languages.json, with its
sources), read once per container, the first time a setting names a language. A code in other
letter case is taken in Vonage's spelling.
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


def talk_language(value: str) -> str | None:
    """`value` as Vonage spells it (`en-us` is `en-US`), or None when Vonage's text-to-speech
    has no such language."""
    languages = talk_languages()
    if value in languages:
        return value
    return next((code for code in sorted(languages) if code.lower() == value.lower()), None)
