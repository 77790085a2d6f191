"""Vonage's signed webhooks: is this request from Vonage, and unchanged? Pure: the standard library.

Vonage puts a JWT in `Authorization: Bearer …`, signed HS256 with the account's
signature secret (not the application's private key), with claims `iat`,
`jti`, `iss` ("Vonage"), `api_key`, `application_id` and `payload_hash`: the
SHA-256 hex of the request's payload as compact JSON, the query parameters
(GET) or the body (POST), in the order received. Sources: Vonage developer docs
"Webhooks: decoding signed webhooks", and Vonage support "How do I verify that
the Voice API Webhook request and its payload has not been tampered during
transit?".

The token has no `exp`, so freshness comes from `iat`: older than the allowed
age is a replay, later than a small leeway is a forgery or a broken clock.

HS256 is the one algorithm accepted, so the token is checked here with hmac, hashlib, base64
and json (RFC 7515 §7.1 compact serialisation, RFC 7519 claims), not with PyJWT, which imports
`cryptography` whenever it is installed, for algorithms HS256 does not use: `import jwt` costs
a cold start some 85 ms on CPython 3.13, this whole module some 18 ms. Only POST /token needs
those algorithms (chalicelib/tokens.py imports PyJWT itself).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

ALGORITHM = "HS256"
ISSUER = "Vonage"
FUTURE_LEEWAY_S = 30  # clock skew allowed between Vonage and us
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
MAX_TOKEN_CHARS = 8192

# RFC 7515 §2: base64url, the URL-safe alphabet without '=' padding (RFC 4648 §5). Explicit
# ranges, not \w: a str pattern's \w would also match non-ASCII letters and digits.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (any case of "Bearer"); None for
    any other scheme or an empty token. Shared by the webhooks and POST /token."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class SignatureError(Exception):
    """The request is not provably from Vonage; `str()` is the short reason a 401 gives."""


def _b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64url_decode(segment: str) -> bytes:
    """A base64url segment (RFC 7515 §2), strictly: the URL-safe alphabet only, no '=' padding,
    no length of 1 mod 4, and no bits set past the last byte, so that the bytes have one
    encoding only (a decoder that ignores those bits lets a token change and still verify).
    ValueError otherwise."""
    if len(segment) % 4 == 1 or not _BASE64URL.fullmatch(segment):
        raise ValueError("not base64url")
    decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64url_encode(decoded) != segment.encode("ascii"):
        raise ValueError("not canonical base64url: bits set past the last byte")
    return decoded


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


_JSON = json.JSONDecoder(parse_constant=_refuse_constant)  # one decoder: json.loads would make one a call


def _json_object(data: bytes) -> dict[str, Any]:
    """A JOSE header or a claims set: a JSON object in UTF-8 (RFC 7515 §4, RFC 7519 §7.2).
    ValueError (UnicodeDecodeError, JSONDecodeError, an integer past Python's digit limit, a
    NaN or Infinity) or RecursionError otherwise. Duplicate names: the last one, as RFC 7519 §4
    allows (and PyJWT does)."""
    value = _JSON.decode(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _header_understood(header: dict[str, Any]) -> bool:
    """No extension this check does not implement (RFC 7515 §4.1.11: `crit`; RFC 7797: `b64`
    false, an unencoded payload) and a `kid`, if any, that is a string (as PyJWT required)."""
    return "crit" not in header and header.get("b64", True) is True and isinstance(header.get("kid", ""), str)


def _mac(secret: str, signing_input: bytes) -> bytes:
    """HS256 (RFC 7518 §3.2): HMAC-SHA256 keyed with the secret's UTF-8 bytes, as PyJWT keys it."""
    return hmac.digest(secret.encode("utf-8"), signing_input, "sha256")


# The header `sign` writes, as PyJWT's jwt.encode writes it: compact JSON, names sorted.
_HEADER_SEGMENT = _b64url_encode(json.dumps({"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())


def _compact(value: Any) -> bytes:
    """JSON as JavaScript's JSON.stringify writes it: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


FORM = "application/x-www-form-urlencoded"


def is_form(content_type: str | None) -> bool:
    """Whether a body of this Content-Type is read as a form (else as JSON): the signature check
    and the handlers (webhooks.request_params) read a body the same way, by this."""
    return (content_type or "").lower().startswith(FORM)


def payload_candidates(
    query: Mapping[str, str] | None,
    body: bytes | None,
    own_keys: frozenset[str] = frozenset(),
    content_type: str | None = None,
) -> list[bytes]:
    """What Vonage may have hashed for this request, covering everything the handler will read.

    The handlers read the query and the body merged, so a payload that leaves out part of
    them must not pass: a token signed for one body would carry any query keys added to it.
    - No body: the query parameters as a compact JSON object in received order (with and
      without `own_keys`, the marks callgate puts on its own URLs, such as ?failover=1).
    - A body and no query of the sender's own: the raw body, its compact re-serialisation,
      or the query merged with it (Vonage's Node.js snippet hashes `Object.assign(query, body)`).
    - A body and query keys of the sender's own: only the merge covers both.
    Whatever cannot be written as UTF-8 JSON (a lone surrogate, nesting too deep) has no
    candidate: it was not what Vonage signed, and it must not crash the check.
    A form body (`content_type`) is read as the handlers read it, its fields as a JSON object,
    never as its raw bytes: a JSON body's token then cannot vouch for the same bytes re-sent as
    a form, which the handlers would read as other fields.
    """
    query = dict(query or {})
    theirs = {key: value for key, value in query.items() if key not in own_keys}
    if not body or not body.strip():
        variants = [query, theirs] if theirs != query else [query]
        return [c for c in (_compact_or_none(v) for v in variants) if c is not None]
    if is_form(content_type):
        try:
            fields: dict[str, str] = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return []
        merged_form = _compact_or_none({**query, **fields})
        candidates = [merged_form] if theirs else [_compact_or_none(fields), merged_form]
        return [c for c in candidates if c is not None]
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return [] if theirs else [body]
    merged = _compact_or_none({**query, **parsed}) if isinstance(parsed, dict) else None
    if theirs:
        return [merged] if merged is not None else []
    candidates = [body]
    for candidate in (_compact_or_none(parsed), merged):
        if candidate is not None:
            candidates.append(candidate)
    return candidates


def _compact_or_none(value: Any) -> bytes | None:
    try:
        return _compact(value)
    except (UnicodeEncodeError, RecursionError, ValueError):
        return None


def _payload_matches(expected: Any, candidates: Sequence[bytes]) -> bool:
    if not isinstance(expected, str) or not expected.isascii():  # compare_digest raises on non-ASCII str
        return False
    expected = expected.lower()
    return any(
        hmac.compare_digest(hashlib.sha256(candidate).hexdigest(), expected) for candidate in candidates
    )


def verify(
    authorization: str | None,
    secrets: Sequence[str],
    now: float,
    max_age_s: int,
    query: Mapping[str, str] | None = None,
    body: bytes | None = None,
    own_keys: frozenset[str] = frozenset(),
    content_type: str | None = None,
) -> dict[str, Any]:
    """The token's claims if the request is signed by one of `secrets`; SignatureError otherwise.

    `secrets`: the current signature secret first, then the previous one during a
    rotation. `now`: epoch seconds. `own_keys`: query keys callgate adds to its own URLs.
    """
    if not authorization:
        raise SignatureError("missing Authorization header")
    token = bearer_token(authorization)
    if token is None:
        raise SignatureError("Authorization is not a Bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise SignatureError("token too long")
    segments = token.split(".")
    if len(segments) != 3:  # RFC 7515 §7.1: header.payload.signature (five would be a JWE)
        raise SignatureError("malformed token")
    header_segment, payload_segment, signature_segment = segments
    try:  # every segment decodes and the header is a JSON object before anything is trusted
        header = _json_object(_b64url_decode(header_segment))
        payload = _b64url_decode(payload_segment)
        signature = _b64url_decode(signature_segment)
    except (ValueError, RecursionError) as exc:  # ValueError: binascii.Error, UnicodeError, JSON
        raise SignatureError("malformed token") from exc
    if not _header_understood(header):
        raise SignatureError("malformed token")
    if header.get("alg") != ALGORITHM:  # RFC 8725 §3.1: the algorithm is ours to fix, not the token's
        raise SignatureError(f"token algorithm must be {ALGORITHM}")
    # The segments matched _BASE64URL: ASCII only. The MAC is over the segments as received.
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not any(secret and hmac.compare_digest(_mac(secret, signing_input), signature) for secret in secrets):
        raise SignatureError("signature does not match")
    try:
        claims = _json_object(payload)
    except (ValueError, RecursionError) as exc:
        raise SignatureError("malformed token") from exc
    # RFC 7519 §4.1.2 and §4.1.7 (PyJWT refused these too): a subject and a token id are strings.
    if any(name in claims and not isinstance(claims[name], str) for name in ("sub", "jti")):
        raise SignatureError("malformed token")
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, (int, float)):
        raise SignatureError("token has no iat")
    if issued < now - max_age_s:
        raise SignatureError("token is too old")
    if issued > now + FUTURE_LEEWAY_S:
        raise SignatureError("token is issued in the future")
    expires = claims.get("exp")
    if (
        isinstance(expires, (int, float))
        and not isinstance(expires, bool)
        and expires < now - FUTURE_LEEWAY_S
    ):
        raise SignatureError("token has expired")
    if "iss" in claims and claims["iss"] != ISSUER:
        raise SignatureError("token issuer is not Vonage")
    # Vonage's token always carries payload_hash: without one a token signed for one request
    # would vouch for any body sent within the freshness window
    if "payload_hash" not in claims:
        raise SignatureError("token has no payload_hash")
    if not _payload_matches(claims["payload_hash"], payload_candidates(query, body, own_keys, content_type)):
        raise SignatureError("payload does not match payload_hash")
    return claims


def sign(
    secret: str,
    issued_at: float,
    query: Mapping[str, str] | None = None,
    body: bytes | None = None,
    own_keys: frozenset[str] = frozenset(),
    content_type: str | None = None,
    **claims: Any,
) -> str:
    """A token as Vonage makes one (for `make simulate` and the tests): iat, iss, payload_hash.

    A request whose query and body no payload can cover gets a hash of nothing: unverifiable.
    """
    signed = payload_candidates(query, body, own_keys, content_type)
    payload = hashlib.sha256(signed[0] if signed else b"").hexdigest()
    # As PyJWT's jwt.encode writes a token: compact JSON, non-ASCII escaped.
    claims_json = json.dumps(
        {"iat": int(issued_at), "iss": ISSUER, "payload_hash": payload, **claims}, separators=(",", ":")
    )
    signing_input = _HEADER_SEGMENT + b"." + _b64url_encode(claims_json.encode("utf-8"))
    return (signing_input + b"." + _b64url_encode(_mac(secret, signing_input))).decode("ascii")
