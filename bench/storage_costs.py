"""What a call costs in DynamoDB as it grows, on DynamoDB Local over HTTP.

Everything goes through the routes (bench/harness.py: chalicelib's route functions over a
real CallStore, with the local stage's settings), so a redesigned storage is measured the same
way. Capacity comes from DynamoDB's own ConsumedCapacity, asked for on every write and read by
a wrapper around the client, and summed over whatever calls one request makes.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

from bench.harness import Routes
from bench.vonage import call_events, next_events
from chalicelib import keys
from devtools import dynamodb_local

TABLE = "callgate-bench"
SIZES = (10, 1000)
NEXT_EVENTS = 5  # events measured after a call reached each size
LISTED_CALLS = 25
LISTED_EVENTS = 200
LISTING_USER = "lister"
GET_CALL_RUNS = 7
WORKERS = 4  # one call per thread at a time: events of one call would conflict on its summary
WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
READS = ("query", "get_item", "batch_get_item", "transact_get_items", "scan")


def _units(consumed: Any) -> float:
    """Capacity units in a ConsumedCapacity (one, or a list): the table's plus every index's."""
    total = 0.0
    for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
        if "CapacityUnits" in entry:
            total += entry["CapacityUnits"]
            continue
        parts = [entry.get("Table", {})]
        parts += list(entry.get("GlobalSecondaryIndexes", {}).values())
        parts += list(entry.get("LocalSecondaryIndexes", {}).values())
        total += sum(
            p.get("CapacityUnits", p.get("WriteCapacityUnits", 0) + p.get("ReadCapacityUnits", 0))
            for p in parts
        )
    return total


class CapacityMeter:
    """A boto3 DynamoDB client that asks for ConsumedCapacity on every write (INDEXES) and read
    (TOTAL) and adds it up per thread, between `begin()` and `written()` / `read()`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._local = threading.local()

    def begin(self) -> None:
        self._local.write, self._local.read = 0.0, 0.0

    def written(self) -> float:
        return getattr(self._local, "write", 0.0)

    def read(self) -> float:
        return getattr(self._local, "read", 0.0)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in WRITES and name not in READS:
            return attr

        def metered(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("ReturnConsumedCapacity", "INDEXES" if name in WRITES else "TOTAL")
            try:
                reply = attr(*args, **kwargs)
            except Exception as exc:  # a cancelled transaction still reports what it consumed
                self._add(name, getattr(exc, "response", {}).get("ConsumedCapacity"))
                raise
            self._add(name, reply.get("ConsumedCapacity"))
            return reply

        return metered

    def _add(self, name: str, consumed: Any) -> None:
        field = "write" if name in WRITES else "read"
        setattr(self._local, field, getattr(self._local, field, 0.0) + _units(consumed))


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: each attribute name's UTF-8 length plus its value's
    (strings and binary by length, numbers about one byte per two digits plus one, 1 for
    booleans and null, 3 plus one per element plus the elements for lists and maps)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()  # fmt: skip
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = Decimal(inner).as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_bytes({kind[0]: each}) for each in inner)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(each) for each in inner)
    return 3 + sum(1 + len(k.encode()) + _value_bytes(v) for k, v in inner.items())  # M


def largest_item(client: Any, conversation: str, kind: str | None = None) -> int:
    """The largest item in the call's partition (of one `kind`: keys.item_type), read with a
    consistent Query (every page)."""
    query: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
        "ExpressionAttributeValues": {":pk": {"S": keys.call_partition(conversation)}},
        "ConsistentRead": True,
    }
    largest = 0
    while True:
        page = client.query(**query)
        items = [i for i in page["Items"] if kind is None or keys.item_type(i[keys.SORT_KEY]["S"]) == kind]
        largest = max([largest, *(item_bytes(item) for item in items)])
        if "LastEvaluatedKey" not in page:
            return largest
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _Progress:
    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.done, self.say = total, 0, say
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def step(self) -> None:
        with self.lock:
            self.done += 1
            if self.done % 1000 == 0 or self.done == self.total:
                self.say(f"events stored: {self.done}/{self.total} ({time.monotonic() - self.started:.0f} s)")


def measure(url: str, say: Callable[[str], None]) -> dict[str, float]:
    dynamodb_local.ensure_table(url, TABLE)
    raw = dynamodb_local.client(url, timeout=60)
    meter = CapacityMeter(raw)
    harness = Routes(meter, TABLE, url)
    plain = Routes(raw, TABLE, url, now=harness.now)  # the same settings and clock, unmetered
    start: datetime = harness.now
    sized = {size: f"CON-{uuid.uuid4()}" for size in SIZES}
    listed = [f"CON-{uuid.uuid4()}" for _ in range(LISTED_CALLS)]
    for conversation in sized.values():
        harness.answer(conversation, "jane")
    for conversation in listed:  # one at a time: concurrent answers conflict on the user's counters
        harness.answer(conversation, LISTING_USER)
    # biggest first: it is the longest chain of writes (one call's events go one at a time)
    work = sorted([*((size, c) for size, c in sized.items()), *((LISTED_EVENTS, c) for c in listed)],
                  reverse=True)  # fmt: skip
    progress = _Progress(sum(size for size, _ in work), say)

    def build(size: int, conversation: str) -> None:
        for payload in call_events(conversation, size, start):
            harness.event(payload)
            progress.step()

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(build, size, conversation) for size, conversation in work]:
            future.result()

    results: dict[str, float] = {}
    for size, conversation in sized.items():
        results[f"summary_bytes_at_{size}"] = largest_item(raw, conversation)
        results[f"summary_item_bytes_at_{size}"] = largest_item(raw, conversation, "summary")
        results[f"leg_item_bytes_at_{size}"] = largest_item(raw, conversation, "leg")
    results[f"summary_bytes_at_{LISTED_EVENTS}"] = largest_item(raw, listed[0])
    big = sized[max(SIZES)]
    plain.get_call(big)  # warm: the first request pays for the connection
    times, body = [], None
    for _ in range(GET_CALL_RUNS):
        started = time.perf_counter()
        body = plain.get_call(big)
        times.append((time.perf_counter() - started) * 1000)
    results[f"get_call_ms_at_{max(SIZES)}"] = round(statistics.median(times), 1)
    results[f"get_call_bytes_at_{max(SIZES)}"] = len(json.dumps(body))
    results[f"get_call_events_at_{max(SIZES)}"] = len(body["events"]) if isinstance(body, dict) else 0
    meter.begin()
    started = time.perf_counter()
    pages, token = 0, None
    while True:  # every page, as a client reading the whole call does
        page = harness.get_call(big, {"limit": "500", **({"next": token} if token else {})})
        pages += 1
        if not (token := page["next"]):
            break
    results[f"get_call_all_ms_at_{max(SIZES)}"] = round((time.perf_counter() - started) * 1000, 1)
    results[f"get_call_all_rcu_at_{max(SIZES)}"] = meter.read()
    results[f"get_call_all_pages_at_{max(SIZES)}"] = pages

    meter.begin()
    started = time.perf_counter()
    listing = harness.list_calls({"user": LISTING_USER, "limit": str(LISTED_CALLS)})
    results["listing_ms_first_page"] = round((time.perf_counter() - started) * 1000, 1)
    results["listing_rcu_first_page"] = meter.read()
    results["listing_calls_on_first_page"] = len(listing["calls"])
    results["listing_bytes_first_page"] = len(json.dumps(listing))

    for size, conversation in sized.items():
        units = []
        for payload in next_events(conversation, size, NEXT_EVENTS, start):
            meter.begin()
            harness.event(payload)
            units.append(meter.written())
        results[f"wcu_per_event_at_{size}"] = round(statistics.mean(units), 1)
    return results
