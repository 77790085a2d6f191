"""The one request line every request writes, with its CloudWatch metrics embedded in it.

CloudWatch Logs turns a line's `_aws` member into metrics (the embedded metric format,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
no PutMetricData round trip inside Vonage's one-second budget, and no second line. A line's
metrics and dimensions depend only on its kind (route, outcome, status) and the namespace,
so that text is encoded once per kind and namespace and spliced in; per request only the
latency, the ids, the storage time and the timestamp are written.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.logs import INFO_PREFIX
from chalicelib.settings import DEFAULT_METRICS_NAMESPACE

DEFAULT_NAMESPACE = DEFAULT_METRICS_NAMESPACE  # also where the settings cannot be read

COUNT, MILLISECONDS = "Count", "Milliseconds"
ANSWERS = "Answers"  # an answer, by decision and reason
EVENTS_STORED = "EventsStored"  # an event stored (not a redelivery)
DUPLICATES = "Duplicates"  # an event already stored: a redelivery
VOICEMAILS = "Voicemails"  # a voicemail's recording stored (its record event)
TOKENS_MINTED = "TokensMinted"  # a Vonage Client SDK JWT minted by POST /token
UNAUTHORIZED = "Unauthorized"  # a 401 (not signed by Vonage)
UNAVAILABLE = "Unavailable"  # a 503 (storage, the secret or the settings)
STORAGE_LATENCY = "StorageLatency"  # ms inside the store's calls during the request
UNITS = {ANSWERS: COUNT, EVENTS_STORED: COUNT, DUPLICATES: COUNT, VOICEMAILS: COUNT, TOKENS_MINTED: COUNT,
         UNAUTHORIZED: COUNT,
         UNAVAILABLE: COUNT, STORAGE_LATENCY: MILLISECONDS}  # fmt: skip
ROUTE = "Route"  # the dimension of every metric but Answers
DECISION, REASON = "Decision", "Reason"  # the dimensions of Answers

_string = json.encoder.encode_basestring  # a str as JSON, ensure_ascii=False like every line
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
_perf_counter = time.perf_counter
_TIMESTAMP = ',"_aws":{"Timestamp":'  # then the epoch milliseconds, then the rest of `_aws`
_time_ns = time.time_ns


def value(text: Any) -> str:
    """`text` as a JSON value (an id: a str, or None for null)."""
    if type(text) is str:
        return _string(text)  # type: ignore[no-any-return]
    return "null" if text is None else _encode(text)


class Kind:
    """One kind of request line: its route, outcome and status, and the metrics every such
    line carries, as JSON text built once (per namespace, for the metrics).

    `counts`: metrics of 1, with the Route dimension unless `dimensions` gives them their own
    set ((name, value) pairs). A 401 also carries Unauthorized=1 and a 503 Unavailable=1, by
    Route; StorageLatency (by Route) is added by the line that measured one.
    """

    __slots__ = ("counts", "dimensions", "head", "namespaces", "route", "status")

    def __init__(
        self,
        log: str,
        route: str,
        outcome: str,
        status: int,
        counts: tuple[str, ...] = (),
        dimensions: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self.route = route
        self.status = status
        self.counts = counts
        self.dimensions = dimensions
        self.head = (  # the line as written: level first (logs.request)
            f'{INFO_PREFIX}"log":{_string(log)},"route":{_string(route)},"outcome":{_string(outcome)},'
            f'"status":{int(status)},"latency_ms":'
        )
        # namespace -> the text before and after the Timestamp's value (before: None when there
        # is no metric); then, in a line with StorageLatency, the text before its value, and
        # after the Timestamp's
        self.namespaces: dict[str, tuple[str | None, str, str, str]] = {}

    def parts(self, namespace: str) -> tuple[str | None, str, str, str]:
        """The text of this kind's metrics in `namespace` (see `namespaces`), built once."""
        try:
            return self.namespaces[namespace]
        except KeyError:
            pass
        values, tail = self._build(namespace, False)
        plain = (None, "}\n") if tail is None else (values + _TIMESTAMP, tail)
        values, tail = self._build(namespace, True)
        found = (*plain, values + ',"StorageLatency":', str(tail))
        self.namespaces[namespace] = found
        return found

    def _build(self, namespace: str, storage: bool) -> tuple[str, str | None]:
        """The metrics' members (dimension values, then counts) and the `_aws` text after its
        Timestamp: one directive per dimension set, the counts' own (if any), then Route's."""
        by_route = [name for name in self.counts if self.dimensions is None]
        if self.status == 401:
            by_route.append(UNAUTHORIZED)
        elif self.status == 503:
            by_route.append(UNAVAILABLE)
        if storage:
            by_route.append(STORAGE_LATENCY)
        directives: list[tuple[tuple[tuple[str, str], ...], list[str]]] = []
        if self.dimensions is not None and self.counts:
            directives.append((self.dimensions, list(self.counts)))
        if by_route:
            directives.append((((ROUTE, self.route),), by_route))
        if not directives:
            return "", None
        members: dict[str, Any] = {}
        for dimensions, _ in directives:
            members.update(dimensions)
        for _, names in directives:
            members.update((name, 1) for name in names if name != STORAGE_LATENCY)
        values = "".join(f",{_string(name)}:{_encode(member)}" for name, member in members.items())
        cloudwatch = [
            {
                "Namespace": namespace,
                "Dimensions": [[name for name, _ in dimensions]],
                "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in names],
            }
            for dimensions, names in directives
        ]
        return values, f',"CloudWatchMetrics":{_encode(cloudwatch)}}}}}\n'


def line(
    kind: Kind,
    namespace: str,
    started: float,
    conversation_uuid: str | None,
    uuid: str | None,
    storage_s: float | None = None,
    more: str = "",
) -> str:
    """The request line of `kind` as written (logs.request): latency from `started`
    (time.perf_counter) to now, the call's and the leg's ids, `more` members (JSON text, each
    after a comma), then its metrics. `storage_s`: seconds spent in the store's calls, None
    when none was made. One function, no helpers: the event URL writes one on every event."""
    latency_ms = (_perf_counter() - started) * 1000
    try:
        parts = kind.namespaces[namespace]
    except KeyError:
        parts = kind.parts(namespace)
    call = _string(conversation_uuid) if type(conversation_uuid) is str else value(conversation_uuid)
    leg = _string(uuid) if type(uuid) is str else value(uuid)
    if storage_s is not None:
        return (
            f'{kind.head}{latency_ms:.2f},"conversation_uuid":{call},"uuid":{leg}{more}'
            f'{parts[2]}{storage_s * 1000:.2f},"_aws":{{"Timestamp":{_time_ns() // 1_000_000}{parts[3]}'
        )
    if parts[0] is None:
        return f'{kind.head}{latency_ms:.2f},"conversation_uuid":{call},"uuid":{leg}{more}{parts[1]}'
    return (
        f'{kind.head}{latency_ms:.2f},"conversation_uuid":{call},"uuid":{leg}{more}'
        f"{parts[0]}{_time_ns() // 1_000_000}{parts[1]}"
    )


def line_with(
    kind: Kind, namespace: str, started: float, members: str, storage_s: float | None = None
) -> str:
    """line() with members of its own in place of the ids (JSON text, each after a comma): the
    answer's line, whose fields (the leg's uuid among them) are the answer's, encoded already."""
    latency_ms = (_perf_counter() - started) * 1000
    parts = kind.parts(namespace)
    if storage_s is not None:
        return (
            f"{kind.head}{latency_ms:.2f}{members}{parts[2]}{storage_s * 1000:.2f}"
            f"{_TIMESTAMP}{_time_ns() // 1_000_000}{parts[3]}"
        )
    if parts[0] is None:
        return f"{kind.head}{latency_ms:.2f}{members}{parts[1]}"
    return f"{kind.head}{latency_ms:.2f}{members}{parts[0]}{_time_ns() // 1_000_000}{parts[1]}"
