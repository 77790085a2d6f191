"""Fuzzing every webhook route through the app's real wiring (chalice.test.Client, DynamoDB Local).

hypothesis builds requests as no well-behaved client would: GET query strings and POST bodies
(JSON objects, any JSON, bytes, forms, odd content types, nesting up to 1,100 levels, huge,
Unicode and surrogate strings, numbers where text belongs, hostile ids). Each route runs
unsigned (the local stage) and signed (a secret set; a mix of Vonage's tokens and forged ones).

What must hold for every request:
- no status of 500 or more;
- /answer: 200 with an NCCO (401 for a forged request when signed);
- /event: 200, or a 4xx that says why (401 when forged);
- /fallback: 200 with an NCCO (401 when forged);
- a rejected request (4xx) stores nothing (the table's item count does not move) and a
  forged /answer moves no rate-limit counter;
- every line logged is one JSON object on one line, whatever the ids contain.
"""

from __future__ import annotations

import gc
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib.answer_request import read_answer
from chalicelib.events import parse_event
from chalicelib.signature import payload_candidates
from chalicelib.times import utc_iso
from chalicelib.webhooks import OWN_QUERY_KEYS
from tests.conftest import chalice_client
from tests.support import SECRET, answer_log_lines, bearer

EXAMPLES = 1000  # requests per route and mode
ROUTES = ("/answer", "/event", "/fallback")
MODES = ("unsigned", "signed")
WRONG_SECRET = "not-the-secret-0123456789abcdefghijklmnop"
# (route, mode) -> status -> requests sent; printed by the last test
FIGURES: dict[tuple[str, str], Counter[int]] = {}

# --- what hypothesis draws ------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any Unicode but surrogates
ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",))
INJECTION = '\n{"log": "answer_decision", "conversation_uuid": "forged", "decision": "connect"}'
HOSTILE_IDS = ["NONE", "none", "None", "", " ", "null", "0", "12345", "#", "CALL#x", "SUMMARY", "ANSWER#x",
               "a\nb", INJECTION, "x" + INJECTION, '"}', '{"x": 1}', "\r\n\u2028\u2029", "\x00",
               "\u202e"]  # fmt: skip
# Ids at the limits, in characters (250) and UTF-8 bytes (500). 250 characters of 4 bytes each
# once passed, then overflowed a 1,024-byte sort key.
BOUNDARY_IDS = ["\U0001f4de" * 250, "\U0001f4de" * 249 + "x", "\U0001f4de" * 125, "\U0001f4de" * 126,
                "€" * 166 + "xx", "€" * 167, "é" * 250, "é" * 251, "x" * 250, "x" * 251]  # fmt: skip
LONG_ID = st.builds(
    lambda char, n: char * n, st.sampled_from(["x", "é", "€", "\U0001f4de", "\n"]), st.integers(100, 260)
) | st.builds(lambda part, n: part * n, st.text(ASTRAL, min_size=1, max_size=3), st.integers(30, 130))
ID_TEXT = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.sampled_from(BOUNDARY_IDS),
    LONG_ID,
    st.integers(min_value=0, max_value=10**40).map(str),
    TEXT,
)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=4,
)
# Vonage's ids (a uuid) half the time, else hostile: text, numbers where text belongs, lists.
ID = st.one_of(st.uuids().map(str), ID_TEXT, JSON_LEAF | st.lists(ID_TEXT, max_size=2))
NUMBERS = ["14155550101", "447700900123", "+14155550101", "19005550100", "882345", "0", "abc"]
NUMBER = st.one_of(st.sampled_from(NUMBERS), st.integers(), TEXT)
STATUSES = ["started", "ringing", "answered", "busy", "cancelled", "unanswered", "rejected", "failed",
            "timeout", "completed", "transcribed", "human", "machine", "x" * 21, "STARTED"]  # fmt: skip
STATUS = st.one_of(st.sampled_from(STATUSES), JSON_LEAF)
TIMES = ["2020-01-01T12:00:00.000Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "x"]
TIMESTAMP = st.one_of(
    st.sampled_from(TIMES), st.datetimes().map(lambda moment: moment.isoformat()), JSON_LEAF
)
UUID = st.uuids().map(str)
VONAGE_ID = st.one_of(UUID, UUID, UUID, st.sampled_from(BOUNDARY_IDS))  # valid ones at the limits too
ORIGINAL = {"url": "https://example.com/answer", "type": "answer"}
# What Vonage sends to each route; hypothesis then replaces, adds or drops fields.
VONAGE: dict[str, Any] = {
    "/answer": st.fixed_dictionaries(
        {"from_user": st.sampled_from(["jane", "joe"]), "conversation_uuid": VONAGE_ID, "uuid": VONAGE_ID,
         "to": st.sampled_from(NUMBERS)}
    ),
    "/event": st.fixed_dictionaries(
        {"conversation_uuid": VONAGE_ID, "uuid": VONAGE_ID, "status": st.sampled_from(STATUSES),
         "timestamp": st.sampled_from(TIMES), "direction": st.sampled_from(["inbound", "outbound"])}
    ),
    "/fallback": st.fixed_dictionaries(
        {"from_user": st.just("jane"), "to": st.sampled_from(NUMBERS), "conversation_uuid": VONAGE_ID,
         "uuid": VONAGE_ID, "reason": st.just("timeout"), "status": st.sampled_from(STATUSES),
         "original_request": st.just(ORIGINAL)}
    ),
}  # fmt: skip
DIRECTION = st.sampled_from(["inbound", "outbound"]) | JSON_LEAF
FIELDS: dict[str, Any] = {
    "/answer": {"from_user": ID, "from": st.one_of(NUMBER, ID), "to": NUMBER, "uuid": ID,
                "conversation_uuid": ID, "endpoint_type": TEXT, "custom_data": JSON_ANY},
    "/event": {"conversation_uuid": ID, "uuid": ID, "call_uuid": ID, "status": STATUS, "timestamp": TIMESTAMP,
               "direction": DIRECTION, "from": NUMBER, "to": NUMBER,
               "conversation_uuid_from": ID, "conversation_uuid_to": ID, "duration": JSON_LEAF,
               "price": JSON_LEAF, "reason": JSON_ANY, "dtmf": JSON_ANY, "speech": JSON_ANY,
               "recording_url": TEXT, "payload": JSON_ANY},
    "/fallback": {"from_user": ID, "from": NUMBER, "to": NUMBER, "uuid": ID, "conversation_uuid": ID,
                  "reason": JSON_ANY, "original_request": JSON_ANY | st.fixed_dictionaries(
                      {"url": TEXT, "type": st.sampled_from(["answer", "event"])}),
                  "status": STATUS, "timestamp": TIMESTAMP},
}  # fmt: skip
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", "x/y;;;",
                 "application/json, text/plain"]  # fmt: skip


@dataclass(frozen=True)
class Request:
    """One request as sent, and how it was built (shown when a property fails)."""

    kind: str
    method: str
    query: dict[str, str] | None
    body: bytes | None
    content_type: str | None
    token: str = "none"  # how it is signed (signed mode): "valid" or a forgery
    authorization: str | None = None

    @property
    def forged(self) -> bool:
        return self.token != "valid"


def _plain(value: Any) -> str:
    """A value as a query string or a form carries it: text."""
    return value if isinstance(value, str) else json.dumps(value)


BOOL = st.booleans()
ONE_IN_4, ONE_IN_5, ONE_IN_10 = st.integers(0, 3), st.integers(0, 4), st.integers(0, 9)
EXTRA = st.dictionaries(TEXT, JSON_ANY, max_size=1)  # fields Vonage never sends
SET = {route: st.lists(st.sampled_from(sorted(FIELDS[route])), max_size=3, unique=True) for route in FIELDS}
DROP = {route: st.lists(st.sampled_from(sorted(FIELDS[route])), max_size=1) for route in FIELDS}


@st.composite
def fields(draw: st.DrawFn, route: str) -> dict[str, Any]:
    """A webhook's fields: Vonage's (or none) with any of them replaced, dropped or added to;
    sometimes uuid is the conversation_uuid."""
    found = draw(VONAGE[route]) if draw(BOOL) else {}
    for name in draw(SET[route]):
        found[name] = draw(FIELDS[route][name])
    for name in draw(DROP[route]):
        found.pop(name, None)
    if "conversation_uuid" in found and draw(ONE_IN_5) == 0:
        found["uuid"] = found["conversation_uuid"]
    if draw(ONE_IN_4) == 0:
        found.update(draw(EXTRA))
    return found


def _nested(depth: int, dicts: bool) -> str:
    return '{"a": ' * depth + "1" + "}" * depth if dicts else "[" * depth + "]" * depth


def _with(data: dict[str, Any], field: str, raw: str) -> bytes:
    """`data` as a JSON object with `field` set to `raw`, JSON text written as is."""
    data = {name: value for name, value in data.items() if name != field}
    head = json.dumps(data)[:-1] + (", " if data else "")
    return f"{head}{json.dumps(field)}: {raw}}}".encode()


FIELDS_OF = {route: fields(route) for route in FIELDS}


KINDS = ["json", "json", "json", "any json", "bytes", "form", "deep", "huge", "surrogate", "number", "empty",
         "duplicate keys"]  # fmt: skip
KIND = st.sampled_from(KINDS)
BYTES = st.binary(max_size=200) | st.sampled_from([b"\xff\xfe{", b"{\x00}", b'{"a": "\xed\xa0\x80"}'])
DEEP_FIELD = st.sampled_from(["custom_data", "conversation_uuid", "uuid", "to", "reason", "original_request",
                              "status", "payload", "speech", "x"])  # fmt: skip
DEPTH = st.one_of(st.integers(1, 1100), st.integers(880, 1000))  # dense where json.dumps used to fail
HUGE = st.tuples(
    st.sampled_from(["blob", "conversation_uuid", "to"]),
    st.sampled_from(["x", "\x01", "é", "\U0001f4de", '"']),
    st.sampled_from([5_000, 262_145, 300_000]),  # stored (kept small: the table is scanned), or 413
)
SURROGATE = st.tuples(
    st.sampled_from(["conversation_uuid", "uuid", "from_user", "to", "status", "x"]),
    st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800"]),
)
NUMBER_TEXT = st.tuples(
    st.sampled_from(["conversation_uuid", "uuid", "to", "from", "duration", "timestamp"]),
    st.sampled_from(["12345", "9" * 4300, "9" * 4301, "1e400", "-1e400", "NaN", "Infinity", "-0.0", "1e-400",
                     "1.5", "true", "null", "0x10"]),
)  # fmt: skip
EMPTY = st.sampled_from([b"", b" ", b"\n\t ", b"{}"])
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPE = {
    natural: st.just(natural) | st.just(natural) | st.sampled_from(CONTENT_TYPES) | st.none()
    for natural in ("application/json", FORM)
}


@st.composite
def bodies(draw: st.DrawFn, route: str) -> tuple[str, bytes, str | None]:
    """(kind, body, content type) of a POST."""
    kind = draw(KIND)
    data = draw(FIELDS_OF[route]) if kind in ("json", "form", "deep", "huge", "surrogate", "number") else {}
    if kind == "json":
        body = json.dumps(data, ensure_ascii=draw(BOOL)).encode()
    elif kind == "any json":
        body = json.dumps(draw(JSON_ANY)).encode()
    elif kind == "bytes":
        body = draw(BYTES)
    elif kind == "form":
        body = urlencode({key: _plain(value) for key, value in data.items()}).encode()
    elif kind == "deep":  # a field nested near the interpreter's recursion limit
        body = _with(data, draw(DEEP_FIELD), _nested(draw(DEPTH), draw(BOOL)))
    elif kind == "huge":  # around MAX_BODY_BYTES, and past a stored item's limit once escaped
        field, char, size = draw(HUGE)
        body = json.dumps({**data, field: char * size}).encode()
    elif kind == "surrogate":  # valid JSON, no UTF-8 text
        field, text = draw(SURROGATE)
        body = json.dumps({**data, field: text}).encode()
    elif kind == "number":
        body = _with(data, *draw(NUMBER_TEXT))
    elif kind == "empty":
        body = draw(EMPTY)
    else:  # duplicate keys: the last one wins
        body = b'{"conversation_uuid": "CON-dup", "conversation_uuid": 5, "uuid": "u", "uuid": "NONE"}'
    content_type = draw(CONTENT_TYPE[FORM if kind == "form" else "application/json"])
    return kind, body, content_type


BODIES_OF = {route: bodies(route) for route in FIELDS}


@st.composite
def requests(draw: st.DrawFn, route: str) -> Request:
    """A GET with a query string, or a POST with a body (and sometimes a query too)."""
    if draw(ONE_IN_4) == 0:
        data = draw(FIELDS_OF[route])
        query = {key: _plain(value) for key, value in data.items() if key}
        if route == "/event" and draw(BOOL):
            query["failover"] = "1"
        return Request("query", "GET", query or None, None, None)
    kind, body, content_type = draw(BODIES_OF[route])
    query = {"failover": "1"} if route == "/event" and draw(BOOL) else None
    if draw(ONE_IN_10) == 0:
        query = {**(query or {}), **{k: _plain(v) for k, v in draw(FIELDS_OF[route]).items() if k}} or None
    return Request(kind, "POST", query, body, content_type)


REQUESTS_OF = {route: requests(route) for route in FIELDS}


# How a request is signed: as Vonage signs it ("valid"), or forged.
TOKENS = {
    "valid": lambda q, b, t: bearer(SECRET, q, b, content_type=t),
    "wrong secret": lambda q, b, t: bearer(WRONG_SECRET, q, b, content_type=t),
    "stale": lambda q, b, t: bearer(SECRET, q, b, issued_at=time.time() - 3600, content_type=t),
    "future": lambda q, b, t: bearer(SECRET, q, b, issued_at=time.time() + 3600, content_type=t),
    "not Vonage": lambda q, b, t: bearer(SECRET, q, b, iss="Mallory", content_type=t),
    "tampered": lambda q, b, t: bearer(SECRET, q, (b or b"") + b"\x00tampered", content_type=t),
    "missing": lambda q, b, t: None,
    "junk": lambda q, b, t: "Bearer not.a.jwt",
    "huge": lambda q, b, t: "Bearer " + "A" * 10_000,
    "not bearer": lambda q, b, t: "Basic dm9uYWdlOnNlY3JldA==",
}


FORGERY = st.sampled_from(sorted(set(TOKENS) - {"valid"}))


@st.composite
def signed_requests(draw: st.DrawFn, route: str) -> Request:
    """Half signed as Vonage signs, half forged or unsigned."""
    request = draw(REQUESTS_OF[route])
    token = "valid" if draw(BOOL) else draw(FORGERY)
    authorization = TOKENS[token](request.query, request.body, request.content_type)
    return Request(**{**request.__dict__, "token": token, "authorization": authorization})


# Log lines and answers that mean something broke: never while DynamoDB Local is up.
FAILURES = {"answer_failed", "request_failed", "fallback_failed", "storage_rejected", "storage_unavailable",
            "callback_lookup_failed", "fallback_not_recorded", "answer_not_corrected"}  # fmt: skip
BROKEN = {"policy_unavailable", "internal_error", "misconfigured"}
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# --- what must hold --------------------------------------------------------------------------------


class Table:
    """The table's item count and the global rate-limit counter, as DynamoDB Local holds them.

    A rejected request needs the count from before it. On /event, where most requests are
    rejected, that count is read again after each one that may have stored something, in the
    background while hypothesis draws the next request.
    """

    def __init__(self, client: Any, name: str, background: ThreadPoolExecutor) -> None:
        self.client = client
        self.name = name
        self.background = background
        self.known: Future[int] | None = None  # the count since the last request
        self.known_calls: Future[int] | None = None  # calls_counted() likewise
        self.ahead = False  # read them again at once after a request that may have stored
        self.counts_calls = False  # the answer URL: read the rate-limit counters too

    def count(self) -> int:
        return self.client.scan(TableName=self.name, Select="COUNT", ConsistentRead=True)["Count"]

    def calls_counted(self) -> int:
        """Every connect counted, all minutes together (each connect adds one)."""
        items = self.client.query(
            TableName=self.name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.counter_key(None, "MINUTE", "")["pk"]}},
            ConsistentRead=True,
        )["Items"]
        return sum(int(item["n"]["N"]) for item in items)

    def baseline(self) -> int:
        if self.known is None:
            self.known = self.background.submit(self.count)
        return self.known.result()

    def calls_baseline(self) -> int:
        if self.known_calls is None:
            self.known_calls = self.background.submit(self.calls_counted)
        return self.known_calls.result()

    def stored_something(self) -> None:
        """Forget the count and the counters; read them again in the background if ahead."""
        self.known = self.background.submit(self.count) if self.ahead else None
        self.known_calls = (
            self.background.submit(self.calls_counted) if self.ahead and self.counts_calls else None
        )

    def settle(self) -> None:
        """Wait for the reads in the background: the next request must not race them."""
        for pending in (self.known, self.known_calls):
            if pending is not None:
                pending.result()


def _is_ncco(body: Any) -> bool:
    return (
        isinstance(body, list)
        and bool(body)
        and all(isinstance(action, dict) and isinstance(action.get("action"), str) for action in body)
    )


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The callgate lines logged since the last call, each checked to be one JSON object."""
    lines = []
    for record in caplog.records:
        if record.name != "callgate":
            continue
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message, f"a log line spans lines: {message[:300]!r}"
        line = json.loads(message)  # raises if the line is not JSON
        assert isinstance(line, dict) and "log" in line, message[:300]
        lines.append(line)
    caplog.clear()
    return lines


def _send(client: Any, route: str, request: Request) -> Any:
    path = route + ("?" + urlencode(request.query) if request.query else "")
    headers = {}
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    if request.authorization is not None:
        headers["Authorization"] = request.authorization
    return client.http.request(request.method, path, headers=headers, body=request.body or b"")


def _check(
    client: Any, table: Table, caplog: pytest.LogCaptureFixture, route: str, mode: str, request: Request
) -> None:
    # a request no payload can cover (query keys beside a body that is no JSON object) has no valid token
    unsignable = not payload_candidates(request.query, request.body, OWN_QUERY_KEYS, request.content_type)
    expect_401 = mode == "signed" and (request.forged or unsignable)
    # A baseline is needed wherever a rejection may come: every event, every forged request.
    table.settle()
    before = table.baseline() if route == "/event" or expect_401 else None
    counted = table.calls_baseline() if route == "/answer" and expect_401 else None
    response = _send(client, route, request)
    status = response.status_code
    FIGURES[(route, mode)][status] += 1
    assert status < 500, response.body[:500]
    try:
        body = json.loads(response.body)
    except ValueError:
        pytest.fail(f"{status} with a body that is not JSON: {response.body[:300]!r}")
    if expect_401 and route == "/event":  # Chalice answers 415 to anything but JSON, first
        assert status in (401, 415), (status, body)
    elif expect_401:
        assert status == 401, (status, body)
    elif route == "/event":
        assert status == 200 or (400 <= status < 500 and status != 401), (status, body)
        assert status != 200 or body == {} or _is_ncco(body), body
        assert status == 200 or body.get("error") or body.get("Message"), body  # a 4xx says why
    else:
        assert status == 200 and _is_ncco(body), (status, body)
    lines = _log_lines(caplog)
    if status >= 400:
        assert table.count() == before, "a rejected request stored something"
        if counted is not None:
            assert table.calls_counted() == counted, "a forged answer request was counted"
    else:
        table.stored_something()  # it may have
    # DynamoDB Local is up and every item is small: nothing may fail for storage's sake, or at all.
    failed = [line for line in lines if line["log"] in FAILURES]
    assert not failed, failed
    if route == "/answer":
        decisions = [line for line in lines if line["log"] == "answer_decision" and "decision" in line]
        assert len(decisions) == (0 if status == 401 else 1), lines
        # refused by DynamoDB (an id too long for a key, say) rather than when read: a defect
        assert not decisions or decisions[0]["reason"] not in BROKEN, decisions
        assert not decisions or "DynamoDB" not in decisions[0]["detail"], decisions
        if decisions and decisions[0]["stored"]:  # a call filed under an id takes events under it
            params = read_answer(request.query, request.body, request.content_type).params
            parse_event({"conversation_uuid": params["conversation_uuid"], "status": "started"}, utc_iso(NOW))
    if route == "/event" and 400 <= status < 500:
        assert "cannot be stored" not in str(body), body  # refused when read, not by DynamoDB


@pytest.fixture
def fuzz_table(fresh_table: str, ddb_client: Any) -> Iterator[Table]:
    with ThreadPoolExecutor(max_workers=1) as background:
        yield Table(ddb_client, fresh_table, background)


@pytest.fixture
def callgate_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog, seeing the callgate logger at INFO (Chalice stops it propagating to the root)."""
    logger = logging.getLogger("callgate")
    caplog.set_level(logging.INFO, logger="callgate")
    if not logger.propagate:
        logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@contextmanager
def lambda_like_start(client: Any) -> Iterator[None]:
    """Start the way Lambda does: the DynamoDB client built before the first request (app.py
    builds it at init), and a heap the size of one function's. Without this the first answer
    could pay for the client and a collection of everything the earlier tests left (once
    measured: 240 ms), leave too little of its 0.85 s for its write and be refused
    (policy_unavailable): the budget at work, not a defect of the request."""
    assert client.http.get("/health").status_code == 200
    gc.collect()
    gc.freeze()  # what earlier tests left is not scanned again by each collection
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ROUTES)
def test_fuzz(route: str, mode: str, make_project, fuzz_table: Table, callgate_logs) -> None:
    """EXAMPLES generated requests to `route`, each checked against every property above."""
    env = {"CALLS_TABLE": fuzz_table.name}
    if mode == "signed":
        env["VONAGE_SIGNATURE_SECRET"] = SECRET
    FIGURES[(route, mode)] = Counter()
    fuzz_table.ahead = route == "/event"
    fuzz_table.counts_calls = route == "/answer"
    strategy = signed_requests(route) if mode == "signed" else requests(route)
    with chalice_client(make_project(**env)) as client, lambda_like_start(client):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(request=strategy)
        def fuzz(request: Request) -> None:
            _check(client, fuzz_table, callgate_logs, route, mode, request)

        fuzz()
    assert sum(FIGURES[(route, mode)].values()) >= EXAMPLES


NEAR_THE_LIMIT = range(850, 1101)  # json.loads succeeds up to ~970 levels, less the caller's stack


@pytest.mark.parametrize("mode", MODES)
def test_every_depth_near_the_recursion_limit(
    mode: str, make_project, fuzz_table: Table, callgate_logs
) -> None:
    """Each depth from 850 to 1,100 in one field, on every route, signed as Vonage signs it.

    Where json.loads still succeeds but a later json.dumps runs out of stack (a window of a few
    levels, wherever the stack puts it), /event and /fallback answered 500. Now /event says 400
    (nested too deeply), /fallback 200, /answer 200 refusing it as invalid_request; nothing is stored.
    """
    env = {
        "CALLS_TABLE": fuzz_table.name,
        **({"VONAGE_SIGNATURE_SECRET": SECRET} if mode == "signed" else {}),
    }
    failures: dict[str, list[int]] = {}
    with chalice_client(make_project(**env)) as client:
        for route in ROUTES:
            for depth in NEAR_THE_LIMIT:
                body = _with({"conversation_uuid": f"CON-deep-{depth}", "uuid": "leg", "from_user": "jane",
                              "status": "failed"}, "custom_data", _nested(depth, depth % 2 == 0))  # fmt: skip
                token = bearer(SECRET, None, body) if mode == "signed" else None
                response = _send(
                    client, route, Request("deep", "POST", None, body, "application/json", "valid", token)
                )
                outcome = str(response.status_code)
                if route == "/event" and response.status_code == 400:
                    outcome = (
                        "400" if "nested too deeply" in json.loads(response.body)["error"] else "400 other"
                    )
                if route == "/answer":
                    outcome += " " + ",".join(line["reason"] for line in answer_log_lines(callgate_logs))
                callgate_logs.clear()
                expected = {"/answer": "200 invalid_request", "/event": "400", "/fallback": "200"}[route]
                if outcome != expected:
                    failures.setdefault(f"{route} {outcome}", []).append(depth)
    assert not failures, {where: (depths[0], depths[-1], len(depths)) for where, depths in failures.items()}
    assert fuzz_table.count() == 0  # an unreadable body is filed nowhere


def test_signed_body_with_a_lone_surrogate(make_project, fuzz_table: Table, callgate_logs) -> None:
    """A "\\ud800" escape is valid JSON but no text. Signed by Vonage it is refused when read (400 on
    /event; on /answer the invalid_request refusal); under a token for another payload it is 401."""
    body = b'{"conversation_uuid": "\\ud800", "uuid": "leg", "from_user": "jane", "status": "failed"}'
    env = {"CALLS_TABLE": fuzz_table.name, "VONAGE_SIGNATURE_SECRET": SECRET}
    outcomes, expected = {}, {}
    with chalice_client(make_project(**env)) as client:
        for route in ROUTES:
            for token in ("valid", "tampered"):
                request = Request(
                    "surrogate",
                    "POST",
                    None,
                    body,
                    "application/json",
                    token,
                    TOKENS[token](None, body, None),
                )
                status = _send(client, route, request).status_code
                reasons = [line["reason"] for line in answer_log_lines(callgate_logs)]
                callgate_logs.clear()
                outcomes[f"{route} {token}"] = (status, reasons)
                expected[f"{route} {token}"] = (
                    401 if token == "tampered" else 400 if route == "/event" else 200,
                    ["invalid_request"] if route == "/answer" and token == "valid" else [],
                )
    assert outcomes == expected
    assert fuzz_table.count() == 0


WITHHELD_CALLERS = {
    **dict.fromkeys(
        ["0", "000", "+", "null", "Private Number", "sip:anonymous@example.com"], "pstn_caller_not_allowed"
    ),
    **dict.fromkeys([" ", "jos\u00e9"], "unknown_caller"),  # neither a number nor a user name
}


@pytest.mark.parametrize("caller", WITHHELD_CALLERS)
def test_a_withheld_or_missing_caller_is_a_phone_caller_and_never_dials(make_harness, caller: str) -> None:
    """Before: a `from` such as `0` that was no number was taken for an app user of that name,
    which connected a phone leg to the team's own number, `allowed`, counted against "0"."""
    h = make_harness()  # ALLOW_PSTN_CALLERS: off
    query = {
        "from": caller,
        "to": "14155550100",
        "conversation_uuid": f"CON-withheld-{uuid.uuid4()}",
        "uuid": "NONE",
    }
    assert h.answer_reason(query) == WITHHELD_CALLERS[caller]
    assert h.counts(caller)[:2] == (0, 0)  # nothing counted against a "user" of that name


def test_figures() -> None:
    """The requests each fuzz test sent, by route and mode, and the statuses seen (pytest -s).

    Measured (one run of 56 s on 2 cores; the statuses vary with the draws):
    /answer    unsigned  1000 requests: 200 x1000
    /answer    signed    1000 requests: 200 x379, 401 x621
    /event     unsigned  1000 requests: 200 x226, 400 x635, 413 x16, 415 x123
    /event     signed    1000 requests: 200 x53, 400 x285, 401 x540, 413 x13, 415 x109
    /fallback  unsigned  1000 requests: 200 x1000
    /fallback  signed    1000 requests: 200 x376, 401 x624
    """
    for (route, mode), statuses in sorted(FIGURES.items()):
        total = sum(statuses.values())
        print(f"{route:10} {mode:9} {total:5} requests  statuses {dict(sorted(statuses.items()))}")
