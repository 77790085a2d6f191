"""The CloudWatch metrics a request line carries, in the embedded metric format (EMF).

CloudWatch Logs turns a line's `_aws` member into metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
no PutMetricData round trip inside Vonage's one-second budget, and no second line. A line's
metrics depend only on its route, status and what it counts; their values are members of
the line itself.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, NamedTuple

from chalicelib.text import compact_json

DEFAULT_NAMESPACE = "callgate"  # METRICS_NAMESPACE's default; also where the settings cannot be read

COUNT, MILLISECONDS = "Count", "Milliseconds"
ANSWERS = "Answers"  # an answer, by decision and reason
EVENTS_STORED = "EventsStored"  # an event stored (not a redelivery)
DUPLICATES = "Duplicates"  # an event already stored: a redelivery
VOICEMAILS = "Voicemails"  # a voicemail's recording stored (its record event)
TOKENS_MINTED = "TokensMinted"  # a Vonage Client SDK JWT minted by POST /token
USERS_CREATED = "UsersCreated"  # a Vonage user created by a user's first POST /token
FALLBACK_USES = "FallbackUses"  # a request to the fallback answer URL: the answer URL failed Vonage
UNAUTHORIZED = "Unauthorized"  # a 401 (not signed by Vonage)
UNAVAILABLE = "Unavailable"  # a 503 (storage, a secret, the settings or the issuer)
STORAGE_LATENCY = "StorageLatency"  # ms inside the store's calls during the request
UNITS = {
    ANSWERS: COUNT, EVENTS_STORED: COUNT, DUPLICATES: COUNT, VOICEMAILS: COUNT, TOKENS_MINTED: COUNT,
    USERS_CREATED: COUNT, FALLBACK_USES: COUNT, UNAUTHORIZED: COUNT, UNAVAILABLE: COUNT,
    STORAGE_LATENCY: MILLISECONDS,
}  # fmt: skip
ROUTE = "Route"  # the dimension of every metric but Answers
DECISION, REASON = "Decision", "Reason"  # the dimensions of Answers

Dimensions = tuple[tuple[str, str], ...]  # (name, value) pairs


class LineText(NamedTuple):
    """What every request line of one kind holds (its route, outcome and status, and its metrics
    in a namespace), as JSON text built once: a line is this text with the request's own values
    (latency, ids, fields, storage time, timestamp) put between."""

    head: str  # `{"log":…,"route":…,"outcome":…,"status":…,"latency_ms":`
    values: str  # the metrics' members but StorageLatency: `,"Decision":"connect",…,"Answers":1`
    directives: str | None  # the `_aws` CloudWatchMetrics array; None: no metric at all


@lru_cache(maxsize=512)  # a few dozen kinds of line per namespace
def line_text(
    log: str,
    route: str,
    outcome: str,
    status: int,
    counts: tuple[str, ...],
    dimensions: Dimensions | None,
    namespace: str,
    storage: bool,
) -> LineText:
    """The kind's text: `counts` (each 1) with their own `dimensions`, or by Route when they have
    none; Unauthorized for a 401 and Unavailable for a 503, by Route; StorageLatency (its value
    the request's), by Route, when `storage` (the request called the store)."""
    by_route = [] if dimensions is not None else list(counts)
    if status == 401:
        by_route.append(UNAUTHORIZED)
    elif status == 503:
        by_route.append(UNAVAILABLE)
    members: dict[str, Any] = {}
    sets: list[tuple[list[str], list[str]]] = []
    if dimensions is not None and counts:
        members.update(dimensions)
        members.update(dict.fromkeys(counts, 1))
        sets.append(([name for name, _ in dimensions], list(counts)))
    if by_route or storage:
        members[ROUTE] = route
        members.update(dict.fromkeys(by_route, 1))
        sets.append(([ROUTE], [*by_route, STORAGE_LATENCY] if storage else by_route))
    head = (
        compact_json({"log": log, "route": route, "outcome": outcome, "status": status})[:-1]
        + ',"latency_ms":'
    )
    directives = [
        {
            "Namespace": namespace,
            "Dimensions": [names],
            "Metrics": [{"Name": metric, "Unit": UNITS[metric]} for metric in metrics],
        }
        for names, metrics in sets
    ]
    values = "," + compact_json(members)[1:-1] if members else ""
    return LineText(head, values, compact_json(directives) if directives else None)


def timestamp_ms() -> int:
    """The `_aws` Timestamp: now, in epoch milliseconds."""
    return time.time_ns() // 1_000_000
