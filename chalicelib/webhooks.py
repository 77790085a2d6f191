"""Reading a Vonage webhook request: its fields, its ids, and where Vonage reaches us. Pure.

Every webhook is read the same way: the query string merged with the JSON (or form) body,
in that order (as Vonage hashes it for a signed webhook's `payload_hash`). What the fields
mean is read elsewhere: answer_request.py (the answer and fallback URLs), events.py (the
event URL).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.errors import WebhookError
from chalicelib.signature import is_form

MAX_BODY_BYTES = 256 * 1024  # a DynamoDB item is at most 400 KiB; Vonage's are < 4 KiB
# Vonage ids are ~40 ASCII characters. A key adds at most 30 bytes to the id it embeds
# (`FALLBACK#<leg>#<digest>`), so ids of at most 500 UTF-8 bytes keep every sort key inside
# DynamoDB's 1,024 bytes; 250 characters alone do not (a character may take 4 bytes).
MAX_ID_CHARS = 250
MAX_ID_BYTES = 500
# Vonage's payloads nest a few levels. Far deeper JSON still parses, but then cannot be written
# back (json.dumps recurses), so it is refused when read, before anything serialises it.
MAX_JSON_DEPTH = 64

# What callgate adds to the URLs it puts in an NCCO, outside Vonage's payload:
FAILOVER_MARK = "failover"  # the answer's connect reports to /event?failover=1 (a callback's: =voicemail)
RECORDING_MARK = "recording"  # a voicemail's record action reports to /event?recording=voicemail
VOICEMAIL = "voicemail"  # the value of either mark for a callback's voicemail
SETTLE_MARK = "settle"  # a refusal's notify reports to /event?settle=1: settle its leg (routes/settle.py)
OWN_QUERY_KEYS = frozenset({FAILOVER_MARK, RECORDING_MARK, SETTLE_MARK})

_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def public_base_url(configured: str | None, headers: Mapping[str, str], stage: str | None) -> str | None:
    """Where Vonage can reach this service: PUBLIC_BASE_URL, else the request's own address.

    Behind API Gateway the path starts with the stage (`/api`) and the scheme is
    in X-Forwarded-Proto; `chalice local` has neither. None if there is no Host.
    """
    if configured:
        return configured.rstrip("/")
    return _base_url(headers.get("host"), headers.get("x-forwarded-proto", ""), stage)


@lru_cache(maxsize=64)  # a service has a host or two: checked once each
def _base_url(host: str | None, forwarded_proto: str, stage: str | None) -> str | None:
    if not host or not _HOST.fullmatch(host):
        return None
    scheme = "https" if forwarded_proto.lower() == "https" else "http"
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    return f"{scheme}://{host}{prefix}"


def request_params(
    query: Mapping[str, str] | None, body: bytes | None, content_type: str | None
) -> dict[str, Any]:
    """The webhook's fields: query string, then a JSON (or form) body over it; WebhookError
    (400, or 413 for a body too large) for anything that cannot be read or stored back."""
    params: dict[str, Any] = dict(query) if query else {}
    # a query string can carry a lone surrogate (UTF-8 text cannot), as can a JSON \u escape
    unchecked = not all(str(key).isascii() and str(value).isascii() for key, value in params.items())
    if body and not body.isspace():
        if len(body) > MAX_BODY_BYTES:
            raise WebhookError(f"body is larger than {MAX_BODY_BYTES} bytes", status=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookError("body is not UTF-8") from exc
        if is_form(content_type):  # as the signature check read it
            params.update(parse_qsl(text, keep_blank_values=True))
            unchecked = True
        else:
            params.update(_json_object(text))
            unchecked = unchecked or "\\u" in text
    if unchecked:
        _check_utf8(params)
    return params


def _json_object(text: str) -> dict[str, Any]:
    """A JSON body that is one object of values JSON can carry back (no NaN, no 1e400)."""
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        parsed = _JSON_BODY.decode(text)
    except RecursionError as exc:
        raise WebhookError("body is not valid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise WebhookError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise WebhookError("body must be a JSON object")
    # each container has its own '{' or '[' in the text: with few of them it cannot nest deeply
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _deeper_than(parsed, MAX_JSON_DEPTH):
        raise WebhookError(f"body is not valid JSON: nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return parsed


def json_value(text: str) -> Any:
    """JSON a field carries as text (the Client SDK's custom_data), read by the body's rules:
    no NaN or 1e400, no deeper than MAX_JSON_DEPTH, UTF-8 only; WebhookError otherwise."""
    try:
        parsed = _JSON_BODY.decode(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookError(f"not valid JSON: {exc}") from exc
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _deeper_than(parsed, MAX_JSON_DEPTH):
        raise WebhookError(f"nested more than {MAX_JSON_DEPTH} levels")
    _check_utf8({"value": parsed})
    return parsed


def _check_utf8(params: Mapping[str, Any]) -> None:
    """ "\\ud800" is valid JSON (and a lone surrogate can reach a query string) but no UTF-8 text:
    it could be stored, never read back."""
    try:
        json.dumps(params, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WebhookError("request has an unpaired UTF-16 surrogate (\\ud800-\\udfff)") from exc


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON containers nest more than `limit` deep; iterative, so any depth is safe."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity, which JSON cannot carry back
        raise ValueError(f"{text[:20]} is too large for a JSON number")
    return value


_JSON_BODY = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def id_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be an id, if it cannot. One rule for every webhook: ids are strings
    (Vonage's always are; 12345 and "12345" must not become one call) short enough that every
    key embedding one fits DynamoDB's limits (keys.py: sort keys 1,024 bytes, partition 2,048)."""
    if not isinstance(value, str):
        return f"{name} must be a string"
    if len(value) > MAX_ID_CHARS:
        return f"{name} is longer than {MAX_ID_CHARS} characters"
    if value.isascii():  # a byte a character, fewer than MAX_ID_BYTES: every id Vonage sends
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{name} is not UTF-8 text"
    if size > MAX_ID_BYTES:
        return f"{name} is longer than {MAX_ID_BYTES} bytes as UTF-8"
    return None


def identifier(payload: Mapping[str, Any], name: str, other: str | None = None) -> str | None:
    """The first of the fields `name`, `other` that is present and not empty; WebhookError if it
    is no id."""
    value = payload.get(name)
    if (value is None or value == "") and other is not None:
        name, value = other, payload.get(other)
    if value is None or value == "":
        return None
    problem = id_problem(name, value)
    if problem:
        raise WebhookError(problem)
    return value  # type: ignore[no-any-return]
