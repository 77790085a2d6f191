"""POST /token: the team's own login (an OpenID Connect ID token) in, a Vonage Client SDK JWT out.

The name a user logs in to the Vonage Client SDK with is the `from_user` the answer URL's policy
limits and audits, so the service that enforces the policy also mints the login. The ID token
is checked with PyJWT against the issuer's published keys (JWKS): RS256 or ES256 only, `iss`,
`aud`, `exp`, `iat` and `nbf` with a small leeway. The Vonage JWT is RS256, signed with the
Vonage application's private key, with the claims Vonage documents for Client SDK users
(`application_id`, `iat`, `jti`, `exp`, `sub`, `acl`; Vonage developer docs, "Authentication:
JWTs and ACLs").

RS256 needs `cryptography`, and PyJWT imports it whenever it can. The webhooks' PyJWT is imported
without it (signature.py); this module imports a PyJWT of its own with it, on the first call
to the route, so `import app` and the webhooks never load it. No Chalice, no boto3: the JWKS
is fetched through a function passed in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, NamedTuple

from chalicelib.settings import Settings, https_or_local, valid_user_name
from chalicelib.signature import bearer_token

ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30  # clock skew allowed between the issuer and us
MAX_TOKEN_CHARS = 8192
MAX_JWKS_BYTES = 256 * 1024
JWKS_TIMEOUT_S = 2.0
JWKS_REFRESH_MIN_S = 30.0  # an unknown key id refetches the JWKS at most this often
JWKS_FAILURE_KEPT_S = 5.0  # a failed fetch is not retried sooner: a flood cannot hammer the issuer
JWKS_MAX_AGE_S = 3600.0  # keys are fetched again this often: a key the issuer withdrew stops working
# What a Client SDK user may do: the paths of Vonage's app-to-phone tutorial ("Generate a JWT").
ACL = {
    "paths": {
        "/*/rtc/**": {},
        "/*/users/**": {},
        "/*/conversations/**": {},
        "/*/sessions/**": {},
        "/*/devices/**": {},
        "/*/push/**": {},
        "/*/knocking/**": {},
        "/*/legs/**": {},
    }
}

Fetch = Callable[[str, float], bytes]  # (url, timeout in seconds) -> the body; raises on any failure


class TokenRejected(Exception):
    """401: the ID token is missing, malformed, or does not verify; `str()` says why."""


class UserForbidden(Exception):
    """403: a valid ID token, for a user who may not log in to the Client SDK."""


class IssuerUnavailable(Exception):
    """503: the issuer's keys cannot be fetched now, so nothing can be verified (or minted)."""


class KeyMisconfigured(Exception):
    """503: the application's private key is not one RS256 can sign with."""


class Minted(NamedTuple):
    token: str  # never logged
    user: str
    jti: str
    expires_at: str  # ISO 8601 UTC


_pyjwt: ModuleType | None = None
_pyjwt_lock = threading.Lock()
_OWN_PYJWT = "_callgate_pyjwt"  # the name this module's PyJWT is imported under


def pyjwt() -> ModuleType:
    """PyJWT imported with `cryptography`, apart from the webhooks' PyJWT (imported without it).

    The same package files, loaded under another name: `sys.modules["jwt"]` (the webhooks') is
    never touched, not even for a moment, and PyJWT's own imports are relative, so each copy
    keeps its own submodules and neither sees the other's algorithms.
    """
    global _pyjwt
    if _pyjwt is not None:
        return _pyjwt
    with _pyjwt_lock:
        if _pyjwt is None:
            found = importlib.util.find_spec("jwt")
            if found is None or found.origin is None or found.submodule_search_locations is None:
                raise KeyMisconfigured("PyJWT is not installed")
            spec = importlib.util.spec_from_file_location(
                _OWN_PYJWT, found.origin, submodule_search_locations=list(found.submodule_search_locations)
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[_OWN_PYJWT] = module  # its relative imports find their package here
            try:
                spec.loader.exec_module(module)
            except BaseException:
                for name in [n for n in sys.modules if n == _OWN_PYJWT or n.startswith(_OWN_PYJWT + ".")]:
                    del sys.modules[name]
                raise
            if not module.algorithms.has_crypto:
                raise KeyMisconfigured("the cryptography package is not installed: RS256 cannot be used")
            _pyjwt = module
    return _pyjwt


class Jwks:
    """The issuer's signing keys by key id: fetched on first use, fetched again for a key id it
    does not know (an issuer rotating its keys), at most every JWKS_REFRESH_MIN_S."""

    def __init__(self, url: str, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self._fetch, self._clock = url, fetch, clock
        self._keys: dict[str | None, Any] | None = None  # kid -> PyJWK
        self._fetched_at = 0.0
        self._failed: tuple[float, IssuerUnavailable] | None = None
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> Any:
        """The PyJWK for `kid`; TokenRejected when the issuer has no such key."""
        keys = self._keys
        if keys is not None and kid in keys and self._clock() - self._fetched_at < JWKS_MAX_AGE_S:
            return keys[kid]
        with self._lock:
            age = self._clock() - self._fetched_at
            if self._keys is None:
                self._refresh()
            elif age >= JWKS_MAX_AGE_S or (kid not in self._keys and age >= JWKS_REFRESH_MIN_S):
                try:
                    self._refresh()
                except IssuerUnavailable:
                    if kid not in self._keys:  # the keys it had still verify what they verified
                        raise
            keys = self._keys or {}
        if kid in keys:
            return keys[kid]
        if kid is None and len(keys) == 1:  # no kid, and only one key it can be
            return next(iter(keys.values()))
        raise TokenRejected("the ID token is not signed by a key the issuer publishes (kid)")

    def _refresh(self) -> None:
        failed = self._failed
        if failed is not None and self._clock() < failed[0]:
            raise failed[1]
        try:
            keys = self._parse(self._fetch(self.url, JWKS_TIMEOUT_S))
        except IssuerUnavailable as exc:
            self._failed = (self._clock() + JWKS_FAILURE_KEPT_S, exc)
            raise
        self._keys, self._fetched_at, self._failed = keys, self._clock(), None

    def _parse(self, body: bytes) -> dict[str | None, Any]:
        jwt = pyjwt()
        if len(body) > MAX_JWKS_BYTES:
            raise IssuerUnavailable(f"the JWKS at {self.url} is larger than {MAX_JWKS_BYTES} bytes")
        try:
            data = json.loads(body)
            found = jwt.PyJWKSet.from_dict(data).keys
        except (ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
            raise IssuerUnavailable(f"the JWKS at {self.url} has no usable key: {exc}") from exc
        keys: dict[str | None, Any] = {}
        for key in found:
            if key.public_key_use not in (None, "sig") or key.algorithm_name not in ALGORITHMS:
                continue  # an encryption key, or one for an algorithm we do not take
            keys.setdefault(key.key_id, key)
        if not keys:
            raise IssuerUnavailable(f"the JWKS at {self.url} has no RS256 or ES256 signing key")
        return keys


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header."""
    token = bearer_token(authorization) if authorization else None
    if token is None:
        raise TokenRejected("no ID token: send it as Authorization: Bearer <token>")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected(f"the ID token is longer than {MAX_TOKEN_CHARS} characters")
    return token


def verify(authorization: str | None, settings: Settings, jwks: Jwks) -> str:
    """The Vonage user name an ID token proves; TokenRejected (401), UserForbidden (403) or
    IssuerUnavailable (503) otherwise."""
    token = bearer(authorization)
    jwt = pyjwt()
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise TokenRejected("the ID token is not a JWT") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:  # "none" (unsigned), HS256 (a shared secret)…
        raise TokenRejected(f"the ID token's alg must be RS256 or ES256, not {str(algorithm)[:20]!r}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenRejected("the ID token's kid is not text")
    key = jwks.key(kid)
    if key.algorithm_name != algorithm:
        raise TokenRejected(f"the ID token's key is for {key.algorithm_name}, not {algorithm}")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected("the ID token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRejected("the ID token is not for this audience (aud)") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejected("the ID token is not from the issuer (iss)") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenRejected("the ID token is not valid yet (iat or nbf)") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected("the ID token's signature does not verify") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise TokenRejected(f"the ID token does not verify: {type(exc).__name__}") from exc
    user = claims.get(settings.token_user_claim)
    if settings.token_user_claim == "email" and claims.get("email_verified") is not True:
        # many issuers put an address the user typed, never proven, in `email` (OpenID
        # Connect Core 1.0 §5.1): only a verified one may name a Vonage user
        raise UserForbidden("the ID token's email is not verified (email_verified)")
    if not valid_user_name(user):
        raise UserForbidden(
            f"the ID token's {settings.token_user_claim} is not a Vonage user name "
            "(1-100 characters, no space or comma)"
        )
    if settings.allowed_users is not None and user not in settings.allowed_users:
        raise UserForbidden(f"user {user!r} is not in ALLOWED_USERS")
    return user  # type: ignore[no-any-return]


_signing_keys: dict[str, Any] = {}  # PEM -> the loaded key: parsed once per container


def _signing_key(pem: str) -> Any:
    key = _signing_keys.get(pem)
    if key is not None:
        return key
    pyjwt()  # cryptography's import, where the token route pays for it
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMisconfigured("the application's private key is not a PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyMisconfigured("the application's private key is not an RSA key (RS256)")
    _signing_keys.clear()  # one key in use; a rotated one replaces it
    _signing_keys[pem] = key
    return key


def mint(user: str, settings: Settings, private_key: str, now: float) -> Minted:
    """The Vonage Client SDK JWT for `user`, valid TOKEN_TTL_SECONDS from `now` (epoch s)."""
    issued = int(now)
    expires = issued + settings.token_ttl_seconds
    jti = str(uuid.uuid4())
    claims = {
        "application_id": settings.vonage_application_id,
        "iat": issued,
        "jti": jti,
        "exp": expires,
        "sub": user,
        "acl": ACL,
    }
    token = pyjwt().encode(claims, _signing_key(private_key), algorithm="RS256")
    moment = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Minted(token, user, jti, moment)


def fetch_over_https(url: str, timeout: float) -> bytes:
    """The body of GET `url` (the issuer's JWKS); IssuerUnavailable for anything but a 200. The
    I/O adapter app.py passes to the handlers: tests pass their own or a local issuer's URL."""
    import http.client
    from urllib import error, parse, request

    class SafeRedirects(request.HTTPRedirectHandler):
        """A redirect to plain http (but for this machine) would let anyone on the path swap
        the keys: refused, as TOKEN_JWKS_URL itself would be."""

        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
            if not https_or_local(newurl):
                raise IssuerUnavailable(f"GET {url}: its redirect to {newurl} is refused (not https)")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    local = parse.urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")
    handlers = [SafeRedirects(), *([request.ProxyHandler({})] if local else [])]
    opener = request.build_opener(*handlers)
    asked = request.Request(url, headers={"Accept": "application/json", "User-Agent": "callgate"})
    try:
        with opener.open(asked, timeout=timeout) as reply:
            return reply.read(MAX_JWKS_BYTES + 1)  # type: ignore[no-any-return]
    except error.HTTPError as exc:
        raise IssuerUnavailable(f"GET {url} answered {exc.code}") from exc
    except (error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise IssuerUnavailable(f"GET {url} failed: {exc}") from exc
