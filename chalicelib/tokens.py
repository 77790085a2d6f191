"""POST /token: the team's own login (an OpenID Connect ID token) in, a Vonage Client SDK JWT out.

The name a user logs in to the Vonage Client SDK with is the `from_user` the answer URL's policy
limits and audits, so the service that enforces the policy also mints the login. The ID token
is checked with PyJWT against the issuer's published keys (JWKS): RS256 or ES256 only, `iss`,
`aud`, `exp`, `iat` and `nbf` with a small leeway. The Vonage JWT is RS256, signed with the
Vonage application's private key, with the claims Vonage documents for Client SDK users
(`application_id`, `iat`, `jti`, `exp`, `sub`, `acl`; Vonage developer docs, "Authentication:
JWTs and ACLs").

PyJWT (with `cryptography`, which RS256 needs) is imported by this module alone, and this
module by the token route on its first request: `import app` and the webhooks never load them.
The issuer's keys come from PyJWT's PyJWKClient. No Chalice, no boto3.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from chalicelib.errors import IssuerUnavailable, KeyMisconfigured, TokenRejected, UserForbidden
from chalicelib.settings import Settings
from chalicelib.signature import bearer_token
from chalicelib.user_names import valid_user_name

ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30  # clock skew allowed between the issuer and us
MAX_TOKEN_CHARS = 8192
JWKS_TIMEOUT_S = 2.0  # each socket operation of a JWKS fetch
JWKS_DEADLINE_S = 1.5  # the whole fetch: an issuer trickling bytes cannot hold a login longer
JWKS_REFRESH_MIN_S = 30.0  # an unknown key id refetches the JWKS at most this often
JWKS_FAILURE_KEPT_S = 5.0  # a failed fetch is not retried sooner: a flood cannot hammer the issuer
JWKS_MAX_AGE_S = 3600.0  # keys are fetched again this often: a key the issuer withdrew stops working
APPLICATION_JWT_TTL_S = 60  # one Users API request
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


class Identity(NamedTuple):
    """Who an ID token proves: the Vonage user name, and what the issuer says of them."""

    user: str
    display_name: Any  # the `name` claim, as the issuer sent it
    picture: Any  # the `picture` claim


class Minted(NamedTuple):
    token: str  # never logged
    user: str
    jti: str
    expires_at: str  # ISO 8601 UTC


class Fetch:
    """One JWKS fetch in a thread of its own, which any number of logins may wait for."""

    def __init__(self, fetch: Any) -> None:
        self.started = time.monotonic()
        self.done: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(fetch,), name="jwks-fetch", daemon=True)
        self.thread.start()

    def _run(self, fetch: Any) -> None:
        try:
            self.done["data"] = fetch()
        except Exception as exc:  # handed to the logins waiting, which map it
            self.done["error"] = exc


class DeadlineJWKClient(jwt.PyJWKClient):
    """PyJWT's PyJWKClient, each fetch ending within JWKS_DEADLINE_S whatever the issuer does:
    its own timeout bounds each socket read, so an issuer sending a byte a second holds a login
    for as long as it likes. The fetch runs in a thread; logins arriving while it runs wait for
    that same fetch (one request to the issuer), and none waits past JWKS_DEADLINE_S from its
    start. A fetch that outlives it is left to finish in the background."""

    deadline_s = JWKS_DEADLINE_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_lock = threading.Lock()
        self.fetching: Fetch | None = None

    def fetch_data(self) -> Any:
        with self.fetch_lock:
            fetch = self.fetching
            # a fetch still running past its deadline is left to itself: a new one may succeed
            if (
                fetch is None
                or not fetch.thread.is_alive()
                or time.monotonic() >= fetch.started + self.deadline_s
            ):
                fetch = self.fetching = Fetch(super().fetch_data)
        fetch.thread.join(max(0.0, fetch.started + self.deadline_s - time.monotonic()))
        if fetch.thread.is_alive():
            raise jwt.PyJWKClientConnectionError(f"no JWKS from {self.uri} within {self.deadline_s:g} s")
        if "error" in fetch.done:
            raise fetch.done["error"]
        return fetch.done["data"]


class IssuerKeys:
    """The issuer's signing keys by key id (kid), from its JWKS: PyJWT's PyJWKClient keeps the set
    for JWKS_MAX_AGE_S (a key the issuer withdrew stops working), fetches it again for a kid it
    does not know (an issuer rotating its keys) at most every JWKS_REFRESH_MIN_S, each fetch within
    JWKS_DEADLINE_S in all (DeadlineJWKClient). A failed fetch is not tried again for
    JWKS_FAILURE_KEPT_S: a flood of logins during an outage cannot hammer the issuer, nor wait on
    it one by one."""

    def __init__(
        self,
        url: str,
        max_age_s: float = JWKS_MAX_AGE_S,
        refresh_min_s: float = JWKS_REFRESH_MIN_S,
        failure_kept_s: float = JWKS_FAILURE_KEPT_S,
    ) -> None:
        self.url, self.failure_kept_s = url, failure_kept_s
        self.client = DeadlineJWKClient(
            url,
            lifespan=max_age_s,
            timeout=JWKS_TIMEOUT_S,
            cooldown_duration=refresh_min_s,
            headers={"Accept": "application/json", "User-Agent": "callgate"},
        )
        self.failed: tuple[float, str] | None = None  # (monotonic time kept until, why)

    def key(self, kid: str | None) -> Any:
        """The PyJWK for `kid`; TokenRejected when the issuer publishes no such key."""
        failed = self.failed
        if failed is not None and time.monotonic() < failed[0]:
            raise IssuerUnavailable(failed[1])
        try:
            self.client.get_signing_keys()  # the kept set, or a fetch: the issuer's answer
        except UNUSABLE_JWKS as exc:
            raise self._unavailable(exc) from exc
        try:
            return self.client.get_signing_key(kid)  # type: ignore[arg-type]
        except (jwt.PyJWKClientConnectionError, NotImplementedError) as exc:  # fetched again: unusable
            raise self._unavailable(exc) from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise TokenRejected("the ID token is not signed by a key the issuer publishes (kid)") from exc

    def _unavailable(self, exc: Exception) -> IssuerUnavailable:
        why = f"the JWKS at {self.url} is unusable: {exc or type(exc).__name__}"
        self.failed = (time.monotonic() + self.failure_kept_s, why)
        return IssuerUnavailable(why)


# What makes the issuer's JWKS unusable (503, and not asked again for JWKS_FAILURE_KEPT_S):
# PyJWT's errors, a body that is not JSON (ValueError), and a key of an algorithm PyJWT cannot
# build a key for, such as "alg": "none" (NotImplementedError, which PyJWKSet does not skip)
UNUSABLE_JWKS = (jwt.PyJWTError, ValueError, NotImplementedError)


@lru_cache(maxsize=4)  # a stage has one issuer
def issuer_keys(url: str) -> IssuerKeys:
    """The keys of the JWKS at `url`, one IssuerKeys per container."""
    return IssuerKeys(url)


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header."""
    token = bearer_token(authorization) if authorization else None
    if token is None:
        raise TokenRejected("no ID token: send it as Authorization: Bearer <token>")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected(f"the ID token is longer than {MAX_TOKEN_CHARS} characters")
    return token


def verify(authorization: str | None, settings: Settings) -> Identity:
    """Who an ID token proves; TokenRejected (401), UserForbidden (403) or IssuerUnavailable (503)
    otherwise."""
    token = bearer(authorization)
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
    key = issuer_keys(settings.token_jwks_url).key(kid)  # type: ignore[arg-type]
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
    return Identity(user, claims.get("name"), claims.get("picture"))  # type: ignore[arg-type]


_signing_keys: dict[str, Any] = {}  # PEM -> the loaded key: parsed once per container


def _signing_key(pem: str) -> Any:
    key = _signing_keys.get(pem)
    if key is not None:
        return key
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMisconfigured("the application's private key is not a PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyMisconfigured("the application's private key is not an RSA key (RS256)")
    _signing_keys.clear()  # one key in use; a rotated one replaces it
    _signing_keys[pem] = key
    return key


def application_jwt(settings: Settings, private_key: str, now: float) -> str:
    """A JWT for Vonage's REST APIs (the Users API): the application's, without a user (`sub`) or
    an ACL, as Vonage's reference backend signs one; valid APPLICATION_JWT_TTL_S."""
    issued = int(now)
    claims = {
        "application_id": settings.vonage_application_id,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "exp": issued + APPLICATION_JWT_TTL_S,
    }
    return jwt.encode(claims, _signing_key(private_key), algorithm="RS256")


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
    token = jwt.encode(claims, _signing_key(private_key), algorithm="RS256")
    moment = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Minted(token, user, jti, moment)
