"""The webhooks as Lambda runs them: `app.app(event, context)` with API Gateway REST proxy events.

What a request costs in CPU, measured through the public entry point (the Chalice app
object), so a redesign of the storage is measured the same way. DynamoDB is an instant
fake that counts calls: the figures are callgate's own CPU and its round trips, not the
network. Floors are the least any such route could do, on a separate Chalice app, so the
ratios say how much callgate adds over that.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from botocore.exceptions import ClientError
from chalice import Chalice, Response

import app as app_module
from bench.vonage import CALLEE, USER, call_events
from chalicelib.storage.call_store import CallStore

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"  # the settings the bench runs with (.chalice/config.json)
API_STAGE = "api"  # API Gateway's stage, as deployed
HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
TABLE = "callgate-bench"
WARMUP = 200
REQUESTS = 2000
REPEATS = 5
ROUND_TRIP_SAMPLE = 100
CONSTANT_NCCO = json.dumps(
    [
        {"action": "talk", "text": "Please wait while we connect you."},
        {"action": "connect", "from": "14155550100", "endpoint": [{"type": "phone", "number": CALLEE}]},
    ]
)
JSON_HEADERS = {"Content-Type": "application/json"}
TEAM_NUMBER = "14155550100"  # the local stage's VONAGE_NUMBER
Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]


def stage_environment(endpoint: str) -> dict[str, str]:
    """The local stage's variables as Lambda would hold them, DynamoDB pointed at `endpoint`."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {
        **config.get("environment_variables", {}),
        **config["stages"][STAGE].get("environment_variables", {}),
        "ALLOW_UNSIGNED_WEBHOOKS": "true",
        "CALLS_TABLE": TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,  # never AWS, never the `make run` port
    }


class FakeDynamoDB:
    """An instant DynamoDB client that counts calls; `refuse_counters` cancels any transaction
    holding a conditional update (a rate-limit counter) as a counter at its limit would."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.refuse_counters = False

    def total(self) -> int:
        return sum(self.calls.values())

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        self.calls["transact_write_items"] += 1
        if not self.refuse_counters:  # instant: the figures are callgate's own CPU
            return {"ResponseMetadata": {"HTTPStatusCode": 200}}
        counter = next(
            (n for n, item in enumerate(TransactItems) if "ConditionExpression" in item.get("Update", {})),
            None,
        )
        if counter is not None:
            reasons = [{"Code": "None"} for _ in TransactItems]
            reasons[counter] = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": reasons,
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "TransactWriteItems",
            )
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_item(self, **_: Any) -> dict[str, Any]:
        """The per-number LAST_CALLER item: every callback finds that jane called a moment ago."""
        self.calls["get_item"] += 1
        at = {"S": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        return {"Item": {"user": {"S": USER}, "conversation_uuid": {"S": "CON-earlier"}, "at": at}}

    def put_item(self, **_: Any) -> dict[str, Any]:
        self.calls["put_item"] += 1
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def query(self, **_: Any) -> dict[str, Any]:
        self.calls["query"] += 1
        return {"Items": [], "Count": 0, "ScannedCount": 0}

    def describe_table(self, TableName: str, **_: Any) -> dict[str, Any]:
        self.calls["describe_table"] += 1
        return {"Table": {"TableName": TableName, "TableStatus": "ACTIVE"}}


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes Chalice and the app may read)."""

    aws_request_id: str
    function_name: str = "callgate-dev"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:callgate-dev"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/callgate-dev"
    log_stream_name: str = "2025/01/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def proxy_event(method: str, path: str, query: dict[str, str] | None, body: str | None) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy integration event, as Lambda hands it to the function."""
    headers = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443",
               "X-Forwarded-For": "216.147.0.10", "User-Agent": "Vonage/1.0", "Accept": "*/*"}  # fmt: skip
    if body is not None:
        headers["Content-Type"] = "application/json"
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": path,
            "httpMethod": method,
            "extendedRequestId": request_id[:16],
            "requestTime": "01/Jan/2025:12:00:00 +0000",
            "path": f"/{API_STAGE}{path}" + (f"?{urlencode(query)}" if query else ""),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": API_STAGE,
            "domainPrefix": HOST.split(".")[0],
            "requestTimeEpoch": 1735732800000,
            "requestId": request_id,
            "identity": {"sourceIp": "216.147.0.10", "userAgent": "Vonage/1.0"},
            "domainName": HOST,
            "apiId": HOST.split(".")[0],
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _answer_requests(
    count: int, caller: dict[str, str], to: str
) -> list[tuple[dict[str, Any], LambdaContext]]:
    """GET /answer from `caller` (its from_user or from) to `to`: a new call each time."""
    requests = []
    for _ in range(count):
        conversation = f"CON-{uuid.uuid4()}"
        query = {**caller, "to": to, "conversation_uuid": conversation, "uuid": str(uuid.uuid4()),
                 "region_url": "https://api-us-3.vonage.com"}  # fmt: skip
        event = proxy_event("GET", "/answer", query, None)
        requests.append((event, LambdaContext(event["requestContext"]["requestId"])))
    return requests


def answer_requests(count: int) -> list[tuple[dict[str, Any], LambdaContext]]:
    """GET /answer as the Client SDK's serverCall makes Vonage ask it."""
    return _answer_requests(count, {"from_user": USER}, CALLEE)


def inbound_requests(count: int) -> list[tuple[dict[str, Any], LambdaContext]]:
    """GET /answer for a phone call from CALLEE to the team's number: a callback, which the
    last-caller read routes to jane's app."""
    return _answer_requests(count, {"from": CALLEE}, TEAM_NUMBER)


def event_requests(count: int) -> list[tuple[dict[str, Any], LambdaContext]]:
    """POST /event with distinct payloads: 20-event IVR calls (statuses, inputs, notifies…)."""
    requests: list[tuple[dict[str, Any], LambdaContext]] = []
    start = datetime.now(UTC)
    while len(requests) < count:
        for payload in call_events(f"CON-{uuid.uuid4()}", 20, start):
            event = proxy_event("POST", "/event", None, json.dumps(payload))
            requests.append((event, LambdaContext(event["requestContext"]["requestId"])))
    return requests[:count]


def floor_app(client: FakeDynamoDB, log_lines: bool = False) -> Chalice:
    """The least an answer URL and an event URL can do, on a Chalice app of their own.

    Answer: read `to`, validate it with phonenumbers, return a constant NCCO. Event: parse the
    JSON body, one put_item on the same instant fake. `log_lines`: each also writes one JSON
    line of the request's ids and outcome, to the stream the app's lines go to (the least a
    service that logs every request does; callgate writes one line per request).
    """
    floor = Chalice(app_name="floor-logged" if log_lines else "floor")

    def log_line(route: str, ids: Any) -> None:
        if log_lines:
            stream = logging.getLogger("callgate").handlers[0].stream  # type: ignore[attr-defined]
            fields = {"route": route, "status": 200, "conversation_uuid": ids.get("conversation_uuid"),
                      "uuid": ids.get("uuid")}  # fmt: skip
            stream.write('{"level":"INFO",' + json.dumps(fields)[1:] + "\n")  # as callgate's start
            stream.flush()

    @floor.route("/answer", methods=["GET", "POST"], content_types=["*/*"])
    def answer() -> Response:
        to = (floor.current_request.query_params or {}).get("to") or ""
        valid = phonenumbers.is_valid_number(phonenumbers.parse("+" + to, None))
        log_line("/answer", floor.current_request.query_params or {})
        return Response(body=CONSTANT_NCCO if valid else "[]", status_code=200, headers=JSON_HEADERS)

    @floor.route("/event", methods=["GET", "POST"], content_types=["application/json"])
    def event() -> Response:
        raw = floor.current_request.raw_body
        payload = json.loads(raw)
        client.put_item(
            TableName=TABLE,
            Item={"pk": {"S": str(payload.get("conversation_uuid"))},
                  "sk": {"S": str(payload.get("timestamp"))}, "payload": {"S": raw.decode()}},
        )  # fmt: skip
        log_line("/event", payload)
        return Response(body="{}", status_code=200, headers=JSON_HEADERS)

    return floor


@contextmanager
def quiet_app_logs() -> Iterator[Counter[str]]:
    """The app writes its lines to stdout, as in Lambda: they are still built and written (the
    cost is real) but to a null stream, through the app's own logging handlers alone (one more would
    change how logging runs). Yields a count of WARNING+ lines by event, taken from that stream."""
    log = logging.getLogger("callgate")
    warnings: Counter[str] = Counter()

    class Sink:
        """A null stream that counts the lines of level WARNING and above by their `log`."""

        def __init__(self) -> None:
            self._null = open(os.devnull, "w")  # closed below

        def write(self, text: str) -> int:
            if not text.startswith('{"level":"INFO"'):
                for line in text.splitlines():
                    try:
                        fields = json.loads(line)
                    except ValueError:
                        warnings["?"] += 1
                        continue
                    if fields.get("level") != "INFO":
                        warnings[fields.get("log", "?")] += 1
            return self._null.write(text)

        def flush(self) -> None:
            self._null.flush()

        def close(self) -> None:
            self._null.close()

    sink = Sink()
    previous = [(h, h.setStream(sink)) for h in log.handlers if isinstance(h, logging.StreamHandler)]
    if not previous:  # the app was not imported: still build and write every line
        handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
        log.addHandler(handler)
        log.propagate = False
    try:
        yield warnings
    finally:
        for h, stream in previous:
            h.setStream(stream)
        sink.close()


def _cpu_us(invoke: Invoke, requests: list[tuple[dict[str, Any], LambdaContext]]) -> list[float]:
    """Per-request process CPU time in µs."""
    clock = time.process_time_ns
    times = []
    for event, context in requests:
        started = clock()
        invoke(event, context)
        times.append((clock() - started) / 1000)
    return times


def _check(name: str, reply: dict[str, Any], connects: bool | None = None) -> None:
    """The bench must measure the path it names: stop if a request took another one."""
    body = json.loads(reply.get("body") or "null")
    actions = {action.get("action") for action in body} if isinstance(body, list) else set()
    if reply.get("statusCode") != 200 or (connects is not None and ("connect" in actions) != connects):
        raise RuntimeError(f"bench {name}: unexpected reply {reply.get('statusCode')} {str(body)[:300]}")


def measure(progress: Callable[[str], None]) -> dict[str, float]:
    """CPU per request (answer, event, their floors) side by side, and DynamoDB round trips."""
    fake = FakeDynamoDB()
    app_module.adapters.store_for = lambda settings: CallStore(fake, settings.calls_table)
    real: Invoke = app_module.app
    floor: Invoke = floor_app(fake)
    logged: Invoke = floor_app(fake, log_lines=True)
    kinds: dict[str, tuple[Invoke, Callable[[int], list[tuple[dict[str, Any], LambdaContext]]]]] = {
        "answer": (real, answer_requests),
        "answer_floor": (floor, answer_requests),
        "answer_logged_floor": (logged, answer_requests),
        "inbound_answer": (real, inbound_requests),
        "event": (real, event_requests),
        "event_floor": (floor, event_requests),
        "event_logged_floor": (logged, event_requests),
    }
    # one of each through the real app first: the answer connects, the event is stored
    (event, context), = answer_requests(1)  # fmt: skip
    _check("answer", real(event, context), connects=True)
    (event, context), = event_requests(1)  # fmt: skip
    _check("event", real(event, context))
    (event, context), = answer_requests(1)  # fmt: skip
    _check("answer floor", floor(event, context), connects=True)
    (event, context), = inbound_requests(1)  # fmt: skip
    _check("inbound answer", real(event, context), connects=True)
    for invoke, make in kinds.values():
        _cpu_us(invoke, make(WARMUP))
    medians: dict[str, list[float]] = {name: [] for name in kinds}
    for repeat in range(REPEATS):
        order = list(kinds)[repeat % len(kinds) :] + list(kinds)[: repeat % len(kinds)]
        for name in order:
            invoke, make = kinds[name]
            requests = make(REQUESTS)
            gc.collect()
            medians[name].append(statistics.median(_cpu_us(invoke, requests)))
        progress(
            f"cpu repeat {repeat + 1}/{REPEATS}: "
            + ", ".join(f"{name} {medians[name][-1]:.0f} us" for name in kinds)
        )
    best = {name: min(values) for name, values in medians.items()}
    results = {f"{name}_cpu_us": round(value, 1) for name, value in best.items()}
    results["answer_vs_floor"] = round(best["answer"] / best["answer_floor"], 2)
    results["event_vs_floor"] = round(best["event"] / best["event_floor"], 2)
    results["inbound_answer_vs_floor"] = round(best["inbound_answer"] / best["answer_floor"], 2)
    results["answer_vs_logged_floor"] = round(best["answer"] / best["answer_logged_floor"], 2)
    results["event_vs_logged_floor"] = round(best["event"] / best["event_logged_floor"], 2)
    results.update(_round_trips(real, fake))
    return results


def _per_request(
    invoke: Invoke, fake: FakeDynamoDB, requests: list[tuple[dict[str, Any], LambdaContext]],
    connects: bool | None = None,
) -> float:  # fmt: skip
    before = fake.total()
    for event, context in requests:
        _check("round trips", invoke(event, context), connects)
    return (fake.total() - before) / len(requests)


def _round_trips(real: Invoke, fake: FakeDynamoDB) -> dict[str, float]:
    """DynamoDB calls per request on the common path, and per answer refused by a rate limit."""
    results = {
        "answer_round_trips": _per_request(real, fake, answer_requests(ROUND_TRIP_SAMPLE), connects=True),
        "event_round_trips": _per_request(real, fake, event_requests(ROUND_TRIP_SAMPLE)),
        "inbound_answer_round_trips": _per_request(
            real, fake, inbound_requests(ROUND_TRIP_SAMPLE), connects=True
        ),
    }
    fake.refuse_counters = True
    try:
        results["answer_round_trips_over_limit"] = _per_request(
            real, fake, answer_requests(ROUND_TRIP_SAMPLE), connects=False
        )
    finally:
        fake.refuse_counters = False
    return results
