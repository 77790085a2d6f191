"""NCCO builder: plain dicts with Vonage's wire names, validated when built.

Every action and endpoint of the NCCO reference is a function that returns a
`dict`; `ncco()` checks the rules that span actions and returns a `list`.
A mistake raises NccoError naming the action, the field and the rule, at build
time, because Vonage answers a bad NCCO by dropping the call.

Optional fields are emitted only when given, in the order of the parameters,
so the same call always serialises to the same JSON. Python names are
snake_case (`barge_in`, `from_`); the dicts use Vonage's names (`bargeIn`,
`from`, `content-type`). No third-party imports: the answer path stays light.

Where Vonage's sources (the NCCO reference, the OpenAPI definition and the
server SDKs) disagree, the current API wins; tests/unit/test_ncco.py pins each
choice and names its source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

Action = dict[str, Any]
Endpoint = dict[str, Any]

TALK_MAX_CHARS = 1500  # outside SSML markup
_SSML_TAG = re.compile(r"<[^>]*>")
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")  # no '+', 7-15 digits
_DTMF_ANSWER = re.compile(r"[0-9*#p]+")  # p = 500 ms pause
_END_ON_KEY = re.compile(r"[0-9*#]")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # BCP-47, e.g. en-US, cmn-CN
_WEBSOCKET_CONTENT_TYPES = ("audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000")
_METHODS = ("GET", "POST")
_SIP_URI = re.compile(r"sips?:[^\s@]+@[^\s@;]+(;[^\s]*)?|sips?:[^\s@;]+(;[^\s]*)?")  # sip:user@host;params
MAX_URL_CHARS = 2048


class NccoError(ValueError):
    """A rule of the NCCO reference was broken; names the action, field and rule."""

    def __init__(self, action: str, field: str, rule: str) -> None:
        super().__init__(f"{action}.{field}: {rule}")
        self.action = action
        self.field = field
        self.rule = rule


MAX_DEPTH = 32  # nesting allowed in free-form JSON (headers, notify payload)


class _Frozen(dict):  # type: ignore[type-arg]
    """A read-only dict this module built and validated; ncco() hands out plain copies.

    `built_by` names the function that built it, so a speech() cannot pass for
    a dtmf(), and nothing can be edited after it was checked.
    """

    __slots__ = ("built_by",)

    def __init__(self, items: Any = (), built_by: str | None = None) -> None:
        super().__init__(items)
        self.built_by = built_by

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("NCCO parts are read-only once built: build a new one instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only  # type: ignore[assignment]


# --- field checks: each returns the value as it goes on the wire --------------------------------


def _frozen_fields(fields: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Given fields only; lists become tuples so a built part cannot be appended to."""
    return [
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in fields
        if value is not None
    ]


def _emit(action: str, fields: Sequence[tuple[str, Any]], kind: str = "action") -> dict[str, Any]:
    return _Frozen([(kind, action), *_frozen_fields(fields)], built_by=action)


def _options(builder: str, fields: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A validated sub-object (dtmf, speech, transcription…)."""
    return _Frozen(_frozen_fields(fields), built_by=builder)


def _built(where: str, field: str, value: Any, builder: str) -> dict[str, Any] | None:
    if value is not None and getattr(value, "built_by", None) != builder:
        raise NccoError(where, field, f"must be built by ncco.{builder}()")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _json_value(where: str, field: str, value: Any, depth: int = 0) -> Any:
    """A deep, read-only copy of free-form JSON data, or NccoError if it is not JSON."""
    if depth > MAX_DEPTH:
        raise NccoError(where, field, f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NccoError(where, field, "must hold JSON values only (no NaN or infinity)")
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_json_value(where, field, item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise NccoError(where, field, "must have text keys only")
        return _Frozen({key: _json_value(where, field, item, depth + 1) for key, item in value.items()})
    raise NccoError(where, field, f"must hold JSON values only, not {type(value).__name__}")


def _bool(where: str, field: str, value: bool | None) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise NccoError(where, field, "must be true or false")
    return value


def _number(
    where: str, field: str, value: float | None, low: float, high: float, *, integer: bool = False
) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NccoError(where, field, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):  # ints: any size, no overflow
        raise NccoError(where, field, "must be a number")
    if integer and not isinstance(value, int):
        raise NccoError(where, field, "must be a whole number")
    if not low <= value <= high:
        rule = f"must be at least {low}" if high == math.inf else f"must be between {low} and {high}"
        raise NccoError(where, field, rule)
    return value


def _choice(where: str, field: str, value: str | None, allowed: Sequence[str]) -> str | None:
    if value is not None and value not in allowed:
        raise NccoError(where, field, f"must be one of {', '.join(allowed)}")
    return value


def _text(where: str, field: str, value: str | None, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise NccoError(where, field, "is required" if value is None else "must be non-empty text")
    return value


def _url(where: str, field: str, value: str | None, schemes: Sequence[str] = ("http", "https")) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. "http://[::1" (unbalanced IPv6 brackets)
        parts = None
    if (
        parts is None
        or parts.scheme not in schemes
        or not parts.netloc
        or len(value) > MAX_URL_CHARS
        or any(c.isspace() for c in value)
    ):
        raise NccoError(where, field, f"must be an absolute {'/'.join(schemes)} URL")
    return value


def _sip_uri(where: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _SIP_URI.fullmatch(value)):
        raise NccoError(where, "uri", "must be a SIP URI such as sip:user@example.com")
    return value


def _url_list(where: str, field: str, value: str | Sequence[str] | None) -> list[str] | None:
    """Vonage wants these as a one-URL array, always; a plain string is accepted."""
    if value is None:
        return None
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, (list, tuple)) or len(urls) != 1:
        raise NccoError(where, field, "must be exactly one URL")
    return [_url(where, field, urls[0])]  # type: ignore[list-item]


def _method(where: str, value: str | None) -> str | None:
    return _choice(where, "eventMethod", value, _METHODS)


def _e164(where: str, field: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _E164_DIGITS.fullmatch(value)):
        raise NccoError(where, field, "must be E.164 digits without '+' (7-15 digits)")
    return value


def _list_of_text(value: Any, *, allow_empty: bool) -> bool:
    """A list (or tuple) of strings; a bare string is not a list of strings here."""
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) and (allow_empty or v) for v in value)


def _leg_ids(where: str, field: str, value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not _list_of_text(value, allow_empty=False):
        raise NccoError(where, field, "must be a list of leg UUIDs")
    return list(value)


def _object(where: str, field: str, value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise NccoError(where, field, "must be an object")
    return _json_value(where, field, value)


# --- actions -------------------------------------------------------------------------------------


def record(
    *,
    format: str | None = None,
    split: str | None = None,
    channels: int | None = None,
    end_on_silence: int | None = None,
    end_on_key: str | None = None,
    timeout: int | None = None,
    beep_start: bool | None = None,
    event_url: str | Sequence[str] | None = None,
    event_method: str | None = None,
    transcription: Mapping[str, Any] | None = None,
) -> Action:
    """Record the call (asynchronous); the recording's URL arrives at `event_url`."""
    where = "record"
    if channels is not None and split is None:
        raise NccoError(where, "channels", "needs split='conversation'")
    if end_on_key is not None and (not isinstance(end_on_key, str) or not _END_ON_KEY.fullmatch(end_on_key)):
        raise NccoError(where, "endOnKey", "must be one of 0-9, * or #")
    return _emit(
        where,
        [
            ("format", _choice(where, "format", format, ("mp3", "wav", "ogg"))),
            ("split", _choice(where, "split", split, ("conversation",))),
            ("channels", _number(where, "channels", channels, 1, 32, integer=True)),
            ("endOnSilence", _number(where, "endOnSilence", end_on_silence, 3, 10, integer=True)),
            ("endOnKey", end_on_key),
            ("timeOut", _number(where, "timeOut", timeout, 3, 7200, integer=True)),
            ("beepStart", _bool(where, "beepStart", beep_start)),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
            ("transcription", _built(where, "transcription", transcription, "transcription")),
        ],
    )


def transcription(
    *,
    language: str | None = None,
    event_url: str | Sequence[str] | None = None,
    event_method: str | None = None,
    sentiment_analysis: bool | None = None,
) -> dict[str, Any]:
    """Options for `record(transcription=...)`: transcribe the recording."""
    where = "record.transcription"
    return _options(
        "transcription",
        [
            ("language", _language(where, language)),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
            ("sentimentAnalysis", _bool(where, "sentimentAnalysis", sentiment_analysis)),
        ],
    )


def conversation(
    name: str,
    *,
    music_on_hold_url: str | None = None,
    start_on_enter: bool | None = None,
    end_on_exit: bool | None = None,
    record: bool | None = None,
    can_speak: Sequence[str] | None = None,
    can_hear: Sequence[str] | None = None,
    mute: bool | None = None,
    event_url: str | Sequence[str] | None = None,
    event_method: str | None = None,
) -> Action:
    """Join a named conference (created on first use)."""
    where = "conversation"
    if mute and can_speak is not None:
        raise NccoError(where, "mute", "cannot be combined with canSpeak")
    hold = _url(where, "musicOnHoldUrl", music_on_hold_url)
    return _emit(
        where,
        [
            ("name", _text(where, "name", name, required=True)),
            ("musicOnHoldUrl", None if hold is None else [hold]),
            ("startOnEnter", _bool(where, "startOnEnter", start_on_enter)),
            ("endOnExit", _bool(where, "endOnExit", end_on_exit)),
            ("record", _bool(where, "record", record)),
            ("canSpeak", _leg_ids(where, "canSpeak", can_speak)),
            ("canHear", _leg_ids(where, "canHear", can_hear)),
            ("mute", _bool(where, "mute", mute)),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
        ],
    )


def connect(
    endpoint: Endpoint,
    *,
    from_: str | None = None,
    random_from_number: bool | None = None,
    event_type: str | None = None,
    timeout: int | None = None,
    limit: int | None = None,
    machine_detection: str | None = None,
    advanced_machine_detection: Mapping[str, Any] | None = None,
    event_url: str | Sequence[str] | None = None,
    event_method: str | None = None,
    ringback_tone: str | None = None,
) -> Action:
    """Connect the call to one endpoint built by phone(), app(), websocket(), sip() or vbc()."""
    where = "connect"
    if isinstance(endpoint, Sequence) and not isinstance(endpoint, str):
        raise NccoError(where, "endpoint", "takes exactly one endpoint; chain connect actions to try several")
    if getattr(endpoint, "built_by", None) not in _ENDPOINT_TYPES:
        raise NccoError(where, "endpoint", "must be built by phone(), app(), websocket(), sip() or vbc()")
    if from_ is not None and random_from_number:
        raise NccoError(where, "from", "give from or randomFromNumber, not both")
    return _emit(
        where,
        [
            ("timeout", _number(where, "timeout", timeout, 1, 120)),
            ("limit", _number(where, "limit", limit, 1, 7200)),
            ("from", _e164(where, "from", from_)),
            ("randomFromNumber", _bool(where, "randomFromNumber", random_from_number)),
            ("eventType", _choice(where, "eventType", event_type, ("synchronous",))),
            (
                "machineDetection",
                _choice(where, "machineDetection", machine_detection, ("continue", "hangup")),
            ),
            (
                "advanced_machine_detection",
                _built(
                    where,
                    "advanced_machine_detection",
                    advanced_machine_detection,
                    "advanced_machine_detection",
                ),
            ),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
            ("ringbackTone", _url(where, "ringbackTone", ringback_tone)),
            ("endpoint", [endpoint]),
        ],
    )


def advanced_machine_detection(
    *, behavior: str | None = None, mode: str | None = None, beep_timeout: int | None = None
) -> dict[str, Any]:
    """For `connect(advanced_machine_detection=...)`; overrides machine_detection (chargeable)."""
    where = "connect.advanced_machine_detection"
    return _options(
        "advanced_machine_detection",
        [
            ("behavior", _choice(where, "behavior", behavior, ("continue", "hangup"))),
            ("mode", _choice(where, "mode", mode, ("default", "detect", "detect_beep"))),
            ("beep_timeout", _number(where, "beep_timeout", beep_timeout, 45, 120, integer=True)),
        ],
    )


def _language(where: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _LANGUAGE.fullmatch(value)):
        raise NccoError(where, "language", "must be a BCP-47 language tag such as en-US")
    return value


# --- rules shared with the settings, so a stage setting is checked by the rule its NCCO will meet ---


def check_talk_text(text: str) -> str:
    """Text `talk` accepts: non-empty, at most TALK_MAX_CHARS outside SSML markup."""
    _text("talk", "text", text, required=True)
    spoken = _SSML_TAG.sub("", text) if text.lstrip().startswith("<speak") else text
    if len(spoken) > TALK_MAX_CHARS:
        raise NccoError("talk", "text", f"at most {TALK_MAX_CHARS} characters outside SSML")
    return text


def check_language(value: str) -> str:
    """A language tag `talk` and `speech` accept (BCP-47, e.g. en-US)."""
    return _language("talk", value)  # type: ignore[return-value]


def check_url(value: str) -> str:
    """A URL Vonage accepts for a webhook (eventUrl, actionOnEnd…): absolute http(s)."""
    return _url("connect", "eventUrl", value)  # type: ignore[return-value]


def talk(
    text: str,
    *,
    barge_in: bool | None = None,
    loop: int | None = None,
    level: float | None = None,
    language: str | None = None,
    style: int | None = None,
    premium: bool | None = None,
) -> Action:
    """Speak text (plain or SSML in <speak>) with text-to-speech."""
    where = "talk"
    check_talk_text(text)
    return _emit(
        where,
        [
            ("text", text),
            ("bargeIn", _bool(where, "bargeIn", barge_in)),
            ("loop", _number(where, "loop", loop, 0, math.inf, integer=True)),
            ("level", _number(where, "level", level, -1, 1)),
            ("language", _language(where, language)),
            ("style", _number(where, "style", style, 0, math.inf, integer=True)),
            ("premium", _bool(where, "premium", premium)),
        ],
    )


def stream(
    url: str,
    *,
    level: float | None = None,
    barge_in: bool | None = None,
    loop: int | None = None,
) -> Action:
    """Play an audio file (MP3 or 16-bit WAV) into the call."""
    where = "stream"
    return _emit(
        where,
        [
            ("streamUrl", [_url(where, "streamUrl", _text(where, "streamUrl", url, required=True))]),
            ("level", _number(where, "level", level, -1, 1)),
            ("bargeIn", _bool(where, "bargeIn", barge_in)),
            ("loop", _number(where, "loop", loop, 0, math.inf, integer=True)),
        ],
    )


def dtmf(
    *, time_out: float | None = None, max_digits: int | None = None, submit_on_hash: bool | None = None
) -> dict[str, Any]:
    """DTMF settings for input_(dtmf=...)."""
    where = "input.dtmf"
    return _options(
        "dtmf",
        [
            ("timeOut", _number(where, "timeOut", time_out, 0, 10)),
            ("maxDigits", _number(where, "maxDigits", max_digits, 1, 20, integer=True)),
            ("submitOnHash", _bool(where, "submitOnHash", submit_on_hash)),
        ],
    )


def speech(
    *,
    uuid: str | None = None,
    end_on_silence: float | None = None,
    language: str | None = None,
    context: Sequence[str] | None = None,
    start_timeout: float | None = None,
    max_duration: float | None = None,
    save_audio: bool | None = None,
    sensitivity: int | None = None,
) -> dict[str, Any]:
    """Speech recognition settings for input_(speech=...)."""
    where = "input.speech"
    if context is not None and not _list_of_text(context, allow_empty=True):
        raise NccoError(where, "context", "must be a list of words or phrases")
    return _options(
        "speech",
        [
            ("uuid", None if uuid is None else [_text(where, "uuid", uuid)]),
            ("endOnSilence", _number(where, "endOnSilence", end_on_silence, 0.4, 10)),
            ("language", _language(where, language)),
            ("context", None if context is None else list(context)),
            ("startTimeout", _number(where, "startTimeout", start_timeout, 1, 60)),
            ("maxDuration", _number(where, "maxDuration", max_duration, 1, 60)),
            ("saveAudio", _bool(where, "saveAudio", save_audio)),
            ("sensitivity", _number(where, "sensitivity", sensitivity, 0, 100, integer=True)),
        ],
    )


def input_(
    *,
    dtmf: Mapping[str, Any] | bool | None = None,
    speech: Mapping[str, Any] | bool | None = None,
    event_url: str | Sequence[str] | None = None,
    event_method: str | None = None,
    mode: str | None = None,
) -> Action:
    """Collect DTMF and/or speech; `True` enables one with Vonage's defaults.

    Named input_ (like from_) because `input` is a Python builtin.
    """
    where = "input"
    kinds = [name for name, value in (("dtmf", dtmf), ("speech", speech)) if value not in (None, False)]
    if not kinds:
        raise NccoError(where, "type", "needs dtmf, speech or both")
    _choice(where, "mode", mode, ("synchronous", "asynchronous"))
    if mode == "asynchronous":
        if speech not in (None, False):
            raise NccoError(where, "mode", "asynchronous mode takes DTMF only")
        if isinstance(dtmf, Mapping) and dtmf:
            raise NccoError(where, "dtmf", "must be left blank in asynchronous mode")
    for name, value in (("dtmf", dtmf), ("speech", speech)):
        if not isinstance(value, bool) and value is not None:
            _built(where, name, value, name)
    return _emit(
        where,
        [
            ("type", kinds),
            ("dtmf", dtmf if isinstance(dtmf, Mapping) and dtmf else None),
            ("speech", speech if isinstance(speech, Mapping) and speech else None),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
            ("mode", mode),
        ],
    )


def notify(
    payload: Mapping[str, Any], event_url: str | Sequence[str], *, event_method: str | None = None
) -> Action:
    """Send `payload` to `event_url`; its reply may replace the rest of the NCCO."""
    where = "notify"
    if payload is None:
        raise NccoError(where, "payload", "is required")
    payload = _object(where, "payload", payload)
    if event_url is None:
        raise NccoError(where, "eventUrl", "is required")
    return _emit(
        where,
        [
            ("payload", payload),
            ("eventUrl", _url_list(where, "eventUrl", event_url)),
            ("eventMethod", _method(where, event_method)),
        ],
    )


def wait(timeout: float | None = None) -> Action:
    """Pause the NCCO for `timeout` seconds (Vonage's default: 10)."""
    return _emit("wait", [("timeout", _number("wait", "timeout", timeout, 0.1, 7200))])


def transfer(
    conversation_id: str,
    *,
    can_hear: Sequence[str] | None = None,
    can_speak: Sequence[str] | None = None,
    mute: bool | None = None,
) -> Action:
    """Move every leg of this call into an existing conversation; ends this NCCO."""
    where = "transfer"
    if mute and can_speak is not None:
        raise NccoError(where, "mute", "cannot be combined with canSpeak")
    return _emit(
        where,
        [
            ("conversationId", _text(where, "conversationId", conversation_id, required=True)),
            ("canHear", _leg_ids(where, "canHear", can_hear)),
            ("canSpeak", _leg_ids(where, "canSpeak", can_speak)),
            ("mute", _bool(where, "mute", mute)),
        ],
    )


# --- connect endpoints ---------------------------------------------------------------------------


def phone(
    number: str,
    *,
    dtmf_answer: str | None = None,
    on_answer_url: str | None = None,
    on_answer_ringback_tone: str | None = None,
    shaken: str | None = None,
) -> Endpoint:
    """A phone number; `on_answer_url` serves an NCCO played to the callee before joining."""
    where = "phone"
    _e164(where, "number", _text(where, "number", number, required=True))
    if dtmf_answer is not None and (
        not isinstance(dtmf_answer, str) or not _DTMF_ANSWER.fullmatch(dtmf_answer)
    ):
        raise NccoError(where, "dtmfAnswer", "must be digits, *, # or p (500 ms pause)")
    if on_answer_ringback_tone is not None and on_answer_url is None:
        raise NccoError(where, "onAnswer", "ringbackTone needs an onAnswer url")
    on_answer = None
    if on_answer_url is not None:
        on_answer = _options(
            "onAnswer",
            [
                ("url", _url(where, "onAnswer.url", on_answer_url)),
                ("ringbackTone", _url(where, "onAnswer.ringbackTone", on_answer_ringback_tone)),
            ],
        )
    return _emit(
        "phone",
        [
            ("number", number),
            ("dtmfAnswer", dtmf_answer),
            ("onAnswer", on_answer),
            ("shaken", _text(where, "shaken", shaken)),
        ],
        kind="type",
    )


def app(user: str) -> Endpoint:
    """A Client SDK user of this Vonage application."""
    return _emit("app", [("user", _text("app", "user", user, required=True))], kind="type")


def websocket(
    uri: str,
    *,
    content_type: str = "audio/l16;rate=16000",
    headers: Mapping[str, Any] | None = None,
    authorization: Mapping[str, Any] | None = None,
) -> Endpoint:
    """Stream the call's audio to a WebSocket server (linear PCM)."""
    where = "websocket"
    _text(where, "uri", uri, required=True)
    return _emit(
        where,
        [
            ("uri", _url(where, "uri", uri, ("ws", "wss"))),
            ("content-type", _choice(where, "content-type", content_type, _WEBSOCKET_CONTENT_TYPES)),
            ("headers", _object(where, "headers", headers)),
            ("authorization", _built(where, "authorization", authorization, "websocket_authorization")),
        ],
        kind="type",
    )


def websocket_authorization(kind: str = "vonage", value: str | None = None) -> dict[str, Any]:
    """`vonage` sends the signed-webhook JWT on the handshake; `custom` sends `value`."""
    where = "websocket.authorization"
    _choice(where, "type", kind, ("vonage", "custom"))
    if kind == "custom":
        value = _text(where, "value", value, required=True)
        return _options("websocket_authorization", [("type", "custom"), ("value", value)])
    if value is not None:
        raise NccoError(where, "value", "is only for type custom")
    return _options("websocket_authorization", [("type", "vonage")])


def sip(
    uri: str | None = None,
    *,
    user: str | None = None,
    domain: str | None = None,
    headers: Mapping[str, str] | None = None,
    standard_headers: Mapping[str, str] | None = None,
) -> Endpoint:
    """A SIP URI, or a user at a Vonage SIP domain (trunk); headers go as X-<key>."""
    where = "sip"
    if (uri is None) == (user is None or domain is None):
        raise NccoError(where, "uri", "give either uri, or both user and domain")
    if (user is None) != (domain is None):
        raise NccoError(where, "domain", "user and domain go together")
    return _emit(
        where,
        [
            ("uri", _sip_uri(where, uri)),
            ("user", _text(where, "user", user)),
            ("domain", _text(where, "domain", domain)),
            ("headers", _object(where, "headers", headers)),
            ("standard_headers", _object(where, "standard_headers", standard_headers)),
        ],
        kind="type",
    )


def vbc(extension: str) -> Endpoint:
    """A Vonage Business Communications extension."""
    where = "vbc"
    if not isinstance(extension, str) or not re.fullmatch(r"[0-9]+", extension):
        raise NccoError(where, "extension", "must be digits")
    return _emit(where, [("extension", extension)], kind="type")


_ENDPOINT_TYPES = ("phone", "app", "websocket", "sip", "vbc")


# --- the whole NCCO ------------------------------------------------------------------------------


def ncco(*actions: Action) -> list[Action]:
    """Assemble actions into an NCCO, checking the rules that span actions."""
    if not actions:
        raise NccoError("ncco", "actions", "must contain at least one action")
    barge_in_from = None
    for index, action in enumerate(actions):
        name = getattr(action, "built_by", None)
        if name not in _ACTIONS:
            raise NccoError("ncco", f"actions[{index}]", "must be built by this module's action functions")
        if name == "transfer" and index != len(actions) - 1:
            raise NccoError("transfer", "action", "must be the last action: nothing runs after a transfer")
        if name in ("talk", "stream"):
            if action.get("bargeIn") is True and barge_in_from is None:
                barge_in_from = index
        elif name == "input":
            barge_in_from = None
        elif barge_in_from is not None:
            raise NccoError(
                actions[barge_in_from]["action"], "bargeIn", f"must be followed by an input, not {name}"
            )
    if barge_in_from is not None:
        raise NccoError(actions[barge_in_from]["action"], "bargeIn", "must be followed by an input")
    return _plain(list(actions))


_ACTIONS = ("record", "conversation", "connect", "talk", "stream", "input", "notify", "wait", "transfer")
