"""The webhook signature secret from SSM Parameter Store: read once per container, then cached.

The parameter is a SecureString holding the current secret, or during a rotation
two lines: the current secret, then the previous one. boto3 is imported and the
client created on first use, so `import app` stays light and a stage whose
secret is in its environment never loads them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib import signature

# Like every DynamoDB call (storage/timing.py): one attempt, short timeouts, so a slow
# Parameter Store still leaves time for a spoken refusal on the answer URL.
CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.5
FAILURE_KEPT_S = 5.0


class SecretUnavailable(Exception):
    """The secret could not be read now (network, throttling, permissions): retry later."""


class SecretMisconfigured(SecretUnavailable):
    """The parameter exists but does not hold a usable secret; the message never shows it."""


class ParameterStore:
    """SecureString parameters, each read once per process (Lambda container) and cached."""

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._cache: dict[str, tuple[str, ...]] = {}
        self._failures: dict[str, tuple[float, SecretUnavailable]] = {}
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
        found = self._cache.get(name)
        if found is not None:
            return found
        with self._lock:
            if name in self._cache:
                return self._cache[name]
            failed = self._failures.get(name)
            if failed is not None and time.monotonic() < failed[0]:
                raise failed[1]
            try:
                self._cache[name] = self._read(name)
            except SecretUnavailable as exc:
                self._failures[name] = (time.monotonic() + FAILURE_KEPT_S, exc)
                raise
            return self._cache[name]

    def _read(self, name: str) -> tuple[str, ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self._ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                raise SecretMisconfigured(f"SSM parameter {name} does not exist") from exc
            raise SecretUnavailable(f"SSM parameter {name} could not be read: {code}") from exc
        except (BotoCoreError, KeyError, TypeError) as exc:
            raise SecretUnavailable(f"SSM parameter {name} could not be read: {type(exc).__name__}") from exc
        secrets = tuple(line.strip() for line in str(value).splitlines() if line.strip())
        if not 1 <= len(secrets) <= 2:
            raise SecretMisconfigured(f"SSM parameter {name} must hold one or two lines (current, previous)")
        if any(len(secret.encode("utf-8")) < signature.MIN_SECRET_BYTES for secret in secrets):
            raise SecretMisconfigured(f"SSM parameter {name}: each secret must be at least 32 bytes")
        return secrets
