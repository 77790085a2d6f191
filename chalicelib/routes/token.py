"""POST /token: a Vonage Client SDK JWT for a user of the team's own login (chalicelib/tokens.py).

200 with the token; 401 for a missing or bad ID token, 403 for a user who may not log in,
503 when the issuer's keys or the application's private key cannot be read (nothing is
minted then); 404 when TOKEN_ISSUER is unset. A login token is never cached (RFC 6749 §5.1).
"""

from __future__ import annotations

from chalicelib import metrics
from chalicelib.errors import ConfigError, SecretMisconfigured
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.secrets import PRIVATE_KEY
from chalicelib.settings import Settings

ROUTE = Route("token", "/token")
NO_STORE = {"Cache-Control": "no-store"}


def token(adapters: Adapters, authorization: str | None) -> Reply:
    """The Vonage JWT for the user the ID token in `authorization` proves."""
    line = RequestLine(ROUTE)
    try:
        settings = line.settings = adapters.load_settings()
        if settings.token_issuer is not None and settings.token_problem is not None:
            raise ConfigError(settings.token_problem)
        if settings.token_issuer is None or settings.token_jwks_url is None:  # off: never open
            line.write("not_found", 404)
            return Reply(404, {"error": "not found"}, NO_STORE)
        from chalicelib import tokens  # PyJWT and cryptography with it: only this route pays for them

        user = tokens.verify(authorization, settings)
        minted = tokens.mint(user, settings, _private_key(adapters, settings), adapters.clock().timestamp())
    except Exception as exc:
        failed = line.failed(exc)
        return failed._replace(headers={**(failed.headers or {}), **NO_STORE})
    # each mint, without the token: who, which token (jti) and until when
    fields = {"user": minted.user, "jti": minted.jti, "expires_at": minted.expires_at}
    line.write("minted", 200, (metrics.TOKENS_MINTED,), fields=fields)
    return Reply(200, {"token": minted.token, "user": minted.user, "expires_at": minted.expires_at}, NO_STORE)


def _private_key(adapters: Adapters, settings: Settings) -> str:
    """The application's private key (PEM): VONAGE_PRIVATE_KEY, or its SSM parameter."""
    if settings.vonage_private_key is not None:
        return settings.vonage_private_key
    if adapters.read_private_key is None or settings.vonage_private_key_param is None:
        raise SecretMisconfigured("VONAGE_PRIVATE_KEY_PARAM is set but nothing reads it", PRIVATE_KEY)
    return adapters.read_private_key(settings.vonage_private_key_param)
