"""The stack's Parameters: what differs per deployment, set at deploy time (`make deploy` reads
them from deploy/<stage>.env and the environment), each the environment variable the app reads.
Their defaults are the stage's values in .chalice/config.json (or its base stage's).
"""

from __future__ import annotations

from typing import Any

from devtools import stages


def stage_setting(stage: str, name: str, base: str = stages.BASE_STAGE) -> str:
    """A stage's value in .chalice/config.json (or its base stage's): the parameter's default."""
    return str(stages.stage_block(stage, base)["environment_variables"][name])


def parameters(stage: str, base: str = stages.BASE_STAGE) -> dict[str, Any]:
    """What differs per deployment, set at deploy time (defaults: the stage's config.json)."""
    return {
        "VonageNumber": {
            "Type": "String",
            "Description": "the Vonage number calls come from (E.164 digits, no +): VONAGE_NUMBER",
            "Default": stage_setting(stage, "VONAGE_NUMBER", base),
            "AllowedPattern": "[1-9][0-9]{6,14}",
        },
        "AllowedCountries": {
            "Type": "String",
            "Description": "ISO country codes calls may go to, comma-separated: ALLOWED_COUNTRIES",
            "Default": stage_setting(stage, "ALLOWED_COUNTRIES", base),
            "AllowedPattern": "[A-Z]{2}(,[A-Z]{2})*",
        },
        "SignatureSecretParam": {
            "Type": "String",
            "Description": (
                "the SSM SecureString parameter holding the Vonage signature secret, a path "
                "starting with /: VONAGE_SIGNATURE_SECRET_PARAM"
            ),
            "Default": stage_setting(stage, "VONAGE_SIGNATURE_SECRET_PARAM", base),
            "AllowedPattern": "/[a-zA-Z0-9_.\\-/]{1,1010}",
        },
        # POST /token: off (404) while TokenIssuer is empty
        "TokenIssuer": {
            "Type": "String",
            "Description": "the OpenID Connect issuer of the ID tokens POST /token takes: TOKEN_ISSUER",
            "Default": "",
            "AllowedPattern": "(https://[^\\s]{1,1000})?",
        },
        "TokenAudience": {
            "Type": "String",
            "Description": "the ID tokens' audience (aud), your app's client id: TOKEN_AUDIENCE",
            "Default": "",
        },
        "TokenJwksUrl": {
            "Type": "String",
            "Description": "the issuer's JWKS URL, if not <issuer>/.well-known/jwks.json: TOKEN_JWKS_URL",
            "Default": "",
            "AllowedPattern": "(https://[^\\s]{1,1000})?",
        },
        "VonageApplicationId": {
            "Type": "String",
            "Description": "the Vonage application's id, in the tokens it mints: VONAGE_APPLICATION_ID",
            "Default": "",
            "AllowedPattern": "([0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})?",
        },
        "PrivateKeyParam": {
            "Type": "String",
            "Description": (
                "the SSM SecureString parameter holding the Vonage application's private key (PEM), "
                "a path starting with /: VONAGE_PRIVATE_KEY_PARAM"
            ),
            "Default": stage_setting(stage, "VONAGE_PRIVATE_KEY_PARAM", base),
            "AllowedPattern": "/[a-zA-Z0-9_.\\-/]{1,1010}",
        },
    }


# Each Parameter is the environment variable the app reads (a deploy sets them by either name).
PARAMETER_VARIABLES = {
    "VonageNumber": "VONAGE_NUMBER",
    "AllowedCountries": "ALLOWED_COUNTRIES",
    "SignatureSecretParam": "VONAGE_SIGNATURE_SECRET_PARAM",
    "TokenIssuer": "TOKEN_ISSUER",
    "TokenAudience": "TOKEN_AUDIENCE",
    "TokenJwksUrl": "TOKEN_JWKS_URL",
    "VonageApplicationId": "VONAGE_APPLICATION_ID",
    "PrivateKeyParam": "VONAGE_PRIVATE_KEY_PARAM",
}
