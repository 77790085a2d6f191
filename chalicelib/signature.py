"""Vonage's signed webhooks: is this request from Vonage, and unchanged? Pure: PyJWT and hashlib.

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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def _import_pyjwt_without_cryptography() -> Any:
    """PyJWT imports `cryptography` (about 100 ms) whenever it is installed, for algorithms HS256
    does not use; only POST /token needs it, and imports its own PyJWT (chalicelib/tokens.py).
    A None in sys.modules makes `import cryptography` raise ModuleNotFoundError, which PyJWT
    takes as "not installed"."""
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        import jwt  # already imported one way or the other: nothing to save

        return jwt
    sys.modules["cryptography"] = None  # type: ignore[assignment]
    try:
        import jwt
    finally:
        del sys.modules["cryptography"]
    return jwt


jwt = _import_pyjwt_without_cryptography()

ALGORITHM = "HS256"
ISSUER = "Vonage"
FUTURE_LEEWAY_S = 30  # clock skew allowed between Vonage and us
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
MAX_TOKEN_CHARS = 8192


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (any case of "Bearer"); None for
    any other scheme or an empty token. Shared by the webhooks and POST /token."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class SignatureError(Exception):
    """The request is not provably from Vonage; `str()` is the short reason a 401 gives."""


def _compact(value: Any) -> bytes:
    """JSON as JavaScript's JSON.stringify writes it: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_candidates(
    query: Mapping[str, str] | None, body: bytes | None, own_keys: frozenset[str] = frozenset()
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
    """
    query = dict(query or {})
    theirs = {key: value for key, value in query.items() if key not in own_keys}
    if not body or not body.strip():
        variants = [query, theirs] if theirs != query else [query]
        return [c for c in (_compact_or_none(v) for v in variants) if c is not None]
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
    if not isinstance(expected, str):
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
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # ValueError: UnicodeError, a lone surrogate
        raise SignatureError("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise SignatureError(f"token algorithm must be {ALGORITHM}")
    claims: dict[str, Any] | None = None
    for secret in secrets:
        try:
            # Times are checked below, against our own clock (testable, and with our leeway).
            claims = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise SignatureError("malformed token") from exc
    if claims is None:
        raise SignatureError("signature does not match")
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
    if "payload_hash" in claims and not _payload_matches(
        claims["payload_hash"], payload_candidates(query, body, own_keys)
    ):
        raise SignatureError("payload does not match payload_hash")
    return claims


def sign(
    secret: str,
    issued_at: float,
    query: Mapping[str, str] | None = None,
    body: bytes | None = None,
    own_keys: frozenset[str] = frozenset(),
    **claims: Any,
) -> str:
    """A token as Vonage makes one (for `make simulate` and the tests): iat, iss, payload_hash.

    A request whose query and body no payload can cover gets a hash of nothing: unverifiable.
    """
    signed = payload_candidates(query, body, own_keys)
    payload = hashlib.sha256(signed[0] if signed else b"").hexdigest()
    return jwt.encode(
        {"iat": int(issued_at), "iss": ISSUER, "payload_hash": payload, **claims}, secret, algorithm=ALGORITHM
    )
