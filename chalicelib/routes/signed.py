"""In front of every webhook: is this request provably Vonage's? Before anything in it is
parsed for use, stored or counted (chalicelib/signature.py checks the token itself)."""

from __future__ import annotations

from chalicelib import signature
from chalicelib.errors import SecretMisconfigured
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Request
from chalicelib.secrets import SIGNATURE_SECRET
from chalicelib.settings import Settings
from chalicelib.webhooks import OWN_QUERY_KEYS


def signature_secrets(adapters: Adapters, settings: Settings) -> tuple[str, ...]:
    """The stage's signature secrets, current first: from its settings, or read from their SSM
    parameter (SecretUnavailable when it cannot be read); none only where unsigned requests may
    pass (ALLOW_UNSIGNED_WEBHOOKS, a local stage)."""
    if settings.signature_secrets or not settings.signature_secret_param:
        return settings.signature_secrets
    if adapters.read_secret is None:
        problem = "VONAGE_SIGNATURE_SECRET_PARAM is set but nothing reads it"
        raise SecretMisconfigured(problem, SIGNATURE_SECRET)
    return adapters.read_secret(settings.signature_secret_param)


def check_signature(adapters: Adapters, settings: Settings, request: Request) -> None:
    """SignatureError unless `request` is signed with one of the stage's signature secrets."""
    secrets = signature_secrets(adapters, settings)
    if not secrets:
        return
    signature.verify(
        request.authorization,
        secrets,
        adapters.clock().timestamp(),
        settings.signature_max_age_seconds,
        request.query,
        request.body,
        own_keys=OWN_QUERY_KEYS,
        content_type=request.content_type,  # the body read as the handler will read it
    )
