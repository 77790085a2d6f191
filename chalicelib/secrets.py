"""Secrets from SSM Parameter Store, each read once per container, then cached: the webhook
signature secret, and the Vonage application's private key (POST /token).

The parameter is a SecureString holding the current secret, or during a rotation
two lines: the current secret, then the previous one. boto3 is imported and the
client created on first use, so `import app` stays light and a stage whose
secret is in its environment never loads them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib import signature
from chalicelib.errors import SecretMisconfigured, SecretUnavailable

# Like every DynamoDB call (storage/timing.py): one attempt, short timeouts, so a slow
# Parameter Store still leaves time for a spoken refusal on the answer URL.
CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.5
FAILURE_KEPT_S = 5.0


SIGNATURE_SECRET = "the signature secret"  # what a reply calls each secret (SecretUnavailable.what)
PRIVATE_KEY = "the application's private key"


class ParameterStore:
    """SecureString parameters, each read once per process (Lambda container) and cached."""

    def __init__(self, client: Any = None) -> None:
        self._client = client
        # (parameter name, its parser) -> the value; -> (time the failure is kept until, it)
        self._cache: dict[tuple[str, Any], Any] = {}
        self._failures: dict[tuple[str, Any], tuple[float, SecretUnavailable]] = {}
        self._lock = threading.Lock()

    def _ssm(self) -> Any:
        if self._client is None:
            import boto3  # deferred: see the module docstring
            from botocore.config import Config

            config = Config(
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )
            self._client = boto3.session.Session().client("ssm", config=config)
        return self._client

    def secrets(self, name: str) -> tuple[str, ...]:
        """The secrets in parameter `name`: current first, then the previous one if present.

        A failed read is remembered for FAILURE_KEPT_S, so a flood of requests (forged ones
        included) cannot turn into a flood of GetParameter calls and throttle the real ones.
        """
        return self._cached(name, _signature_secrets, SIGNATURE_SECRET)  # type: ignore[return-value]

    def private_key(self, name: str) -> str:
        """The PEM in parameter `name`: the Vonage application's private key (POST /token),
        read and cached like the secrets."""
        return self._cached(name, _private_key, PRIVATE_KEY)  # type: ignore[return-value]

    def _cached(self, name: str, parse: Callable[[str, str, str], Any], what: str) -> Any:
        key = (name, parse)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            failed = self._failures.get(key)
            if failed is not None and time.monotonic() < failed[0]:
                raise failed[1]
            try:
                self._cache[key] = parse(name, self._read(name, what), what)
            except SecretUnavailable as exc:
                self._failures[key] = (time.monotonic() + FAILURE_KEPT_S, exc)
                raise
            return self._cache[key]

    def _read(self, name: str, what: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self._ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                raise SecretMisconfigured(f"SSM parameter {name} does not exist", what) from exc
            raise SecretUnavailable(f"SSM parameter {name} could not be read: {code}", what) from exc
        except (BotoCoreError, KeyError, TypeError) as exc:
            problem = f"SSM parameter {name} could not be read: {type(exc).__name__}"
            raise SecretUnavailable(problem, what) from exc
        return str(value)


def _signature_secrets(name: str, value: str, what: str) -> tuple[str, ...]:
    secrets = tuple(line.strip() for line in value.splitlines() if line.strip())
    if not 1 <= len(secrets) <= 2:
        raise SecretMisconfigured(
            f"SSM parameter {name} must hold one or two lines (current, previous)", what
        )
    if any(len(secret.encode("utf-8")) < signature.MIN_SECRET_BYTES for secret in secrets):
        raise SecretMisconfigured(f"SSM parameter {name}: each secret must be at least 32 bytes", what)
    return secrets


def _private_key(name: str, value: str, what: str) -> str:
    pem = value.strip()
    if "\n" not in pem:
        pem = pem.replace("\\n", "\n")  # stored on one line, with `\n` (as VONAGE_PRIVATE_KEY may be)
    if not (pem.startswith("-----BEGIN ") and "PRIVATE KEY-----" in pem):
        raise SecretMisconfigured(f"SSM parameter {name} does not hold a private key in PEM", what)
    return pem
