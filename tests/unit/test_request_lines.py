"""Every request writes exactly one request line, with its CloudWatch metrics embedded (EMF).

The handlers run over a fake store (no DynamoDB) and write through callgate's own
JsonLines handler, alone on the logger as in Lambda, to a buffer: what is checked is the
text Lambda would hand to CloudWatch Logs. Each line is validated against the embedded
metric format's rules, then its fields and metric values are checked per route and outcome.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import logs, metrics
from chalicelib.errors import ConfigError, StoreRejected, StoreUnavailable
from chalicelib.routes import answer, event, fallback, health, history
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.routes.outcomes import RequestLine
from chalicelib.settings import Settings
from chalicelib.storage.call_store import Page, SavedAnswer, StoredCall
from tests.support import JSON, SECRET, bearer, stage_settings

CONNECT_QUERY = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-1", "uuid": "leg-1"}
STATUS = {"conversation_uuid": "CON-1", "uuid": "leg-2", "status": "answered",
          "timestamp": "2026-11-20T12:00:00.000Z"}  # fmt: skip
STATUS_BODY = json.dumps(STATUS).encode()
BUSY = {**STATUS, "status": "busy"}
REQUEST_FIELDS = {"level", "log", "route", "outcome", "status", "latency_ms", "conversation_uuid", "uuid"}
# CloudWatch's StandardUnit values
UNITS = {
    *(f"{size}{rate}" for size in ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
                                   "Kilobits", "Megabits", "Gigabits", "Terabits", "Count")
      for rate in ("", "/Second")),
    "Seconds", "Microseconds", "Milliseconds", "Percent", "None",
}  # fmt: skip


# --- the embedded metric format ---------------------------------------------------------------


def emf_metrics(line: dict[str, Any]) -> dict[str, tuple[float, str, tuple[str, ...], str]]:
    """The line's metrics per the EMF specification, as name -> (value, unit, dimension names,
    namespace); raises AssertionError where the line breaks a rule. {} without `_aws`."""
    if "_aws" not in line:
        return {}
    aws = line["_aws"]
    assert set(aws) == {"Timestamp", "CloudWatchMetrics"}, aws
    stamp = aws["Timestamp"]
    assert type(stamp) is int, "Timestamp: epoch milliseconds, an integer"
    assert abs(stamp - time.time() * 1000) < 60_000, "Timestamp: now, in milliseconds"
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives, "CloudWatchMetrics: a non-empty array"
    found: dict[str, tuple[float, str, tuple[str, ...], str]] = {}
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}, directive
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 0 < len(namespace) <= 255 and namespace.strip()
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list) and dimension_sets, "Dimensions: an array of sets"
        for names in dimension_sets:
            assert isinstance(names, list) and 1 <= len(names) <= 30, "at most 30 dimensions a set"
            for name in names:
                assert isinstance(line.get(name), str) and line[name], f"dimension {name}: a string member"
        declared = directive["Metrics"]
        assert isinstance(declared, list) and 1 <= len(declared) <= 100, "at most 100 metrics"
        for metric in declared:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"} and isinstance(metric["Name"], str)
            assert metric.get("Unit", "None") in UNITS, metric
            value = line.get(metric["Name"])
            assert type(value) in (int, float), f"metric {metric['Name']}: a number member, not {value!r}"
            assert metric["Name"] not in found, f"{metric['Name']} declared twice"
            found[metric["Name"]] = (value, metric["Unit"], tuple(dimension_sets[0]), namespace)
    return found


def test_the_validator_refuses_what_breaks_the_format() -> None:
    """emf_metrics can fail: each broken line is refused."""
    directive = {"Namespace": "callgate", "Dimensions": [["Route"]],
                 "Metrics": [{"Name": "EventsStored", "Unit": "Count"}]}  # fmt: skip

    def line(stamp: Any = None, **changes: Any) -> dict[str, Any]:
        aws = {"Timestamp": int(time.time() * 1000) if stamp is None else stamp,
               "CloudWatchMetrics": [{**directive, **changes}]}  # fmt: skip
        return {"Route": "/event", "EventsStored": 1, "_aws": aws}

    assert emf_metrics(line()) == {"EventsStored": (1, "Count", ("Route",), "callgate")}
    broken = [
        {**line(), "Route": 1},  # a dimension that is no string
        {k: v for k, v in line().items() if k != "Route"},  # a dimension missing
        {**line(), "EventsStored": "1"},  # a metric that is no number
        line(stamp=time.time()),  # seconds, a float
        line(stamp=1_000),  # not now
        line(Namespace=""),
        line(Dimensions=[["Route"] * 31]),
        line(Metrics=[{"Name": "EventsStored", "Unit": "Calls"}]),
        line(Metrics=[{"Name": "EventsStored", "Unit": "Count"}] * 2),
    ]
    for each in broken:
        with pytest.raises(AssertionError):
            emf_metrics(each)


# --- the harness ----------------------------------------------------------------------------------


class FakeStore:
    """The store's operations the handlers call, answering as told: `fail` is raised by every
    call, `stored` is save_event's answer, `limited` makes save_answer refuse by a rate limit,
    `first` is the answer a retried request gets back, `delay` seconds are spent in each call."""

    def __init__(
        self,
        fail: Exception | None = None,
        stored: bool = True,
        limited: bool = False,
        first: dict[str, Any] | None = None,
        found: StoredCall | None = None,
        delay: float = 0.0,
    ) -> None:
        self.fail, self.stored, self.limited, self.first = fail, stored, limited, first
        self.found, self.delay = found, delay
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    def save_answer(self, call: Any, leg_key: str, answer: dict[str, Any], expires_at: int, limits: Any,
                    deadline: float, encoded: str | None = None) -> SavedAnswer:  # fmt: skip
        self._call("save_answer")
        if self.limited and limits:
            return SavedAnswer(answer, False, limits[0])
        return SavedAnswer(self.first or answer, True)

    def settle_answer(self, *_: Any) -> str:
        self._call("settle_answer")
        return "undone"

    def save_event(self, *_: Any) -> bool:
        self._call("save_event")
        return self.stored

    def save_fallback(self, *_: Any) -> bool:
        self._call("save_fallback")
        return True

    def get_call(self, *_: Any) -> StoredCall | None:
        self._call("get_call")
        return self.found

    def list_calls(self, *_: Any) -> Page:
        self._call("list_calls")
        return Page([], None)

    def check(self) -> None:
        self._call("check")

    def kept(self) -> bool:
        return False  # every check asks DynamoDB


def broken_settings() -> Settings:
    raise ConfigError("VONAGE_NUMBER is not set")


def stage(**overrides: str | None) -> Settings:
    """The smallest stage's settings, with an eventUrl for the connect (else a warning says so)."""
    return stage_settings(PUBLIC_BASE_URL="https://calls.example.com", **overrides)


SIGNED = {"VONAGE_SIGNATURE_SECRET": SECRET, "ALLOW_UNSIGNED_WEBHOOKS": None}


class Routes:
    """Each route over these adapters, asked as Vonage (or a tool) asks it."""

    def __init__(self, adapters: Adapters) -> None:
        self.adapters = adapters

    def answer(self, query: dict[str, str] | None, authorization: str | None = None) -> Reply:
        return answer.answer(self.adapters, Request(query, None, None, authorization))

    def event(self, body: bytes, query: dict[str, str] | None = None) -> Reply:
        return event.event(self.adapters, Request(query, body, JSON))

    def fallback(self, query: dict[str, str]) -> Reply:
        return fallback.fallback(self.adapters, Request(query))

    def get_call(self, conversation_uuid: str, query: dict[str, str] | None = None) -> Reply:
        return history.get_call(self.adapters, conversation_uuid, query)

    def list_calls(self, query: dict[str, str]) -> Reply:
        return history.list_calls(self.adapters, query)

    def health(self) -> Reply:
        return health.health(self.adapters)


def handlers(
    store: FakeStore | None = None, settings: Settings | Callable[[], Settings] | None = None
) -> Routes:
    """The routes over `store` (a fresh FakeStore) with these settings (stage()'s)."""
    fixed = stage() if settings is None else settings
    return Routes(
        Adapters(
            store_for=lambda _: store if store is not None else FakeStore(),
            load_settings=fixed if callable(fixed) else lambda: fixed,
        )
    )


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What callgate writes, as in Lambda: its own JsonLines alone on the logger, at INFO."""
    log = logging.getLogger("callgate")
    saved = (log.handlers[:], log.propagate, log.level, log.filters[:])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonLines())
    log.handlers[:] = [handler]
    log.propagate, log.filters[:] = False, []
    log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        log.handlers[:], log.propagate, _, log.filters[:] = saved
        log.setLevel(saved[2])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written since the last call: each one JSON object, level first, nothing else."""
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    assert text == "" or text.endswith("\n")
    found = []
    for raw in text.splitlines():
        assert raw.startswith('{"level":"'), raw[:80]
        line = json.loads(raw)
        assert isinstance(line, dict) and next(iter(line)) == "level" and list(line)[1] == "log"
        found.append(line)
    return found


def request_line(stream: io.StringIO, others: int | None = 0) -> dict[str, Any]:
    """The request's one request line, checked against the format; `others`: how many other
    lines (error and warning details) it wrote besides, None for any number."""
    written = lines(stream)
    requests = [line for line in written if REQUEST_FIELDS <= set(line)]
    assert len(requests) == 1, written
    if others is not None:
        assert len(written) - 1 == others, written
    (line,) = requests
    assert line["level"] == "INFO"
    assert type(line["status"]) is int and isinstance(line["outcome"], str)
    assert type(line["latency_ms"]) in (int, float) and line["latency_ms"] >= 0
    assert round(line["latency_ms"], 2) == line["latency_ms"], "rounded to 0.01 ms"
    emf_metrics(line)
    return line


def counted(line: dict[str, Any]) -> dict[str, float]:
    """The line's metrics by name, their values."""
    return {name: value for name, (value, _, _, _) in emf_metrics(line).items()}


def check_route_metrics(line: dict[str, Any], namespace: str = metrics.DEFAULT_NAMESPACE) -> None:
    """Every metric but Answers is by Route (the line's own route), and all in `namespace`."""
    for name, (value, unit, dimensions, space) in emf_metrics(line).items():
        assert space == namespace
        if name == metrics.ANSWERS:
            assert (unit, dimensions, value) == ("Count", ("Decision", "Reason"), 1)
        else:
            assert dimensions == ("Route",) and line["Route"] == line["route"]
            assert unit == ("Milliseconds" if name == metrics.STORAGE_LATENCY else "Count")


# --- the answer URL -------------------------------------------------------------------------------


def test_a_connect_writes_one_line_with_its_answer_and_metrics(written: io.StringIO) -> None:
    reply = handlers().answer(CONNECT_QUERY)
    line = request_line(written)
    assert reply.status == 200
    assert (line["log"], line["route"], line["outcome"], line["status"]) == (
        "answer_decision", "/answer", "connect", 200,
    )  # fmt: skip
    assert (line["conversation_uuid"], line["uuid"], line["stored"]) == ("CON-1", "leg-1", True)
    assert (line["decision"], line["reason"], line["destination"]) == ("connect", "allowed", "+14155550101")
    assert (line["Decision"], line["Reason"]) == ("connect", "allowed")
    assert set(counted(line)) == {"Answers", "StorageLatency"} and counted(line)["Answers"] == 1
    assert line["latency_ms"] + 0.01 >= line["StorageLatency"] >= 0
    check_route_metrics(line)


@pytest.mark.parametrize(
    ("query", "reason", "stored"),
    [
        ({**CONNECT_QUERY, "to": "18765550100"}, "country_not_allowed", True),
        ({**CONNECT_QUERY, "to": "12"}, "invalid_number", True),
        ({**CONNECT_QUERY, "from_user": ""}, "unknown_caller", True),
        ({k: v for k, v in CONNECT_QUERY.items() if k != "conversation_uuid"}, "invalid_request", False),
    ],
)
def test_a_refusal_counts_one_answer_by_its_reason(
    written: io.StringIO, query: dict[str, str], reason: str, stored: bool
) -> None:
    store = FakeStore()
    handlers(store).answer(query)
    line = request_line(written)
    assert (line["outcome"], line["status"], line["decision"]) == ("refuse", 200, "refuse")
    assert line["reason"] == reason
    assert (line["Decision"], line["Reason"], line["stored"]) == ("refuse", reason, stored)
    assert counted(line)["Answers"] == 1
    # storage latency only where the store was asked (an answer without ids is filed nowhere)
    assert ("StorageLatency" in line) == bool(store.calls) == stored
    check_route_metrics(line)


def test_a_limits_refusal_is_counted_though_not_stored(written: io.StringIO) -> None:
    handlers(FakeStore(limited=True)).answer(CONNECT_QUERY)
    line = request_line(written)
    assert (line["outcome"], line["Reason"], line["stored"]) == ("refuse", "user_rate_limited", False)
    assert set(counted(line)) == {"Answers", "StorageLatency"}


def test_storage_that_fails_is_a_spoken_refusal_and_still_timed(written: io.StringIO) -> None:
    handlers(FakeStore(fail=StoreUnavailable("timed out"))).answer(CONNECT_QUERY)
    line = request_line(written)
    # no 503 on the answer URL: the caller hears a refusal, so nothing counts as Unavailable
    assert (line["status"], line["outcome"], line["Reason"]) == (200, "refuse", "policy_unavailable")
    assert set(counted(line)) == {"Answers", "StorageLatency"}


def test_broken_settings_count_in_the_default_namespace(
    written: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METRICS_NAMESPACE", raising=False)
    handlers(settings=broken_settings).answer(CONNECT_QUERY)
    line = request_line(written)
    assert (line["outcome"], line["Reason"]) == ("refuse", "misconfigured")
    assert {space for _, _, _, space in emf_metrics(line).values()} == {"callgate"}


@pytest.mark.parametrize(
    ("variable", "expected"), [("callgate/prod", "callgate/prod"), ("AWS/Lambda", "callgate")]
)
def test_a_misconfigured_stage_still_counts_in_its_own_namespace(
    written: io.StringIO, monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    """Its 503s must reach the alarms on its namespace; an invalid one falls back to the default."""
    monkeypatch.setenv("METRICS_NAMESPACE", variable)
    reply = handlers(settings=broken_settings).event(STATUS_BODY)
    line = request_line(written, others=1)
    assert reply.status == 503
    check_route_metrics(line, expected)


def test_an_unsigned_answer_request_is_one_unauthorized_line(written: io.StringIO) -> None:
    signed = stage(**SIGNED)
    store = FakeStore()
    reply = handlers(store, signed).answer(CONNECT_QUERY, "Bearer forged")
    line = request_line(written, others=1)  # and the warning saying why
    assert reply.status == 401 and not store.calls
    assert (line["log"], line["outcome"], line["status"]) == ("answer_decision", "unauthorized", 401)
    assert (line["conversation_uuid"], line["uuid"]) == ("CON-1", "leg-1")
    assert counted(line) == {"Unauthorized": 1} and "decision" not in line
    check_route_metrics(line)


def test_a_signed_answer_request_is_answered(written: io.StringIO) -> None:
    signed = stage(**SIGNED)
    handlers(settings=signed).answer(CONNECT_QUERY, bearer(query=CONNECT_QUERY))
    assert request_line(written)["outcome"] == "connect"


@pytest.mark.parametrize("reason", ["something new", ["a", "list"], None, ""])
def test_an_answer_reason_outside_the_codes_is_no_dimension_of_its_own(
    written: io.StringIO, reason: Any
) -> None:
    """A retried request gets the stored first answer back: its reason is logged as it is, but
    metrics only know the reason codes (each dimension value is a metric of its own)."""
    first = handlers().answer(CONNECT_QUERY)  # the answer to store
    lines(written)
    stored = {"decision": "connect", "reason": reason, "ncco": first.body, "uuid": "leg-1"}
    reply = handlers(FakeStore(first=stored)).answer(CONNECT_QUERY)
    line = request_line(written)
    assert reply.status == 200 and reply.body == first.body
    assert (line["reason"], line["Reason"], line["Decision"]) == (reason, "other", "connect")


def test_the_namespace_is_the_stages(written: io.StringIO) -> None:
    settings = stage(METRICS_NAMESPACE="callgate/test")
    handlers(settings=settings).answer(CONNECT_QUERY)
    line = request_line(written)
    assert {space for _, _, _, space in emf_metrics(line).values()} == {"callgate/test"}
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "callgate/test"


def test_latency_covers_the_request_and_storage_latency_the_store(written: io.StringIO) -> None:
    handlers(FakeStore(delay=0.03)).event(STATUS_BODY)
    line = request_line(written)
    assert line["StorageLatency"] >= 30 and line["latency_ms"] >= line["StorageLatency"]
    handlers(FakeStore()).event(STATUS_BODY)
    assert request_line(written)["StorageLatency"] < 30


# --- the event URL --------------------------------------------------------------------------------


def test_a_stored_event_writes_one_line(written: io.StringIO) -> None:
    reply = handlers().event(STATUS_BODY)
    line = request_line(written)
    assert (reply.status, reply.body, reply.text) == (200, {}, "{}")
    assert (line["log"], line["route"], line["outcome"], line["status"]) == ("event", "/event", "stored", 200)
    assert (line["conversation_uuid"], line["uuid"]) == ("CON-1", "leg-2")
    assert set(counted(line)) == {"EventsStored", "StorageLatency"} and counted(line)["EventsStored"] == 1
    check_route_metrics(line)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Route"]]


def test_a_redelivery_counts_a_duplicate(written: io.StringIO) -> None:
    handlers(FakeStore(stored=False)).event(STATUS_BODY)
    line = request_line(written)
    assert (line["outcome"], line["status"]) == ("duplicate", 200)
    assert set(counted(line)) == {"Duplicates", "StorageLatency"} and counted(line)["Duplicates"] == 1
    assert isinstance(line["digest"], str) and len(line["digest"]) == 20
    check_route_metrics(line)


@pytest.mark.parametrize(("stored", "count"), [(True, "EventsStored"), (False, "Duplicates")])
def test_a_failover_event_says_so(written: io.StringIO, stored: bool, count: str) -> None:
    reply = handlers(FakeStore(stored=stored)).event(json.dumps(BUSY).encode(), {"failover": "1"})
    line = request_line(written)
    assert reply.status == 200 and isinstance(reply.body, list)
    assert (line["outcome"], line["event_status"], line["status"]) == ("failover", "busy", 200)
    assert set(counted(line)) == {count, "StorageLatency"}


HUGE = b'{"a": "' + b"x" * 300_000 + b'"}'


@pytest.mark.parametrize(
    ("body", "status"), [(b"{not json", 400), (b"[]", 400), (b'{"status": "started"}', 400), (HUGE, 413)]
)
def test_an_event_that_can_never_be_stored_is_rejected(
    written: io.StringIO, body: bytes, status: int
) -> None:
    store = FakeStore()
    reply = handlers(store).event(body)
    line = request_line(written)
    assert reply.status == status == line["status"] and not store.calls
    assert (line["outcome"], line["conversation_uuid"], line["uuid"]) == ("rejected", None, None)
    assert "_aws" not in line and counted(line) == {}  # a 4xx counts nothing


def test_an_event_dynamodb_refuses_is_rejected_and_timed(written: io.StringIO) -> None:
    reply = handlers(FakeStore(fail=StoreRejected("too large"))).event(STATUS_BODY)
    line = request_line(written, others=1)  # the error saying why
    assert (reply.status, line["status"], line["outcome"]) == (400, 400, "rejected")
    assert (line["conversation_uuid"], line["uuid"]) == ("CON-1", "leg-2")
    assert set(counted(line)) == {"StorageLatency"}


def test_storage_unavailable_is_a_503_counted_unavailable(written: io.StringIO) -> None:
    reply = handlers(FakeStore(fail=StoreUnavailable("throttled"))).event(STATUS_BODY)
    line = request_line(written, others=1)
    assert (reply.status, line["status"], line["outcome"]) == (503, 503, "unavailable")
    assert (line["conversation_uuid"], line["uuid"]) == ("CON-1", "leg-2")
    assert counted(line)["Unavailable"] == 1 and set(counted(line)) == {"Unavailable", "StorageLatency"}
    check_route_metrics(line)


def test_an_event_with_broken_settings_is_unavailable_in_the_default_namespace(
    written: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METRICS_NAMESPACE", raising=False)
    reply = handlers(settings=broken_settings).event(STATUS_BODY)
    line = request_line(written, others=1)
    assert (reply.status, line["outcome"]) == (503, "unavailable")
    assert counted(line) == {"Unavailable": 1}
    check_route_metrics(line, "callgate")


def test_an_unsigned_event_is_unauthorized(written: io.StringIO) -> None:
    signed = stage(**SIGNED, METRICS_NAMESPACE="callgate/dev")
    store = FakeStore()
    reply = handlers(store, signed).event(STATUS_BODY)
    line = request_line(written, others=1)
    assert (reply.status, line["status"], line["outcome"]) == (401, 401, "unauthorized") and not store.calls
    assert counted(line) == {"Unauthorized": 1} and "StorageLatency" not in line
    check_route_metrics(line, "callgate/dev")


def test_detail_lines_name_the_route_as_the_request_line_does(written: io.StringIO) -> None:
    """`filter route = "/event"` finds a request's warnings and errors with its request line."""
    handlers(settings=stage(**SIGNED)).event(STATUS_BODY)
    handlers(FakeStore(fail=StoreUnavailable("down"))).event(STATUS_BODY)
    handlers(settings=broken_settings).fallback(FALLBACK)
    found = lines(written)
    details = [(line["log"], line.get("route")) for line in found if line["level"] != "INFO"]
    assert details == [
        ("signature_rejected", "/event"),
        ("storage_unavailable", "/event"),
        ("misconfigured", "/fallback"),
        ("fallback_used", None),  # a call's: it names the call (conversation_uuid, uuid)
    ]
    assert [line["route"] for line in found if line["level"] == "INFO"] == ["/event", "/event", "/fallback"]


def test_an_unexpected_error_is_a_500_with_its_line_and_traceback(written: io.StringIO) -> None:
    reply = handlers(FakeStore(fail=RuntimeError("bug"))).event(STATUS_BODY)
    assert (reply.status, reply.body) == (500, {"error": "internal error"})
    found = lines(written)
    (failure,) = [line for line in found if line["level"] == "ERROR"]
    assert (failure["log"], failure["route"], failure["error"]) == (
        "request_failed",
        "/event",
        "RuntimeError: bug",
    )
    assert "RuntimeError: bug" in failure["traceback"]
    (line,) = [line for line in found if line["level"] == "INFO"]
    assert (line["status"], line["outcome"], line["conversation_uuid"]) == (500, "error", "CON-1")


# --- the fallback answer URL ----------------------------------------------------------------------


FALLBACK = {**CONNECT_QUERY, "reason": "answer_url_failed"}


def test_a_fallback_use_recorded(written: io.StringIO) -> None:
    reply = handlers().fallback(FALLBACK)
    line = request_line(written, others=1)  # and the warning that the fallback was used
    assert reply.status == 200
    assert (line["log"], line["route"]) == ("fallback", "/fallback")
    assert (line["outcome"], line["status"]) == ("recorded", 200)
    assert (line["conversation_uuid"], line["uuid"]) == ("CON-1", "leg-1")
    assert counted(line)["FallbackUses"] == 1  # every use counts: the fallback alarm watches it
    assert set(counted(line)) == {"FallbackUses", "StorageLatency"}
    check_route_metrics(line)


def test_a_fallback_use_not_recorded(written: io.StringIO) -> None:
    reply = handlers(FakeStore(fail=StoreUnavailable("down"))).fallback(FALLBACK)
    line = request_line(written, others=2)
    assert (reply.status, line["status"], line["outcome"]) == (200, 200, "not_recorded")
    assert set(counted(line)) == {"FallbackUses", "StorageLatency"}


def test_a_fallback_without_settings_answers_and_says_so(written: io.StringIO) -> None:
    reply = handlers(settings=broken_settings).fallback(FALLBACK)
    line = request_line(written, others=None)
    assert (reply.status, line["outcome"]) == (200, "not_recorded") and counted(line) == {"FallbackUses": 1}


def test_an_unsigned_fallback_is_unauthorized(written: io.StringIO) -> None:
    signed = stage(**SIGNED)
    reply = handlers(settings=signed).fallback(FALLBACK)
    line = request_line(written, others=1)
    assert (reply.status, line["outcome"]) == (401, "unauthorized") and counted(line) == {"Unauthorized": 1}


# --- reads and health -----------------------------------------------------------------------------


RECORD = StoredCall(summary=None, answers=[], fallbacks=[], legs=[], events=[], next=None)


@pytest.mark.parametrize(
    ("found", "query", "status", "outcome"),
    [(RECORD, None, 200, "found"), (None, None, 404, "not_found"), (RECORD, {"limit": "0"}, 400, "rejected")],
)
def test_a_call_record_request(
    written: io.StringIO, found: StoredCall | None, query: dict[str, str] | None, status: int, outcome: str
) -> None:
    store = FakeStore(found=found)
    reply = handlers(store).get_call("CON-1", query)
    line = request_line(written)
    assert (reply.status, line["status"], line["outcome"]) == (status, status, outcome)
    assert (line["log"], line["route"], line["conversation_uuid"]) == ("history", "/calls/{id}", "CON-1")
    assert ("StorageLatency" in line) == bool(store.calls) == (status != 400)


def test_a_call_record_of_an_impossible_id_is_rejected(written: io.StringIO) -> None:
    reply = handlers().get_call("x" * 300)
    line = request_line(written)
    assert (reply.status, line["outcome"], line["conversation_uuid"]) == (400, "rejected", None)


def test_a_call_record_storage_cannot_read_is_unavailable(written: io.StringIO) -> None:
    reply = handlers(FakeStore(fail=StoreUnavailable("down"))).get_call("CON-1")
    line = request_line(written, others=1)
    assert (reply.status, line["outcome"]) == (503, "unavailable")
    assert set(counted(line)) == {"Unavailable", "StorageLatency"}


@pytest.mark.parametrize(
    ("query", "store", "status", "outcome"),
    [
        ({"user": "jane"}, FakeStore(), 200, "listed"),
        ({}, FakeStore(), 400, "rejected"),
        ({"user": "jane"}, FakeStore(fail=StoreUnavailable("down")), 503, "unavailable"),
    ],
)
def test_a_listing(
    written: io.StringIO, query: dict[str, str], store: FakeStore, status: int, outcome: str
) -> None:
    reply = handlers(store).list_calls(query)
    line = request_line(written, others=None)
    assert (reply.status, line["status"], line["outcome"]) == (status, status, outcome)
    assert (line["log"], line["route"]) == ("history", "/calls")
    assert ("Unavailable" in line) == (status == 503)


@pytest.mark.parametrize(
    ("store", "settings", "status", "outcome", "names"),
    [
        (FakeStore(), None, 200, "ok", {"StorageLatency"}),
        (FakeStore(fail=StoreUnavailable("x")), None, 503, "unavailable", {"Unavailable", "StorageLatency"}),
        (FakeStore(), broken_settings, 503, "misconfigured", {"Unavailable"}),
    ],
)
def test_health(
    written: io.StringIO, store: FakeStore, settings: Any, status: int, outcome: str, names: set[str]
) -> None:
    reply = handlers(store, settings).health()
    line = request_line(written, others=None)
    assert (reply.status, line["status"], line["outcome"]) == (status, status, outcome)
    assert (line["log"], line["route"]) == ("health", "/health")
    assert set(counted(line)) == names
    check_route_metrics(line)


@pytest.mark.parametrize("described", ["ACTIVE", "missing"])
def test_a_health_check_the_store_answers_from_its_last_result_has_no_storage_latency(
    written: io.StringIO, described: str
) -> None:
    """The table's state is kept briefly (pollers must not starve the webhooks of DynamoDB): a
    check served from it made no DynamoDB call, so its line carries no StorageLatency, whether
    what was kept is a success or a failure."""
    from botocore.session import Session
    from botocore.stub import Stubber

    from chalicelib.storage.call_store import CallStore

    client = Session().create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    checked = Routes(Adapters(store_for=lambda settings: CallStore(client, "t"), load_settings=stage))
    with Stubber(client) as stubber:
        if described == "ACTIVE":
            stubber.add_response("describe_table", {"Table": {"TableStatus": "ACTIVE"}}, {"TableName": "t"})
        else:
            stubber.add_client_error("describe_table", "ResourceNotFoundException", "no such table")
        first = checked.health()
        second = checked.health()  # no response queued: a DynamoDB call would fail the test
    status = 200 if described == "ACTIVE" else 503
    assert (first.status, second.status) == (status, status)
    requests = [line for line in lines(written) if line["level"] == "INFO"]
    asked, kept = requests
    assert "StorageLatency" in counted(asked)
    assert "StorageLatency" not in counted(kept) and "StorageLatency" not in kept


# --- the line itself ------------------------------------------------------------------------------


def test_through_any_other_handler_the_line_is_the_same_json(caplog: pytest.LogCaptureFixture) -> None:
    """With a handler of a test or a deployment, the line goes through logging as the JSON object
    JsonLines adds the level to (its level is the record's)."""
    with caplog.at_level(logging.INFO, logger="callgate"):
        handlers().event(STATUS_BODY)
    (record,) = [r for r in caplog.records if r.name == "callgate"]
    assert record.levelno == logging.INFO and record.getMessage().startswith('{"log":"event",')
    line = json.loads(record.getMessage())
    assert (line["outcome"], line["EventsStored"]) == ("stored", 1) and "level" not in line
    assert json.loads(logs.JsonLines().format(record)) == {"level": "INFO", **line}


def test_ids_are_values_whatever_they_hold(written: io.StringIO) -> None:
    """A quote or a newline in an id stays inside its JSON string: still one line."""
    hostile = 'CON-"x"\n{"log":"answer_decision"}'
    handlers().event(json.dumps({**STATUS, "conversation_uuid": hostile}).encode())
    line = request_line(written)
    assert line["conversation_uuid"] == hostile


ROUTES = [
    answer.ROUTE, event.ROUTE, fallback.ROUTE, history.LISTING, history.RECORD, health.ROUTE
]  # fmt: skip
KINDS = [
    *((route, outcome, status, ()) for route in ROUTES
      for outcome, status in [("ok", 200), ("rejected", 400), ("unauthorized", 401), ("unavailable", 503),
                              ("error", 500)]),
    (ROUTES[1], "stored", 200, (metrics.EVENTS_STORED,)),
    (ROUTES[1], "duplicate", 200, (metrics.DUPLICATES,)),
    (ROUTES[1], "voicemail", 200, (metrics.EVENTS_STORED, metrics.VOICEMAILS)),
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: f"{kind[0].path} {kind[1]} {kind[2]}")
@pytest.mark.parametrize("storage_s", [None, 0.0123])
def test_every_kind_of_line_is_valid(written: io.StringIO, kind: Any, storage_s: float | None) -> None:
    route, outcome, status, counts = kind
    line = RequestLine(route)
    line.settings, line.conversation_uuid, line.storage_s = (
        stage(METRICS_NAMESPACE="callgate/x"),
        "CON-1",
        storage_s,
    )
    line.write(outcome, status, counts)
    written_line = request_line(written)
    assert written_line["status"] == status and ("StorageLatency" in written_line) == (storage_s is not None)
    if storage_s is not None:
        assert written_line["StorageLatency"] == 12.3
    assert (written_line.get("Unauthorized") == 1) == (status == 401)
    assert (written_line.get("Unavailable") == 1) == (status == 503)
    assert {name for name in counted(written_line)} == {
        *counts, *(["Unauthorized"] if status == 401 else []), *(["Unavailable"] if status == 503 else []),
        *(["StorageLatency"] if storage_s is not None else []),
    }  # fmt: skip
    check_route_metrics(written_line, "callgate/x")


@pytest.mark.parametrize(("made", "reason"), [("connect", "allowed"), ("refuse", "country_not_allowed")])
def test_an_answer_counts_by_decision_and_reason_only(written: io.StringIO, made: str, reason: str) -> None:
    line = RequestLine(answer.ROUTE)
    line.settings, line.storage_s = stage(), 0.0015
    line.write(made, 200, (metrics.ANSWERS,), ((metrics.DECISION, made), (metrics.REASON, reason)))
    found = request_line(written)
    assert counted(found) == {"Answers": 1, "StorageLatency": 1.5}
    assert (found["Decision"], found["Reason"], found["Route"]) == (made, reason, "/answer")
    check_route_metrics(found)


@pytest.mark.parametrize("value", ["AWS/Lambda", "café", "x" * 256, 'a"b', "   "])
def test_a_namespace_cloudwatch_refuses_is_a_configuration_error(value: str) -> None:
    if value.strip():
        with pytest.raises(ConfigError, match="METRICS_NAMESPACE"):
            stage_settings(METRICS_NAMESPACE=value)
    else:  # blank: the default
        assert stage_settings(METRICS_NAMESPACE=value).metrics_namespace == "callgate"


def test_the_namespace_defaults_to_callgate() -> None:
    assert stage_settings().metrics_namespace == "callgate" == metrics.DEFAULT_NAMESPACE
    assert stage_settings(METRICS_NAMESPACE=" callgate/prod ").metrics_namespace == "callgate/prod"


def test_the_timestamp_is_now() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= metrics.timestamp_ms() <= int(time.time() * 1000)


def test_a_line_someone_else_logs_is_one_json_object_with_its_traceback() -> None:
    """Chalice logs an exception a route let through as 'Caught exception for path …' with its
    traceback, on callgate's own logger: it too is one JSON line, the traceback a field."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonLines())
    logger = logging.getLogger("callgate.test-foreign")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            logger.error("Caught exception for path %s", "/answer", exc_info=True)
        logger.warning("plain words")
    finally:
        logger.removeHandler(handler)
    first, second = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert first["level"] == "ERROR" and first["log"] == "Caught exception for path /answer"
    assert "ZeroDivisionError: boom" in first["traceback"]
    assert second == {"level": "WARNING", "log": "plain words", "logger": "callgate.test-foreign"}


def test_the_libraries_warnings_are_json_lines_on_the_same_stream() -> None:
    """Before: urllib3's "Connection pool is full" and botocore's warnings reached stdout as plain
    text through the root logger, which CloudWatch Logs Insights cannot query."""
    buffer = io.StringIO()
    loggers = [logging.getLogger(name) for name in ("callgate", *logs.LIBRARIES)]
    kept = {logger.name: (logger.handlers[:], logger.propagate, logger.level) for logger in loggers}
    for logger in loggers:  # as in a fresh process (the app may be imported already)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
    try:
        logs.write_to(buffer)
        pool = logging.getLogger("urllib3.connectionpool")
        pool.warning("Connection pool is full, discarding connection: %s", "x")
        logging.getLogger("botocore.retryhandler").debug("not shown: below WARNING")
    finally:
        for logger in loggers:
            logger.handlers[:], logger.propagate, level = kept[logger.name]
            logger.setLevel(level)
    (line,) = [json.loads(text) for text in buffer.getvalue().splitlines()]
    assert line == {"level": "WARNING", "log": "Connection pool is full, discarding connection: x",
                    "logger": "urllib3.connectionpool"}  # fmt: skip


def test_an_id_with_a_lone_surrogate_still_gets_its_line_on_a_utf8_stream() -> None:
    """Lambda's stdout is strict UTF-8; a path id may hold a lone surrogate ("CON-\\ud800x")."""
    import subprocess
    import sys

    from tests.support import ROOT

    code = (
        "import sys, io\n"
        "sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding='utf-8', errors='strict')\n"
        "from chalicelib import logs\n"
        "logs.write_to(sys.stdout)\n"
        "logs.log.setLevel('INFO')\n"
        "from chalicelib.routes import history\n"
        "from chalicelib.routes.adapters import Adapters\n"
        "from tests.unit.test_request_lines import FakeStore, stage\n"
        "history.get_call(Adapters(store_for=lambda s: FakeStore(), load_settings=stage), 'CON-\\ud800x')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True)
    assert b"Logging error" not in done.stderr, done.stderr.decode(errors="replace")
    (line,) = [json.loads(text) for text in done.stdout.decode().splitlines()]
    assert line["conversation_uuid"] == "CON-\ud800x" and line["route"] == "/calls/{id}"
