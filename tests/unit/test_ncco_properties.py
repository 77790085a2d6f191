"""Property-based tests of the NCCO builder (hypothesis).

1. Any combination of valid values (drawn from the reference's ranges) is accepted.
2. Any combination of hostile values raises NccoError and nothing else.
In both, whatever the builder accepts must be JSON (no NaN), keep every
`eventUrl` a one-URL http(s) array, and respect every numeric range below,
a table written from the reference independently of chalicelib/ncco.py.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from chalicelib import ncco

INF = math.inf
# (parent key or action, field) -> inclusive range; parent is the action name or sub-object key
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("record", "channels"): (1, 32),
    ("record", "endOnSilence"): (3, 10),
    ("record", "timeOut"): (3, 7200),
    ("connect", "timeout"): (1, 120),
    ("connect", "limit"): (1, 7200),
    ("advanced_machine_detection", "beep_timeout"): (45, 120),
    ("talk", "level"): (-1, 1),
    ("talk", "loop"): (0, INF),
    ("talk", "style"): (0, INF),
    ("stream", "level"): (-1, 1),
    ("stream", "loop"): (0, INF),
    ("dtmf", "timeOut"): (0, 10),
    ("dtmf", "maxDigits"): (1, 20),
    ("speech", "endOnSilence"): (0.4, 10),
    ("speech", "startTimeout"): (1, 60),
    ("speech", "maxDuration"): (1, 60),
    ("speech", "sensitivity"): (0, 100),
    ("wait", "timeout"): (0.1, 7200),
}
URL_RE = re.compile(r"https?://[^\s/]+\S*")

URLS = st.sampled_from(["https://example.com/event", "http://10.0.0.1:8080/e?x=1", "https://a.b/c#d"])
HOSTILE = st.sampled_from(
    [
        None,
        -1,
        0,
        1.5,
        10**9,
        float("nan"),
        float("inf"),
        True,
        "",
        "x",
        "/relative",
        "ftp://x.y",
        [],
        {},
        ["a", "b"],
    ]
)
JSON_DATA = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=8,
    ),
    max_size=3,
)
HOSTILE_DATA = st.sampled_from(
    [{"x": float("nan")}, {"x": {1, 2}}, {1: "a"}, {"x": b"y"}, {"x": [float("-inf")]}, {"x": object()}]
)
NUMBERS = st.sampled_from(["14155550100", "447700900001", "33123456789", "8613800138000"])


def opt(strategy: st.SearchStrategy[Any], hostile: bool) -> st.SearchStrategy[Any]:
    """A field's value: absent, valid, or (when hostile) anything at all."""
    choices = [st.none(), strategy]
    if hostile:
        choices.append(HOSTILE)
    return st.one_of(*choices)


def number(low: float, high: float, integer: bool = False) -> st.SearchStrategy[Any]:
    if integer:
        return st.integers(int(low), int(min(high, 10**6)))
    return st.one_of(
        st.integers(math.ceil(low), int(min(high, 10**6))),
        st.floats(low, min(high, 10**6), allow_nan=False, allow_infinity=False),
    )


def words(hostile: bool) -> st.SearchStrategy[Any]:
    text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(str.strip)
    return st.one_of(text, HOSTILE) if hostile else text


@st.composite
def endpoint(draw: st.DrawFn, hostile: bool) -> Any:
    kind = draw(st.sampled_from(["phone", "app", "websocket", "sip", "vbc"]))
    if kind == "phone":
        url = draw(opt(URLS, hostile))
        return ncco.phone(
            draw(st.one_of(NUMBERS, HOSTILE) if hostile else NUMBERS),
            dtmf_answer=draw(opt(st.from_regex(r"[0-9*#p]{1,8}", fullmatch=True), hostile)),
            on_answer_url=url,
            on_answer_ringback_tone=draw(opt(URLS, hostile)) if url else None,
        )
    if kind == "app":
        return ncco.app(draw(words(hostile)))
    if kind == "websocket":
        return ncco.websocket(
            draw(st.sampled_from(["wss://ws.example.com/s", "ws://127.0.0.1:9000"])),
            content_type=draw(
                st.sampled_from(["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000"])
            ),
            headers=draw(st.one_of(st.none(), JSON_DATA, HOSTILE_DATA) if hostile else opt(JSON_DATA, False)),
            authorization=draw(st.one_of(st.none(), st.just(ncco.websocket_authorization()))),
        )
    if kind == "sip":
        return ncco.sip(draw(st.sampled_from(["sip:a@example.com", "sips:b@example.com;transport=tls"])))
    return ncco.vbc(draw(st.from_regex(r"[0-9]{1,6}", fullmatch=True)))


@st.composite
def action(draw: st.DrawFn, hostile: bool) -> Any:
    kind = draw(
        st.sampled_from(["record", "conversation", "connect", "talk", "stream", "input", "notify", "wait"])
    )
    if kind == "record":
        split = draw(st.sampled_from([None, "conversation"]))
        return ncco.record(
            format=draw(opt(st.sampled_from(["mp3", "wav", "ogg"]), hostile)),
            split=split,
            channels=draw(opt(number(1, 32, integer=True), hostile)) if split else None,
            end_on_silence=draw(opt(number(3, 10, integer=True), hostile)),
            end_on_key=draw(opt(st.sampled_from(list("0123456789*#")), hostile)),
            timeout=draw(opt(number(3, 7200, integer=True), hostile)),
            beep_start=draw(opt(st.booleans(), hostile)),
            event_url=draw(opt(URLS, hostile)),
            event_method=draw(opt(st.sampled_from(["GET", "POST"]), hostile)),
        )
    if kind == "conversation":
        return ncco.conversation(
            draw(words(hostile)),
            music_on_hold_url=draw(opt(URLS, hostile)),
            start_on_enter=draw(opt(st.booleans(), hostile)),
            can_hear=draw(opt(st.lists(st.uuids().map(str), max_size=3), hostile)),
            event_url=draw(opt(URLS, hostile)),
        )
    if kind == "connect":
        use_random = draw(st.booleans())
        amd = draw(
            st.one_of(
                st.none(),
                st.builds(
                    ncco.advanced_machine_detection,
                    behavior=st.sampled_from(["continue", "hangup"]),
                    mode=st.sampled_from(["default", "detect", "detect_beep"]),
                    beep_timeout=number(45, 120, integer=True),
                ),
            )
        )
        return ncco.connect(
            draw(endpoint(hostile)),
            from_=None if use_random else draw(opt(NUMBERS, hostile)),
            random_from_number=draw(st.booleans()) if use_random else None,
            event_type=draw(opt(st.just("synchronous"), hostile)),
            timeout=draw(opt(number(1, 120), hostile)),
            limit=draw(opt(number(1, 7200), hostile)),
            machine_detection=draw(opt(st.sampled_from(["continue", "hangup"]), hostile)),
            advanced_machine_detection=amd,
            event_url=draw(opt(URLS, hostile)),
            ringback_tone=draw(opt(URLS, hostile)),
        )
    if kind == "talk":
        return ncco.talk(
            draw(words(hostile)),
            loop=draw(opt(number(0, 100, integer=True), hostile)),
            level=draw(opt(number(-1, 1), hostile)),
            language=draw(opt(st.sampled_from(["en-US", "en-GB-WLS", "cmn-CN", "ar"]), hostile)),
            style=draw(opt(number(0, 10, integer=True), hostile)),
            premium=draw(opt(st.booleans(), hostile)),
        )
    if kind == "stream":
        return ncco.stream(
            draw(st.one_of(URLS, HOSTILE) if hostile else URLS),
            level=draw(opt(number(-1, 1), hostile)),
            loop=draw(opt(number(0, 100, integer=True), hostile)),
        )
    if kind == "input":
        dtmf = draw(
            st.one_of(
                st.none(),
                st.just(True),
                st.builds(
                    ncco.dtmf,
                    time_out=opt(number(0, 10), hostile),
                    max_digits=opt(number(1, 20, integer=True), hostile),
                    submit_on_hash=opt(st.booleans(), hostile),
                ),
            )
        )
        speech = draw(
            st.one_of(
                st.none() if dtmf else st.just(True),
                st.builds(
                    ncco.speech,
                    end_on_silence=opt(number(0.4, 10), hostile),
                    start_timeout=opt(number(1, 60), hostile),
                    max_duration=opt(number(1, 60), hostile),
                    sensitivity=opt(number(0, 100, integer=True), hostile),
                    context=opt(st.lists(st.text(max_size=8), max_size=3), hostile),
                ),
            )
        )
        return ncco.input_(dtmf=dtmf, speech=speech, event_url=draw(opt(URLS, hostile)))
    if kind == "notify":
        return ncco.notify(
            draw(st.one_of(JSON_DATA, HOSTILE_DATA) if hostile else JSON_DATA),
            draw(st.one_of(URLS, HOSTILE) if hostile else URLS),
        )
    return ncco.wait(draw(opt(number(0.1, 7200), hostile)))


def check(built: list[dict[str, Any]]) -> None:
    """The invariants every accepted NCCO must satisfy."""
    text = json.dumps(built, allow_nan=False)
    assert json.loads(text) == built

    def walk(value: Any, parent: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, parent)
        elif isinstance(value, dict):
            owner = value.get("action", parent)
            for key, item in value.items():
                if key == "eventUrl":
                    assert isinstance(item, list) and len(item) == 1 and URL_RE.fullmatch(item[0]), item
                if (owner, key) in RANGES:
                    low, high = RANGES[(owner, key)]
                    assert not isinstance(item, bool) and low <= item <= high, (owner, key, item)
                walk(item, key if isinstance(item, dict) else owner)

    walk(built, "ncco")
    for act in built:
        if act["action"] == "connect":
            assert len(act["endpoint"]) == 1
        if act["action"] == "talk":
            assert len(re.sub(r"<[^>]*>", "", act["text"])) <= 1500


@settings(max_examples=300, deadline=None)
@given(st.lists(action(hostile=False), min_size=1, max_size=6), st.one_of(st.none(), st.just("CON-2")))
def test_valid_values_are_always_accepted(actions: list[dict[str, Any]], transfer_to: str | None) -> None:
    if transfer_to:
        actions = [*actions, ncco.transfer(transfer_to)]
    check(ncco.ncco(*actions))


@st.composite
def hostile_ncco(draw: st.DrawFn) -> list[dict[str, Any]] | None:
    """Build as a user would; None where the builder refused (it must say NccoError)."""
    try:
        return ncco.ncco(*draw(st.lists(action(hostile=True), min_size=1, max_size=6)))
    except ncco.NccoError:
        return None


@settings(max_examples=500, deadline=None)
@given(hostile_ncco())
def test_hostile_values_are_refused_or_sound(built: list[dict[str, Any]] | None) -> None:
    event("refused" if built is None else "accepted")  # pytest --hypothesis-show-statistics
    if built is not None:
        check(built)
