"""How a request ends: the one request line it writes, and what a failure becomes.

Every request writes one request line as it replies (RequestLine): route, outcome, status,
latency, ids, the time spent in the store, and its CloudWatch metrics (metrics.py), so one
line answers "what happened to this request" and every alarm counts from it.

Every failure is turned into a reply here, by one table (FAILURES): its HTTP status, the
detail line logged, the reply's error, and what a caller of the answer URL hears instead.
The answer URL always speaks (Vonage drops a call on a 500 and never retries it) but for a
request not provably Vonage's; the event URL answers 4xx for what can never be stored and
503 for what a retry may store (Vonage retries a 503); anything the table does not know is
a bug: 500, its traceback logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from chalicelib import logs, metrics
from chalicelib.errors import (
    BadRequest,
    ConfigError,
    IssuerUnavailable,
    KeyMisconfigured,
    SecretMisconfigured,
    SecretUnavailable,
    StoreRejected,
    StoreUnavailable,
    TokenRejected,
    UserForbidden,
    UsersApiUnavailable,
)
from chalicelib.routes.http import Reply
from chalicelib.settings import Settings, metrics_namespace_of
from chalicelib.signature import SignatureError

INTERNAL_ERROR = "internal_error"  # the refusal spoken for a failure nobody foresaw


@dataclass(frozen=True)
class Failure:
    """What one kind of failure becomes."""

    kind: type[Exception]
    status: int | None  # the reply's status; None: the exception's own (BadRequest.status)
    logged: str | None  # the detail line (with the exception's text); None: the request line says it
    error: str  # the reply's "error": a template of the exception, `{exc}` (its text, safe to show)
    refusal: str | None  # what the answer URL's caller hears instead; None: it answers `status` too
    headers: Mapping[str, str] | None = None

    @property
    def misconfigured(self) -> bool:
        """GET /health's word for it: "misconfigured" (an operator must act) or "unavailable"."""
        return self.refusal == "misconfigured"


# In order: the first row whose kind the exception is, is its row (subclasses first).
FAILURES = (
    Failure(SignatureError, 401, "signature_rejected", "unauthorized: {exc}", None),
    Failure(TokenRejected, 401, "token_refused", "unauthorized: {exc}", None,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
    Failure(UserForbidden, 403, "token_forbidden", "forbidden: {exc}", None),
    Failure(BadRequest, None, None, "{exc}", "invalid_request"),
    Failure(StoreRejected, 400, "storage_rejected", "cannot be stored: {exc}", "invalid_request"),
    Failure(StoreUnavailable, 503, "storage_unavailable", "the calls table is unavailable, retry later",
            "policy_unavailable"),
    Failure(SecretMisconfigured, 503, "misconfigured",
            "service misconfigured: the SSM parameter of {exc.what} is unusable", "misconfigured"),
    Failure(SecretUnavailable, 503, "secret_unavailable", "{exc.what} cannot be read now, retry later",
            "policy_unavailable"),  # the signature cannot be checked: fail closed
    Failure(ConfigError, 503, "misconfigured", "service misconfigured: {exc}", "misconfigured"),
    Failure(IssuerUnavailable, 503, "issuer_unavailable",
            "the identity provider's keys are unavailable, retry later", None),
    Failure(KeyMisconfigured, 503, "misconfigured", "service misconfigured: {exc}", None),
    Failure(UsersApiUnavailable, 503, "users_api_unavailable",
            "the user's Vonage user cannot be created now, retry later", None, {"Retry-After": "5"}),
)  # fmt: skip
OUTCOMES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 500: "error", 503: "unavailable"}


def failure_of(exc: Exception) -> Failure | None:
    """The table's row for `exc`; None for a failure nobody foresaw (a bug)."""
    return next((row for row in FAILURES if isinstance(exc, row.kind)), None)


def refusal_reason(exc: Exception) -> str | None:
    """What the answer URL's caller hears instead of a call, for this failure (a prompts reason);
    None when the request gets no NCCO at all (not provably Vonage's: it is answered 401)."""
    failure = failure_of(exc)
    return INTERNAL_ERROR if failure is None else failure.refusal


def outcome_of(status: int) -> str:
    """A request line's outcome for a failure's status."""
    return OUTCOMES.get(status) or ("rejected" if status < 500 else "error")


class Route(NamedTuple):
    log: str  # the request line's "log"
    path: str  # its "route", and every detail line's about the request


class StoreTime:
    """Adds the time its `with` block takes to the line's storage time (RequestLine.in_store)."""

    __slots__ = ("begun", "line")

    def __init__(self, line: RequestLine) -> None:
        self.line = line
        self.begun = 0.0

    def __enter__(self) -> None:
        self.begun = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.line.storage_s = (self.line.storage_s or 0.0) + time.perf_counter() - self.begun


class RequestLine:
    """One request's line: started with the request, written once as it replies."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.started = time.perf_counter()
        self.settings: Settings | None = None  # once read: the metrics go to its namespace
        self.conversation_uuid: str | None = None
        self.uuid: str | None = None
        self.storage_s: float | None = None  # seconds in the store's calls; None: no call made

    def in_store(self) -> StoreTime:
        """`with line.in_store():` times a call to the store, whether it returns or raises."""
        return StoreTime(self)

    def write(
        self,
        outcome: str,
        status: int = 200,
        counts: tuple[str, ...] = (),
        dimensions: metrics.Dimensions | None = None,
        fields: Mapping[str, Any] | None = None,
        encoded: str = "",
    ) -> None:
        """The line: its kind (route, outcome, status), latency and ids, then `fields`, `encoded`
        (members that are JSON text already), and its metrics: `counts`, each 1, by Route or by
        `dimensions`, StorageLatency when it called the store (metrics.line_text)."""
        # a stage whose settings cannot be read still counts in its own namespace (its alarms')
        if self.settings is not None:
            namespace = self.settings.metrics_namespace
        else:
            namespace = metrics_namespace_of(os.environ)
        storage_s = self.storage_s
        kind = metrics.line_text(
            self.route.log,
            self.route.path,
            outcome,
            status,
            counts,
            dimensions,
            namespace,
            storage_s is not None,
        )
        # the kind's text with this request's values between: the same JSON object json.dumps would
        # write for them (the unit tests hold every kind to the embedded metric format)
        parts = [
            kind.head,
            f"{(time.perf_counter() - self.started) * 1000:.2f}",
            ',"conversation_uuid":',
            logs.json_text(self.conversation_uuid),
            ',"uuid":',
            logs.json_text(self.uuid),
        ]
        if fields:
            parts += [",", logs.json_text(fields)[1:-1]]
        if encoded:
            parts += [",", encoded]
        parts.append(kind.values)
        if storage_s is not None:
            parts += [',"StorageLatency":', f"{storage_s * 1000:.2f}"]
        if kind.directives is not None:
            parts += [
                ',"_aws":{"Timestamp":',
                str(metrics.timestamp_ms()),
                ',"CloudWatchMetrics":',
                kind.directives,
                "}",
            ]
        parts.append("}")
        logs.line_text(logging.INFO, "".join(parts))

    def failed(self, exc: Exception, health: bool = False) -> Reply:
        """The reply to a request that failed with `exc`, its detail logged and its line written.
        `health`: GET /health's body ({"status", "error"}), its word the line's outcome."""
        failure = failure_of(exc)
        if failure is None:
            logs.exception(
                "request_failed", exc, route=self.route.path, conversation_uuid=self.conversation_uuid
            )
            self.write("error", 500)
            return Reply(500, {"error": "internal error"})
        status = failure.status or getattr(exc, "status", 400)
        if failure.logged is not None:
            self.detail(failure, exc)
        error = failure.error.format(exc=exc)
        if health:
            word = "misconfigured" if failure.misconfigured else "unavailable"
            self.write(word, status)
            return Reply(status, {"status": word, "error": error})
        self.write(outcome_of(status), status)
        return Reply(status, {"error": error}, failure.headers)

    def detail(self, failure: Failure, exc: Exception) -> None:
        """The failure's detail line: a warning with the reason a client got it wrong (401, 403),
        else an error with the exception's own text (it may name a setting, never its value)."""
        if failure.status in (401, 403):
            logs.warning(failure.logged or "rejected", route=self.route.path, reason=str(exc))
        else:
            logs.error(failure.logged or "failed", route=self.route.path, error=str(exc))
