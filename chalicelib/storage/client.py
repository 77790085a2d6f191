"""The one place that creates the DynamoDB client: lazily, once per process, with short timeouts.

The timeouts are the latency budget (storage/timing.py). No SDK retries:
botocore sleeps up to 1 s before retrying a throttled call, and Vonage itself
retries a 503 from the event URL. The endpoint comes from boto3's own
AWS_ENDPOINT_URL_DYNAMODB; unset, it is AWS.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from chalicelib.storage.errors import StoreUnavailable
from chalicelib.storage.timing import CONNECT_TIMEOUT_S, READ_TIMEOUT_S

MAX_ATTEMPTS = 1

_lock = threading.Lock()
_clients: dict[tuple[str | None, ...], Any] = {}


def dynamodb_client() -> Any:
    """A DynamoDB client for the current environment (cached per endpoint and region)."""
    key = tuple(
        os.environ.get(name)
        for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                import boto3  # deferred: keeps `import app` light (bench measures it)
                from botocore.config import Config
                from botocore.exceptions import BotoCoreError

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_S,
                    read_timeout=READ_TIMEOUT_S,
                    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                )
                try:
                    client = boto3.session.Session().client("dynamodb", config=config)
                except BotoCoreError as exc:  # e.g. no region configured
                    raise StoreUnavailable(f"cannot create a DynamoDB client: {exc}") from exc
                _clients[key] = client
    return client
