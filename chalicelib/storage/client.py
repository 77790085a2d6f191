"""The one place that creates the DynamoDB client: lazily, once per process, with short timeouts.

The timeouts are the latency budget (storage/timing.py). No SDK retries:
botocore sleeps up to 1 s before retrying a throttled call, and Vonage itself
retries a 503 from the event URL. The endpoint comes from boto3's own
AWS_ENDPOINT_URL_DYNAMODB; unset, it is AWS.

Every reply is checked before botocore parses it (`reply_problem`). botocore
alone would take an HTML page or `{}` with status 200 for a success, and it
raises UnicodeDecodeError (no botocore error) on a body that is not UTF-8. Its
own CRC32 check is only a retry condition (standard retry mode): with one attempt
it never runs, and once the attempts are used up a mismatch is parsed as a
success all the same.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError

from chalicelib.storage.errors import MalformedReply, StoreUnavailable
from chalicelib.storage.timing import CONNECT_TIMEOUT_S, READ_TIMEOUT_S

MAX_ATTEMPTS = 1
# One client serves every request a process handles at once: Lambda one at a time, `make run`
# (chalice local, threaded) many. Its pool holds a connection for each, up to this many, so none
# is opened and dropped per request ("Connection pool is full, discarding connection").
MAX_POOL_CONNECTIONS = 64
REQUEST_ID_HEADER = "x-amzn-requestid"  # DynamoDB names every reply, success or error
CRC32_HEADER = "x-amz-crc32"  # on every success; DynamoDB Local leaves it off its errors
# What a success always holds, for the operations that read one (TransactWriteItems answers {},
# and so does GetItem when there is no such item: it names nothing it always holds).
SUCCESS_KEYS = {"DescribeTable": ("Table",), "Query": ("Items", "Count")}
_DECIMAL = re.compile(r"[0-9]{1,10}")

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def dynamodb_client(
    connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S
) -> Any:
    """A DynamoDB client for the current environment (cached per endpoint, region and timeouts).
    The timeouts are the latency budget's; only tests of something else than timing change them."""
    key = (
        *(os.environ.get(name) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_REGION",
                                            "AWS_DEFAULT_REGION")),
        connect_timeout_s,
        read_timeout_s,
    )  # fmt: skip
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                import boto3  # deferred: keeps `import app` light (bench measures it)
                from botocore.config import Config

                config = Config(
                    connect_timeout=connect_timeout_s,
                    read_timeout=read_timeout_s,
                    max_pool_connections=MAX_POOL_CONNECTIONS,
                    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                )
                try:
                    client = boto3.session.Session().client("dynamodb", config=config)
                except BotoCoreError as exc:  # e.g. no region configured
                    raise StoreUnavailable(f"cannot create a DynamoDB client: {exc}") from exc
                check_replies(client)
                _clients[key] = client
    return client


def check_replies(client: Any) -> None:
    """Make `client` raise MalformedReply for any reply that is not a well-formed DynamoDB one."""
    client.meta.events.register("before-parse.dynamodb", _reject_malformed)
    client.meta.events.register("after-call-error.dynamodb", _wrap_unknown_error)


def reply_problem(operation: str, status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """What makes this reply not DynamoDB's; None when it is well-formed.

    `headers` must be case-insensitive, as botocore's are.
    """
    if not headers.get(REQUEST_ID_HEADER):
        return f"no {REQUEST_ID_HEADER} header"
    expected = headers.get(CRC32_HEADER)
    if expected is None:
        if status < 300:
            return f"a success without {CRC32_HEADER}"
    elif not _DECIMAL.fullmatch(expected) or int(expected) != zlib.crc32(body):
        return f"{CRC32_HEADER} {expected[:20]!r} does not match the body ({zlib.crc32(body)})"
    try:
        parsed = json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        return "the body is not UTF-8 JSON"
    if not isinstance(parsed, dict):
        return "the body is not a JSON object"
    if status >= 300:
        return None if "__type" in parsed else "an error without __type"
    missing = [name for name in SUCCESS_KEYS.get(operation, ()) if name not in parsed]
    return f"a success without {', '.join(missing)}" if missing else None


def _reject_malformed(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """'before-parse' handler: raising here skips the parser (and any retry)."""
    status = response_dict["status_code"]
    problem = reply_problem(operation_model.name, status, response_dict["headers"], response_dict["body"])
    if problem:
        raise MalformedReply(operation=operation_model.name, problem=f"HTTP {status}, {problem}")


def _wrap_unknown_error(exception: Exception, event_name: str, **_: Any) -> None:
    """'after-call-error' handler: the parser failing on a body the checks let through (a JSON
    object of the wrong shape) raises AttributeError or TypeError; make that a MalformedReply."""
    if not isinstance(exception, BotoCoreError):
        operation = event_name.rsplit(".", 1)[-1]
        raise MalformedReply(operation=operation, problem=f"unreadable: {exception!r}") from exception
