"""Every way a request can fail, as exception types. Pure: no Chalice, no boto3.

Each module raises these; only chalicelib/routes/outcomes.py decides what each one becomes
(a 4xx or 503 reply, a spoken refusal on the answer URL, a log line). So a reader finds
here what can go wrong, and there what the caller then gets.
"""

from __future__ import annotations


class BadRequest(ValueError):
    """The request can never succeed as sent; `status` is the 4xx to answer with, `str()` why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WebhookError(BadRequest):
    """A Vonage webhook request that cannot be read (its body, an id, its size)."""


class BadQuery(BadRequest):
    """A history request (GET /calls, GET /calls/{id}) that asks for something it cannot have."""


class ConfigError(ValueError):
    """A stage setting is missing or wrong; the message names the setting, never a secret's value."""


class SecretUnavailable(Exception):
    """A secret in SSM Parameter Store could not be read now (network, throttling, permissions):
    retry later. `what` names the secret for a reply ("the signature secret")."""

    def __init__(self, message: str, what: str = "a secret") -> None:
        super().__init__(message)
        self.what = what


class SecretMisconfigured(SecretUnavailable):
    """The parameter is missing, or does not hold a usable secret; the message never shows it."""


class StoreUnavailable(Exception):
    """DynamoDB could not be used now; a retry may succeed.

    `maybe_applied`: the request may have been carried out all the same (its reply was lost,
    or DynamoDB failed after receiving it).
    """

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class StoreRejected(StoreUnavailable):
    """DynamoDB refused this item for good (ValidationException): a retry cannot help."""


class TokenRejected(Exception):
    """POST /token: the ID token is missing, malformed, or does not verify; `str()` says why."""


class UserForbidden(Exception):
    """POST /token: a valid ID token, for a user who may not log in to the Client SDK."""


class IssuerUnavailable(Exception):
    """POST /token: the issuer's keys cannot be fetched now, so nothing can be verified."""


class KeyMisconfigured(Exception):
    """POST /token: the application's private key is not one RS256 can sign with."""


class UsersApiUnavailable(Exception):
    """POST /token: Vonage's Users API could not create (or confirm) the user's Vonage user now;
    `str()` says what it answered. No token is minted for a user Vonage may not have."""
