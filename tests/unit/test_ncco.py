"""The NCCO builder: every action and endpoint, exact JSON, and one failure per rule.

Expected JSON is written out by hand from Vonage's NCCO reference
(developer.vonage.com/en/voice/voice-api/ncco-reference), key for key and in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import ncco

URL = "https://example.com/webhooks/event"
AUDIO = "https://example.com/audio/hold.mp3"


def exact(built: Any, expected: Any) -> None:
    """Same JSON text: same keys, values and key order."""
    assert json.dumps(built) == json.dumps(expected)


# --- minimal and maximal examples ----------------------------------------------------------------

EXAMPLES: list[tuple[str, Callable[[], Any], Any]] = [
    ("record min", lambda: ncco.record(), {"action": "record"}),
    (
        "record max",
        lambda: ncco.record(
            format="wav",
            split="conversation",
            channels=2,
            end_on_silence=3,
            end_on_key="#",
            timeout=60,
            beep_start=True,
            event_url=URL,
            event_method="POST",
            transcription=ncco.transcription(
                language="en-GB", event_url=URL, event_method="GET", sentiment_analysis=True
            ),
        ),
        {
            "action": "record",
            "format": "wav",
            "split": "conversation",
            "channels": 2,
            "endOnSilence": 3,
            "endOnKey": "#",
            "timeOut": 60,
            "beepStart": True,
            "eventUrl": [URL],
            "eventMethod": "POST",
            "transcription": {
                "language": "en-GB",
                "eventUrl": [URL],
                "eventMethod": "GET",
                "sentimentAnalysis": True,
            },
        },
    ),
    ("conversation min", lambda: ncco.conversation("support"), {"action": "conversation", "name": "support"}),
    (
        "conversation max",
        lambda: ncco.conversation(
            "support",
            music_on_hold_url=AUDIO,
            start_on_enter=False,
            end_on_exit=True,
            record=True,
            can_speak=["leg-a"],
            can_hear=["leg-a", "leg-b"],
            event_url=[URL],
            event_method="GET",
        ),
        {
            "action": "conversation",
            "name": "support",
            "musicOnHoldUrl": [AUDIO],
            "startOnEnter": False,
            "endOnExit": True,
            "record": True,
            "canSpeak": ["leg-a"],
            "canHear": ["leg-a", "leg-b"],
            "eventUrl": [URL],
            "eventMethod": "GET",
        },
    ),
    (
        "connect min",
        lambda: ncco.connect(ncco.phone("14155550101")),
        {"action": "connect", "endpoint": [{"type": "phone", "number": "14155550101"}]},
    ),
    (
        "connect max",
        lambda: ncco.connect(
            ncco.phone("14155550101"),
            from_="14155550100",
            event_type="synchronous",
            timeout=25,
            limit=3600,
            machine_detection="continue",
            advanced_machine_detection=ncco.advanced_machine_detection(
                behavior="continue", mode="detect_beep", beep_timeout=60
            ),
            event_url=URL,
            event_method="POST",
            ringback_tone=AUDIO,
        ),
        {
            "action": "connect",
            "timeout": 25,
            "limit": 3600,
            "from": "14155550100",
            "eventType": "synchronous",
            "machineDetection": "continue",
            "advanced_machine_detection": {"behavior": "continue", "mode": "detect_beep", "beep_timeout": 60},
            "eventUrl": [URL],
            "eventMethod": "POST",
            "ringbackTone": AUDIO,
            "endpoint": [{"type": "phone", "number": "14155550101"}],
        },
    ),
    (
        "connect random from",
        lambda: ncco.connect(ncco.app("jane"), random_from_number=True),
        {"action": "connect", "randomFromNumber": True, "endpoint": [{"type": "app", "user": "jane"}]},
    ),
    ("talk min", lambda: ncco.talk("Hello"), {"action": "talk", "text": "Hello"}),
    (
        "talk max",
        lambda: ncco.talk(
            "<speak>Hello <break time='1s'/> there</speak>",
            barge_in=True,
            loop=0,
            level=-0.5,
            language="cmn-CN",
            style=2,
            premium=True,
        ),
        {
            "action": "talk",
            "text": "<speak>Hello <break time='1s'/> there</speak>",
            "bargeIn": True,
            "loop": 0,
            "level": -0.5,
            "language": "cmn-CN",
            "style": 2,
            "premium": True,
        },
    ),
    ("stream min", lambda: ncco.stream(AUDIO), {"action": "stream", "streamUrl": [AUDIO]}),
    (
        "stream max",
        lambda: ncco.stream(AUDIO, level=0.3, barge_in=True, loop=3),
        {"action": "stream", "streamUrl": [AUDIO], "level": 0.3, "bargeIn": True, "loop": 3},
    ),
    ("input dtmf min", lambda: ncco.input_(dtmf=True), {"action": "input", "type": ["dtmf"]}),
    (
        "input max",
        lambda: ncco.input_(
            dtmf=ncco.dtmf(time_out=5, max_digits=20, submit_on_hash=True),
            speech=ncco.speech(
                uuid="leg-a",
                end_on_silence=0.4,
                language="en-GB",
                context=["billing", "sales"],
                start_timeout=10,
                max_duration=60,
                save_audio=True,
                sensitivity=90,
            ),
            event_url=URL,
            event_method="POST",
            mode="synchronous",
        ),
        {
            "action": "input",
            "type": ["dtmf", "speech"],
            "dtmf": {"timeOut": 5, "maxDigits": 20, "submitOnHash": True},
            "speech": {
                "uuid": ["leg-a"],
                "endOnSilence": 0.4,
                "language": "en-GB",
                "context": ["billing", "sales"],
                "startTimeout": 10,
                "maxDuration": 60,
                "saveAudio": True,
                "sensitivity": 90,
            },
            "eventUrl": [URL],
            "eventMethod": "POST",
            "mode": "synchronous",
        },
    ),
    (
        "input async dtmf",
        lambda: ncco.input_(dtmf=True, mode="asynchronous", event_url=URL),
        {"action": "input", "type": ["dtmf"], "eventUrl": [URL], "mode": "asynchronous"},
    ),
    (
        "notify",
        lambda: ncco.notify({"step": 2}, URL, event_method="GET"),
        {"action": "notify", "payload": {"step": 2}, "eventUrl": [URL], "eventMethod": "GET"},
    ),
    ("wait min", lambda: ncco.wait(), {"action": "wait"}),
    ("wait max", lambda: ncco.wait(7200), {"action": "wait", "timeout": 7200}),
    ("transfer min", lambda: ncco.transfer("CON-2"), {"action": "transfer", "conversationId": "CON-2"}),
    (
        "transfer max",
        lambda: ncco.transfer("CON-2", can_hear=["leg-a"], can_speak=["leg-b"]),
        {"action": "transfer", "conversationId": "CON-2", "canHear": ["leg-a"], "canSpeak": ["leg-b"]},
    ),
    (
        "transfer muted",
        lambda: ncco.transfer("CON-2", mute=True),
        {"action": "transfer", "conversationId": "CON-2", "mute": True},
    ),
    # endpoints
    ("phone min", lambda: ncco.phone("447700900001"), {"type": "phone", "number": "447700900001"}),
    (
        "phone max",
        lambda: ncco.phone(
            "447700900001",
            dtmf_answer="p*123#",
            on_answer_url="https://example.com/whisper",
            on_answer_ringback_tone=AUDIO,
            shaken="eyJhbGciOiJFUzI1NiJ9.e30.sig;info=<https://cert.example.com/c.pem>",
        ),
        {
            "type": "phone",
            "number": "447700900001",
            "dtmfAnswer": "p*123#",
            "onAnswer": {"url": "https://example.com/whisper", "ringbackTone": AUDIO},
            "shaken": "eyJhbGciOiJFUzI1NiJ9.e30.sig;info=<https://cert.example.com/c.pem>",
        },
    ),
    ("app", lambda: ncco.app("jane"), {"type": "app", "user": "jane"}),
    (
        "websocket min",
        lambda: ncco.websocket("wss://ws.example.com/socket"),
        {"type": "websocket", "uri": "wss://ws.example.com/socket", "content-type": "audio/l16;rate=16000"},
    ),
    (
        "websocket max",
        lambda: ncco.websocket(
            "wss://ws.example.com/socket",
            content_type="audio/l16;rate=24000",
            headers={"caller": "jane", "language": "en-GB"},
            authorization=ncco.websocket_authorization("custom", "Bearer abc"),
        ),
        {
            "type": "websocket",
            "uri": "wss://ws.example.com/socket",
            "content-type": "audio/l16;rate=24000",
            "headers": {"caller": "jane", "language": "en-GB"},
            "authorization": {"type": "custom", "value": "Bearer abc"},
        },
    ),
    (
        "websocket vonage auth",
        lambda: ncco.websocket("ws://ws.example.com", authorization=ncco.websocket_authorization()),
        {
            "type": "websocket",
            "uri": "ws://ws.example.com",
            "content-type": "audio/l16;rate=16000",
            "authorization": {"type": "vonage"},
        },
    ),
    (
        "sip min",
        lambda: ncco.sip("sip:rebekka@sip.example.com"),
        {"type": "sip", "uri": "sip:rebekka@sip.example.com"},
    ),
    (
        "sip max",
        lambda: ncco.sip(
            "sips:rebekka@sip.example.com;transport=tls",
            headers={"location": "New York City"},
            standard_headers={"User-to-User": "342342ef34;encoding=hex"},
        ),
        {
            "type": "sip",
            "uri": "sips:rebekka@sip.example.com;transport=tls",
            "headers": {"location": "New York City"},
            "standard_headers": {"User-to-User": "342342ef34;encoding=hex"},
        },
    ),
    (
        "sip trunk",
        lambda: ncco.sip(user="rebekka", domain="acme-trunk"),
        {"type": "sip", "user": "rebekka", "domain": "acme-trunk"},
    ),
    ("vbc", lambda: ncco.vbc("123"), {"type": "vbc", "extension": "123"}),
]


@pytest.mark.parametrize(("name", "build", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_serialise_exactly(name: str, build: Callable[[], Any], expected: Any) -> None:
    exact(build(), expected)


def test_app_to_phone_guide_ncco_talk_then_connect() -> None:
    """The NCCO of Vonage's guide "How to Make Phone Calls with the Nexmo Client SDK on iOS",
    key for key and in the same order."""
    exact(
        ncco.ncco(
            ncco.talk("Please wait while we connect you."),
            ncco.connect(ncco.phone("14155550101"), timeout=20, from_="14155550100"),
        ),
        [
            {"action": "talk", "text": "Please wait while we connect you."},
            {
                "action": "connect",
                "timeout": 20,
                "from": "14155550100",
                "endpoint": [{"type": "phone", "number": "14155550101"}],
            },
        ],
    )


def test_output_is_plain_json_data() -> None:
    built = ncco.ncco(
        ncco.connect(
            ncco.phone("14155550101"),
            advanced_machine_detection=ncco.advanced_machine_detection(mode="detect"),
        )
    )

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return type(value) is dict and all(plain(v) for v in value.values())
        if isinstance(value, list):
            return type(value) is list and all(plain(v) for v in value)
        return isinstance(value, (str, int, float, bool))

    assert type(built) is list and plain(built)


# --- one failure per rule ------------------------------------------------------------------------

P = "14155550101"


def _cyclic() -> dict[str, Any]:
    payload: dict[str, Any] = {}
    payload["self"] = payload
    return payload


FAILURES: list[tuple[Callable[[], Any], str]] = [
    # record
    (lambda: ncco.record(format="flac"), "record.format: must be one of mp3, wav, ogg"),
    (lambda: ncco.record(split="legs"), "record.split: must be one of conversation"),
    (lambda: ncco.record(channels=2), "record.channels: needs split='conversation'"),
    (lambda: ncco.record(split="conversation", channels=33), "record.channels: must be between 1 and 32"),
    (lambda: ncco.record(split="conversation", channels=1.5), "record.channels: must be a whole number"),
    (lambda: ncco.record(end_on_silence=2), "record.endOnSilence: must be between 3 and 10"),
    (lambda: ncco.record(end_on_silence=11), "record.endOnSilence: must be between 3 and 10"),
    (lambda: ncco.record(end_on_key="##"), "record.endOnKey: must be one of 0-9, * or #"),
    (lambda: ncco.record(end_on_key="a"), "record.endOnKey"),
    (lambda: ncco.record(timeout=2), "record.timeOut: must be between 3 and 7200"),
    (lambda: ncco.record(timeout=7201), "record.timeOut: must be between 3 and 7200"),
    (lambda: ncco.record(beep_start="yes"), "record.beepStart: must be true or false"),
    (lambda: ncco.record(event_url="/relative"), "record.eventUrl: must be an absolute http/https URL"),
    (
        lambda: ncco.record(event_url="ftp://example.com/x"),
        "record.eventUrl: must be an absolute http/https URL",
    ),
    (lambda: ncco.record(event_url=[URL, URL]), "record.eventUrl: must be exactly one URL"),
    (lambda: ncco.record(event_url=[]), "record.eventUrl: must be exactly one URL"),
    (lambda: ncco.record(event_method="PUT"), "record.eventMethod: must be one of GET, POST"),
    (
        lambda: ncco.record(transcription={"language": "en-US"}),
        "record.transcription: must be built by ncco.transcription",
    ),
    (lambda: ncco.transcription(language="english"), "record.transcription.language: must be a BCP-47"),
    # conversation
    (lambda: ncco.conversation(""), "conversation.name: must be non-empty"),
    (lambda: ncco.conversation(None), "conversation.name: is required"),
    (
        lambda: ncco.conversation("c", music_on_hold_url="hold.mp3"),
        "conversation.musicOnHoldUrl: must be an absolute",
    ),
    (
        lambda: ncco.conversation("c", mute=True, can_speak=["a"]),
        "conversation.mute: cannot be combined with canSpeak",
    ),
    (lambda: ncco.conversation("c", can_hear="leg-a"), "conversation.canHear: must be a list of leg UUIDs"),
    (lambda: ncco.conversation("c", start_on_enter=1), "conversation.startOnEnter: must be true or false"),
    # connect
    (lambda: ncco.connect([ncco.phone(P), ncco.phone(P)]), "connect.endpoint: takes exactly one endpoint"),
    (lambda: ncco.connect({"type": "phone", "number": "abc"}), "connect.endpoint: must be built by phone()"),
    (
        lambda: ncco.connect(ncco.phone(P), from_="14155550100", random_from_number=True),
        "connect.from: give from or randomFromNumber, not both",
    ),
    (lambda: ncco.connect(ncco.phone(P), from_="+14155550100"), "connect.from: must be E.164 digits"),
    (lambda: ncco.connect(ncco.phone(P), from_="Vonage"), "connect.from: must be E.164 digits"),
    (
        lambda: ncco.connect(ncco.phone(P), event_type="asynchronous"),
        "connect.eventType: must be one of synchronous",
    ),
    (lambda: ncco.connect(ncco.phone(P), timeout=0), "connect.timeout: must be between 1 and 120"),
    (lambda: ncco.connect(ncco.phone(P), timeout=121), "connect.timeout: must be between 1 and 120"),
    (lambda: ncco.connect(ncco.phone(P), limit=0), "connect.limit: must be between 1 and 7200"),
    (lambda: ncco.connect(ncco.phone(P), limit=7201), "connect.limit: must be between 1 and 7200"),
    (lambda: ncco.connect(ncco.phone(P), limit=float("nan")), "connect.limit: must be a number"),
    (
        lambda: ncco.connect(ncco.phone(P), machine_detection="detect"),
        "connect.machineDetection: must be one of continue, hangup",
    ),
    (
        lambda: ncco.connect(ncco.phone(P), advanced_machine_detection={"mode": "detect"}),
        "connect.advanced_machine_detection: must be built by",
    ),
    (
        lambda: ncco.advanced_machine_detection(behavior="drop"),
        "connect.advanced_machine_detection.behavior: must be one of continue, hangup",
    ),
    (
        lambda: ncco.advanced_machine_detection(mode="fast"),
        "connect.advanced_machine_detection.mode: must be one of default, detect, detect_beep",
    ),
    (
        lambda: ncco.advanced_machine_detection(beep_timeout=121),
        "connect.advanced_machine_detection.beep_timeout: must be between 45 and 120",
    ),
    (
        lambda: ncco.connect(ncco.phone(P), ringback_tone="tone.mp3"),
        "connect.ringbackTone: must be an absolute",
    ),
    # talk
    (lambda: ncco.talk(""), "talk.text: must be non-empty text"),
    (lambda: ncco.talk("a" * 1501), "talk.text: at most 1500 characters outside SSML"),
    (lambda: ncco.talk("<speak>" + "a" * 1501 + "</speak>"), "talk.text: at most 1500"),
    (lambda: ncco.talk("<" + "a" * 3000 + ">"), "talk.text: at most 1500"),  # tags count unless SSML
    (lambda: ncco.talk("Hi", level=1.1), "talk.level: must be between -1 and 1"),
    (lambda: ncco.talk("Hi", loop=-1), "talk.loop: must be at least 0"),
    (lambda: ncco.talk("Hi", loop=True), "talk.loop: must be a number"),
    (lambda: ncco.talk("Hi", style=-1), "talk.style: must be at least 0"),
    (lambda: ncco.talk("Hi", language="en_US"), "talk.language: must be a BCP-47 language tag"),
    (lambda: ncco.talk("Hi", premium="true"), "talk.premium: must be true or false"),
    # stream
    (lambda: ncco.stream("hold.mp3"), "stream.streamUrl: must be an absolute http/https URL"),
    (lambda: ncco.stream("http://[::1"), "stream.streamUrl: must be an absolute http/https URL"),
    (lambda: ncco.stream(AUDIO, level=-1.01), "stream.level: must be between -1 and 1"),
    (lambda: ncco.stream(AUDIO, loop=1.5), "stream.loop: must be a whole number"),
    # input
    (lambda: ncco.input_(), "input.type: needs dtmf, speech or both"),
    (lambda: ncco.input_(dtmf={"maxDigits": 4}), "input.dtmf: must be built by ncco.dtmf()"),
    (lambda: ncco.input_(dtmf=ncco.speech(language="en-GB")), "input.dtmf: must be built by ncco.dtmf()"),
    (lambda: ncco.input_(speech=ncco.talk("hi")), "input.speech: must be built by ncco.speech()"),
    (
        lambda: ncco.record(transcription=ncco.dtmf(max_digits=3)),
        "record.transcription: must be built by ncco.transcription()",
    ),
    (
        lambda: ncco.connect(ncco.phone(P), advanced_machine_detection=ncco.phone(P)),
        "connect.advanced_machine_detection: must be built by",
    ),
    (
        lambda: ncco.websocket("wss://a.example.com", authorization=ncco.transcription()),
        "websocket.authorization: must be built by",
    ),
    (lambda: ncco.connect(ncco.talk("hi")), "connect.endpoint: must be built by phone()"),
    (lambda: ncco.ncco(ncco.phone(P)), "ncco.actions[0]: must be built by"),
    (lambda: ncco.input_(dtmf=True, mode="batch"), "input.mode: must be one of synchronous, asynchronous"),
    (lambda: ncco.input_(speech=True, mode="asynchronous"), "input.mode: asynchronous mode takes DTMF only"),
    (
        lambda: ncco.input_(dtmf=ncco.dtmf(max_digits=4), mode="asynchronous"),
        "input.dtmf: must be left blank in asynchronous mode",
    ),
    (lambda: ncco.dtmf(time_out=11), "input.dtmf.timeOut: must be between 0 and 10"),
    (lambda: ncco.dtmf(max_digits=21), "input.dtmf.maxDigits: must be between 1 and 20"),
    (lambda: ncco.dtmf(max_digits=0), "input.dtmf.maxDigits: must be between 1 and 20"),
    (lambda: ncco.dtmf(submit_on_hash="no"), "input.dtmf.submitOnHash: must be true or false"),
    (lambda: ncco.speech(end_on_silence=0.3), "input.speech.endOnSilence: must be between 0.4 and 10"),
    (lambda: ncco.speech(start_timeout=61), "input.speech.startTimeout: must be between 1 and 60"),
    (lambda: ncco.speech(max_duration=0.5), "input.speech.maxDuration: must be between 1 and 60"),
    (lambda: ncco.speech(sensitivity=101), "input.speech.sensitivity: must be between 0 and 100"),
    (lambda: ncco.speech(context="billing"), "input.speech.context: must be a list of words or phrases"),
    (lambda: ncco.speech(language="English"), "input.speech.language: must be a BCP-47"),
    # notify, wait, transfer
    (lambda: ncco.notify(["step"], URL), "notify.payload: must be an object"),
    (lambda: ncco.notify(None, URL), "notify.payload: is required"),
    (lambda: ncco.notify({"x": float("nan")}, URL), "notify.payload: must hold JSON values only (no NaN"),
    (lambda: ncco.notify({"x": {1, 2}}, URL), "notify.payload: must hold JSON values only, not set"),
    (lambda: ncco.notify({"x": b"y"}, URL), "notify.payload: must hold JSON values only, not bytes"),
    (lambda: ncco.notify({1: "a"}, URL), "notify.payload: must have text keys only"),
    (lambda: ncco.notify(_cyclic(), URL), "notify.payload: is nested more than 32 levels deep"),
    (
        lambda: ncco.websocket("wss://a.example.com", headers={"x": float("inf")}),
        "websocket.headers: must hold JSON",
    ),
    (lambda: ncco.notify({}, None), "notify.eventUrl: is required"),
    (lambda: ncco.notify({}, "example.com"), "notify.eventUrl: must be an absolute"),
    (lambda: ncco.wait(0.05), "wait.timeout: must be between 0.1 and 7200"),
    (lambda: ncco.wait(7201), "wait.timeout: must be between 0.1 and 7200"),
    (lambda: ncco.wait(10**400), "wait.timeout: must be between 0.1 and 7200"),  # no OverflowError
    (lambda: ncco.transfer(""), "transfer.conversationId: must be non-empty"),
    (
        lambda: ncco.transfer("CON-2", mute=True, can_speak=["a"]),
        "transfer.mute: cannot be combined with canSpeak",
    ),
    # endpoints
    (lambda: ncco.phone("+14155550101"), "phone.number: must be E.164 digits"),
    (lambda: ncco.phone("014155550101"), "phone.number: must be E.164 digits"),
    (lambda: ncco.phone("1234567890123456"), "phone.number: must be E.164 digits"),
    (lambda: ncco.phone(P, dtmf_answer="12a"), "phone.dtmfAnswer: must be digits, *, # or p"),
    (lambda: ncco.phone(P, on_answer_url="whisper"), "phone.onAnswer.url: must be an absolute"),
    (
        lambda: ncco.phone(P, on_answer_ringback_tone=AUDIO),
        "phone.onAnswer: ringbackTone needs an onAnswer url",
    ),
    (lambda: ncco.app(""), "app.user: must be non-empty"),
    (lambda: ncco.websocket("https://ws.example.com"), "websocket.uri: must be an absolute ws/wss URL"),
    (
        lambda: ncco.websocket("wss://ws.example.com", content_type="audio/l16;rate=44100"),
        "websocket.content-type: must be one of",
    ),
    (lambda: ncco.websocket("wss://x", headers=["a"]), "websocket.headers: must be an object"),
    (
        lambda: ncco.websocket("wss://x", authorization={"type": "vonage"}),
        "websocket.authorization: must be built by",
    ),
    (
        lambda: ncco.websocket_authorization("basic"),
        "websocket.authorization.type: must be one of vonage, custom",
    ),
    (lambda: ncco.websocket_authorization("custom"), "websocket.authorization.value: is required"),
    (
        lambda: ncco.websocket_authorization("vonage", "x"),
        "websocket.authorization.value: is only for type custom",
    ),
    (lambda: ncco.sip("https://sip.example.com"), "sip.uri: must be a SIP URI"),
    (lambda: ncco.sip("sip:a b@example.com"), "sip.uri: must be a SIP URI"),
    (lambda: ncco.sip(), "sip.uri: give either uri, or both user and domain"),
    (lambda: ncco.sip("sip:a@b", user="a", domain="b"), "sip.uri: give either uri, or both user and domain"),
    (lambda: ncco.sip(user="a"), "sip.uri: give either uri, or both user and domain"),
    (lambda: ncco.vbc("12a"), "vbc.extension: must be digits"),
    (lambda: ncco.vbc("\u00b2"), "vbc.extension: must be digits"),  # superscript two: isdigit() says yes
    # the whole NCCO
    (lambda: ncco.ncco(), "ncco.actions: must contain at least one action"),
    (lambda: ncco.ncco({"action": "talk", "text": "hand-made"}), "ncco.actions[0]: must be built by"),
    (lambda: ncco.ncco(ncco.talk("Press 1", barge_in=True)), "talk.bargeIn: must be followed by an input"),
    (
        lambda: ncco.ncco(ncco.talk("Hi", barge_in=True), ncco.connect(ncco.phone(P))),
        "talk.bargeIn: must be followed by an input, not connect",
    ),
    (
        lambda: ncco.ncco(ncco.stream(AUDIO, barge_in=True), ncco.talk("Hi"), ncco.wait()),
        "stream.bargeIn: must be followed by an input, not wait",
    ),
    (lambda: ncco.ncco(ncco.transfer("CON-2"), ncco.talk("Bye")), "transfer.action: must be the last action"),
]


@pytest.mark.parametrize(("build", "message"), FAILURES, ids=[m for _, m in FAILURES])
def test_each_rule_fails_with_action_field_and_rule(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ncco.NccoError, match=f"^{re.escape(message)}"):
        build()


def test_error_carries_its_parts() -> None:
    with pytest.raises(ncco.NccoError) as caught:
        ncco.record(timeout=1)
    assert (caught.value.action, caught.value.field) == ("record", "timeOut")
    assert caught.value.rule == "must be between 3 and 7200"


# --- rules that span actions, accepted cases -----------------------------------------------------


def test_barge_in_carries_through_talk_and_stream_to_the_input() -> None:
    built = ncco.ncco(
        ncco.talk("Welcome.", barge_in=True),
        ncco.stream(AUDIO),
        ncco.talk("Press 1 for sales."),
        ncco.input_(dtmf=ncco.dtmf(max_digits=1), event_url=URL),
        ncco.connect(ncco.phone(P)),
    )
    assert [a["action"] for a in built] == ["talk", "stream", "talk", "input", "connect"]


def test_transfer_last_is_fine() -> None:
    assert ncco.ncco(ncco.talk("Moving you."), ncco.transfer("CON-2"))[-1]["action"] == "transfer"


def test_built_parts_are_read_only() -> None:
    """What was validated cannot be changed afterwards (e.g. a number swapped after the check)."""
    endpoint = ncco.phone(P)
    action = ncco.connect(endpoint)
    for edit in (
        lambda: endpoint.__setitem__("number", "19005550100"),
        lambda: action.update(limit=99999),
        lambda: action.pop("endpoint"),
        lambda: ncco.talk("hi").setdefault("level", 99),
    ):
        with pytest.raises(TypeError, match="read-only"):
            edit()
    with pytest.raises(AttributeError):
        action["endpoint"].append(ncco.phone(P))  # a tuple until ncco() hands out lists


def test_free_form_data_is_copied_deeply() -> None:
    headers = {"x": {"y": [1]}}
    socket = ncco.websocket("wss://a.example.com", headers=headers)
    headers["x"]["y"].append(2)
    assert ncco.ncco(ncco.connect(socket))[0]["endpoint"][0]["headers"] == {"x": {"y": [1]}}


def test_ncco_hands_out_plain_copies() -> None:
    built = ncco.ncco(ncco.connect(ncco.phone(P)))
    built[0]["endpoint"][0]["number"] = "19005550100"  # the caller's copy: editable, and only theirs
    assert ncco.ncco(ncco.connect(ncco.phone(P)))[0]["endpoint"][0]["number"] == P


def test_false_flags_are_not_conflicts() -> None:
    assert (
        ncco.connect(ncco.phone(P), from_="14155550100", random_from_number=False)["randomFromNumber"]
        is False
    )
    assert ncco.conversation("c", mute=False, can_speak=["a"])["mute"] is False


def test_wait_timeout_range_follows_java_and_node_sdks() -> None:
    """0.1-7200 s [JAVA WaitAction, NODE], not .NET's 2-60: the API clamps outside values."""
    assert ncco.wait(0.1)["timeout"] == 0.1
    assert ncco.wait(120)["timeout"] == 120


def test_transfer_key_is_conversation_id_camel_case() -> None:
    """`conversationId` [JAVA TransferAction, NET]; the Ruby SDK's `conversation_id` is the outlier."""
    assert "conversationId" in ncco.transfer("CON-2")


def test_advanced_machine_detection_key_and_beep_timeout() -> None:
    """Connect key `advanced_machine_detection` [NET Nccos 2026-06][RB connect.rb 2026-05], as in
    the REST create-call field [OAS-V]; only the Python SDK's model says `advancedMachineDetection`.
    beep_timeout 45-120 [PY][RB] on connect (the REST spec's 30 [OAS-V] is for POST /calls).
    Mode `default` is allowed [OAS-V][PY][NODE] (.NET lacks it)."""
    action = ncco.connect(
        ncco.phone(P),
        advanced_machine_detection=ncco.advanced_machine_detection(mode="default", beep_timeout=45),
    )
    assert action["advanced_machine_detection"] == {"mode": "default", "beep_timeout": 45}
    with pytest.raises(ncco.NccoError, match="between 45 and 120"):
        ncco.advanced_machine_detection(beep_timeout=30)


def test_sip_standard_headers_key() -> None:
    """`standard_headers` [OAS-V v1.10 endpoint schema, NET]; `standardHeaders` appears only in SDK models."""
    assert "standard_headers" in ncco.sip("sip:a@b.com", standard_headers={"User-to-User": "x"})


def test_speech_ranges_follow_current_sdks() -> None:
    """startTimeout 1-60 [PY] (2021 docs and Ruby: 1-10); endOnSilence 0.4-10 [NR21][PY]
    (.NET: 1-10); sensitivity 0-100 [PY]."""
    assert ncco.speech(start_timeout=60, end_on_silence=0.4, sensitivity=0) == {
        "endOnSilence": 0.4,
        "startTimeout": 60,
        "sensitivity": 0,
    }


def test_dtmf_max_digits_is_20_and_end_on_key_takes_zero() -> None:
    """maxDigits <= 20 [NR21][PY][JAVA] (Ruby: 22); endOnKey any digit, * or # [NR21][PY] (Ruby: 1-9)."""
    assert ncco.dtmf(max_digits=20)["maxDigits"] == 20
    assert ncco.record(end_on_key="0")["endOnKey"] == "0"


def test_talk_length_counts_text_outside_ssml() -> None:
    """1500 characters outside SSML [NR21][NRcur]; the Python SDK also counts the tags."""
    text = "<speak>" + "a" * 1500 + "</speak>"
    assert ncco.talk(text)["text"] == text


def test_connect_timeout_range_is_the_ringing_timer_range() -> None:
    """No source bounds connect.timeout (default 60 [NR21]); it is the ringing time that the REST
    API calls ringing_timer, 1-120 s [OAS-V][PY requests.py], so the same range applies."""
    assert ncco.connect(ncco.phone(P), timeout=1)["timeout"] == 1
    assert ncco.connect(ncco.phone(P), timeout=120)["timeout"] == 120


def test_connect_from_must_be_a_number() -> None:
    """E.164 Vonage number [NR21][NET]; a tutorial's "from": "Vonage" makes caller ID unknown."""
    with pytest.raises(ncco.NccoError, match=r"^connect\.from: "):
        ncco.connect(ncco.phone(P), from_="Vonage")


def test_websocket_rate_24000() -> None:
    """audio/l16;rate=24000 [OAS-V][RB], newer than the 8000/16000 of [NR21]."""
    assert ncco.websocket("wss://x.example.com", content_type="audio/l16;rate=24000")[
        "content-type"
    ].endswith("24000")
