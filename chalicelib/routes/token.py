"""POST /token: a Vonage Client SDK JWT for a user of the team's own login (chalicelib/tokens.py).

verify the ID token → make sure the user's Vonage user exists → mint. A user's first login
creates their Vonage user (chalicelib/vonage_users.py), once: an item in the calls table
remembers it, so a later login costs one GetItem and no Vonage call.

200 with the token; 401 for a missing or bad ID token, 403 for a user who may not log in,
503 when the issuer's keys, the application's private key, the calls table or Vonage's Users
API cannot be used (nothing is minted then); 404 when TOKEN_ISSUER is unset. A login token is
never cached (RFC 6749 §5.1). A browser origin in TOKEN_CORS_ORIGINS may call it (OPTIONS
/token answers its preflight); any other gets no CORS header.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import logs, metrics
from chalicelib.errors import ConfigError, SecretMisconfigured, StoreUnavailable, UsersApiUnavailable
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.secrets import PRIVATE_KEY
from chalicelib.settings import Settings
from chalicelib.times import expiry, utc_iso

if TYPE_CHECKING:
    from chalicelib.tokens import Identity

ROUTE = Route("token", "/token")
PREFLIGHT = Route("token_preflight", "/token")
NO_STORE = {"Cache-Control": "no-store"}
CORS_MAX_AGE_S = 600  # how long a browser may keep the preflight's answer
# A remembered Vonage user is asked of Vonage again after this long: one deleted there (by hand,
# or with the account's data) is created again by the next login instead of failing every call.
USER_KNOWN_DAYS = 30
# Of the function's 5 s (API Gateway answers a timed-out function with a bare 504, no Retry-After):
# the login's calls (JWKS, SSM, DynamoDB, the Users API) end in time for a 503 of ours.
LOGIN_BUDGET_S = 4.0
MIN_USERS_API_S = 0.5  # less left than this: 503 without asking Vonage


def token(adapters: Adapters, authorization: str | None, origin: str | None = None) -> Reply:
    """The Vonage JWT for the user the ID token in `authorization` proves."""
    line = RequestLine(ROUTE)
    deadline = time.monotonic() + LOGIN_BUDGET_S
    cors: Mapping[str, str] = {}
    try:
        settings = line.settings = adapters.load_settings()
        cors = cors_headers(settings, origin)
        if settings.token_issuer is not None and settings.token_problem is not None:
            raise ConfigError(settings.token_problem)
        if settings.token_issuer is None or settings.token_jwks_url is None:  # off: never open
            line.write("not_found", 404)
            return Reply(404, {"error": "not found"}, NO_STORE)
        from chalicelib import tokens  # PyJWT and cryptography with it: only this route pays for them

        identity = tokens.verify(authorization, settings)
        key = _private_key(adapters, settings)
        now = adapters.clock()
        vonage_user = _vonage_user(adapters, line, settings, identity, key, now, deadline)
        minted = tokens.mint(identity.user, settings, key, now.timestamp())
    except Exception as exc:
        failed = line.failed(exc)
        return failed._replace(headers={**(failed.headers or {}), **NO_STORE, **cors})
    # each mint, without the token: who, which token (jti) and until when, and their Vonage user
    fields = {
        "user": minted.user,
        "jti": minted.jti,
        "expires_at": minted.expires_at,
        "vonage_user": vonage_user,
    }
    counts = (
        (metrics.TOKENS_MINTED, metrics.USERS_CREATED)
        if vonage_user == "created"
        else (metrics.TOKENS_MINTED,)
    )
    line.write("minted", 200, counts, fields=fields)
    body = {"token": minted.token, "user": minted.user, "expires_at": minted.expires_at}
    return Reply(200, body, {**NO_STORE, **cors})


def preflight(adapters: Adapters, origin: str | None) -> Reply:
    """OPTIONS /token, a browser's CORS preflight: allowed for an origin in TOKEN_CORS_ORIGINS."""
    line = RequestLine(PREFLIGHT)
    try:
        settings = line.settings = adapters.load_settings()
    except Exception as exc:
        return line.failed(exc)
    cors = cors_headers(settings, origin)
    if settings.token_issuer is None:
        line.write("not_found", 404)
        return Reply(404, {"error": "not found"})
    if "Access-Control-Allow-Origin" not in cors:
        line.write("forbidden", 403, fields={"origin": str(origin)[:200] if origin else None})
        refused = {"error": "forbidden: this origin may not call POST /token (TOKEN_CORS_ORIGINS)"}
        return Reply(403, refused, cors)
    line.write("allowed", 204, fields={"origin": origin})
    preflight_headers = {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
    }
    return Reply(204, None, {**cors, **preflight_headers}, "")


def cors_headers(settings: Settings, origin: str | None) -> dict[str, str]:
    """The CORS headers of a reply to `origin`: its own name back when TOKEN_CORS_ORIGINS lists
    it (exactly, case aside), none for any other. `Vary: Origin` whenever CORS is on, so that a
    cache never hands one origin's reply to another."""
    if not settings.token_cors_origins:
        return {}
    if origin is None or origin.lower() not in settings.token_cors_origins:
        return {"Vary": "Origin"}
    # Retry-After of a 503 is for the page's code to read too
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Retry-After",
        "Vary": "Origin",
    }


def _vonage_user(
    adapters: Adapters,
    line: RequestLine,
    settings: Settings,
    user: Identity,
    key: str,
    now: datetime,
    deadline: float,
) -> str:
    """Make sure the user's Vonage user exists: "known" (remembered), "created", or "existed"
    (Vonage had one of that name: made by hand, or by a login racing this one).

    The calls table only saves asking Vonage: a read that fails asks Vonage (an existing user
    is its "exists" answer), a write that fails is logged and the login goes on. Only Vonage's
    answer decides whether a token is minted."""
    from chalicelib import tokens, vonage_users  # with PyJWT: only this route pays for them

    store = adapters.store_for(settings)
    try:
        with line.in_store():
            if store.vonage_user_known(user.user):
                return "known"
    except StoreUnavailable as exc:
        logs.warning("vonage_user_unread", route=ROUTE.path, user=user.user, error=str(exc))
    left = deadline - time.monotonic()
    if left < MIN_USERS_API_S:
        raise UsersApiUnavailable("no time left in the login's budget to ask Vonage's Users API")
    application_jwt = tokens.application_jwt(settings, key, now.timestamp())
    profile = vonage_users.profile(user.user, user.display_name, user.picture)
    timeout_s = min(vonage_users.TIMEOUT_S, left / 2)  # connecting, then reading: both in the budget
    created = vonage_users.create_user(settings.vonage_api_url, application_jwt, profile, timeout_s)
    try:
        with line.in_store():  # only once Vonage has the user: nothing half-written
            store.remember_vonage_user(
                user.user, created.vonage_id, utc_iso(now), expiry(now, USER_KNOWN_DAYS)
            )
    except StoreUnavailable as exc:  # the next login asks Vonage again, and hears "exists"
        logs.warning("vonage_user_unsaved", route=ROUTE.path, user=user.user, error=str(exc))
    return "created" if created.created else "existed"


def _private_key(adapters: Adapters, settings: Settings) -> str:
    """The application's private key (PEM): VONAGE_PRIVATE_KEY, or its SSM parameter."""
    if settings.vonage_private_key is not None:
        return settings.vonage_private_key
    if adapters.read_private_key is None or settings.vonage_private_key_param is None:
        raise SecretMisconfigured("VONAGE_PRIVATE_KEY_PARAM is set but nothing reads it", PRIVATE_KEY)
    return adapters.read_private_key(settings.vonage_private_key_param)
