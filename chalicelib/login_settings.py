"""POST /token's settings: the team's OpenID Connect issuer, the Vonage application whose users
log in (its id, its private key, its Users API), and the browser origins allowed to call it.

Without TOKEN_ISSUER the route is off; with it, everything it needs must be set. A problem here
is `token_problem`, not a ConfigError: the route answers 503 naming nothing, `make run` refuses
to start, and the phone calls go on.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import ConfigError
from chalicelib.setting_values import PARAMETER_NAME, https_or_local, whole_number

DEFAULT_TOKEN_TTL_SECONDS = 900  # Vonage's own default for a Client SDK JWT: 15 minutes
MAX_TOKEN_TTL_SECONDS = 86_400  # and its longest: 24 hours
DEFAULT_VONAGE_API_URL = "https://api.nexmo.com"  # where Vonage's Users API is (/v1/users)
_APPLICATION_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/\-]{1,100}")
# An origin as a browser sends it (RFC 6454 §6.1): scheme, host, optional port; nothing else.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

NAMES = (
    "TOKEN_ISSUER",
    "TOKEN_AUDIENCE",
    "TOKEN_JWKS_URL",
    "TOKEN_USER_CLAIM",
    "TOKEN_TTL_SECONDS",
    "TOKEN_CORS_ORIGINS",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_PRIVATE_KEY_PARAM",
    "VONAGE_API_URL",
)


def login_settings(values: dict[str, str | None]) -> dict[str, Any]:
    """The Settings fields of POST /token, with `token_problem` saying what is wrong, if anything."""
    try:
        return {**_checked(values), "token_problem": None}
    except ConfigError as exc:
        issuer = (values["TOKEN_ISSUER"] or "").strip() or None
        return {
            "token_issuer": issuer, "token_audience": None, "token_jwks_url": None, "token_user_claim": "sub",
            "token_ttl_seconds": DEFAULT_TOKEN_TTL_SECONDS, "vonage_application_id": None,
            "vonage_private_key": None, "vonage_private_key_param": None,
            "vonage_api_url": DEFAULT_VONAGE_API_URL, "token_cors_origins": frozenset(),
            "token_problem": str(exc),
        }  # fmt: skip


def _checked(values: dict[str, str | None]) -> dict[str, Any]:
    """login_settings' values, or the ConfigError naming the first one that is wrong."""
    # kept exactly: `iss` must equal it, and some issuers' end in "/" (Auth0's), others' do not
    issuer = (values["TOKEN_ISSUER"] or "").strip() or None
    key = (values["VONAGE_PRIVATE_KEY"] or "").strip() or None
    if key is not None and "\n" not in key:
        key = key.replace("\\n", "\n").strip()  # a PEM put in one line of an environment, as `\n`
    param = (values["VONAGE_PRIVATE_KEY_PARAM"] or "").strip() or None
    if param is not None and (len(param) > 2048 or not PARAMETER_NAME.fullmatch(param)):
        raise ConfigError("VONAGE_PRIVATE_KEY_PARAM is not an SSM Parameter Store name")
    if key is not None and param is not None:
        raise ConfigError("set VONAGE_PRIVATE_KEY or VONAGE_PRIVATE_KEY_PARAM, not both")
    if key is not None and not (key.startswith("-----BEGIN ") and "PRIVATE KEY-----" in key):
        raise ConfigError("VONAGE_PRIVATE_KEY must be the application's private key, in PEM")
    application_id = (values["VONAGE_APPLICATION_ID"] or "").strip() or None
    if application_id is not None and not _APPLICATION_ID.fullmatch(application_id):
        raise ConfigError("VONAGE_APPLICATION_ID must be the Vonage application's id (a UUID)")
    claim = (values["TOKEN_USER_CLAIM"] or "").strip() or "sub"
    if not _CLAIM_NAME.fullmatch(claim):
        raise ConfigError(f"TOKEN_USER_CLAIM={claim!r} is not a claim name")
    audience = (values["TOKEN_AUDIENCE"] or "").strip() or None
    jwks_url = (values["TOKEN_JWKS_URL"] or "").strip() or None
    if issuer is not None:
        if not https_or_local(issuer):
            raise ConfigError("TOKEN_ISSUER must be the issuer's https URL (http only for localhost)")
        needed = (("TOKEN_AUDIENCE", audience), ("VONAGE_APPLICATION_ID", application_id))
        missing = [name for name, value in needed if value is None]
        if key is None and param is None:
            missing.append("VONAGE_PRIVATE_KEY_PARAM (or VONAGE_PRIVATE_KEY)")
        if missing:
            raise ConfigError(f"TOKEN_ISSUER is set, so POST /token needs {', '.join(missing)}")
        jwks_url = jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"
    if jwks_url is not None and not https_or_local(jwks_url):
        raise ConfigError("TOKEN_JWKS_URL must be an https URL (http only for localhost)")
    api_url = (values["VONAGE_API_URL"] or "").strip().rstrip("/") or DEFAULT_VONAGE_API_URL
    if not https_or_local(api_url) or urlsplit(api_url).query or urlsplit(api_url).fragment:
        raise ConfigError("VONAGE_API_URL must be an https URL (http only for localhost)")
    return {
        "token_issuer": issuer,
        "token_audience": audience,
        "token_jwks_url": jwks_url,
        "token_user_claim": claim,
        "token_ttl_seconds": whole_number(
            values, "TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS, 1, MAX_TOKEN_TTL_SECONDS
        ),
        "vonage_application_id": application_id,
        "vonage_private_key": key,
        "vonage_private_key_param": param,
        "vonage_api_url": api_url,
        "token_cors_origins": _origins(values, "TOKEN_CORS_ORIGINS"),
    }


def _origins(values: dict[str, str | None], name: str) -> frozenset[str]:
    """Exact browser origins (`https://app.example.com`), comma-separated; none when unset."""
    origins = set()
    for item in (values[name] or "").split(","):
        origin = item.strip()
        if not origin:
            continue
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"{name}: {origin!r} is not an origin (scheme://host[:port], no path, no '*')")
        if not https_or_local(origin + "/"):  # what a page on plain http sends is readable in transit
            raise ConfigError(f"{name}: {origin!r} must be https (http only for localhost)")
        origins.add(origin.lower())  # scheme and host are case-insensitive; browsers send lower case
    return frozenset(origins)
