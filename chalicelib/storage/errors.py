"""What botocore's failures mean to a caller: retry later (StoreUnavailable) or never
(StoreRejected), both in chalicelib/errors.py; and MalformedReply, botocore's own kind."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from chalicelib.errors import StoreRejected, StoreUnavailable


class MalformedReply(BotoCoreError):
    """A reply that is not a well-formed DynamoDB reply (storage/client.py checks each one).

    A BotoCoreError, so every `except (ClientError, BotoCoreError)` that turns
    botocore's failures into StoreUnavailable catches it too: garbage, a proxy's
    page or a corrupted body must never pass for a success.
    """

    fmt = "not a DynamoDB reply to {operation}: {problem}"


def from_boto(exc: Exception) -> StoreUnavailable:
    """The storage error a botocore exception stands for."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = f"DynamoDB {error.get('Code')}: {error.get('Message')}"
        if error.get("Code") == "ValidationException":
            return StoreRejected(message)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
        return StoreUnavailable(message, maybe_applied=status >= 500)
    if isinstance(exc, MalformedReply):  # the request reached something: it may have been applied
        return StoreUnavailable(f"DynamoDB reply unusable: {exc}", maybe_applied=True)
    never_sent = isinstance(exc, (EndpointConnectionError, ConnectTimeoutError))
    return StoreUnavailable(f"DynamoDB unreachable: {exc}", maybe_applied=not never_sent)
