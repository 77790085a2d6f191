"""Reading calls back: a call record is one Query per key range of its item collection, a listing
one Query on a history index. A read DynamoDB refuses (a missing index, say) is the service's
fault, never the caller's: StoreUnavailable (503), never StoreRejected."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import keys
from chalicelib.errors import StoreUnavailable
from chalicelib.keys import LegAttribute
from chalicelib.listing import ListingQuery
from chalicelib.storage.errors import from_boto
from chalicelib.storage.items import decode_summary


@dataclass(frozen=True)
class StoredCall:
    """One page of a call record, as the store read it."""

    summary: dict[str, Any] | None  # the decoded SUMMARY item (items.decode_summary)
    answers: list[dict[str, Any]]
    fallbacks: list[dict[str, Any]]
    legs: list[dict[str, Any]]  # {"uuid", "facts", "transfers"} per LEG item
    events: list[dict[str, Any]]  # {"timestamp", "digest", "kind", "payload", "reply"}, in key order
    next: str | None  # the opaque token for the following page of events


@dataclass(frozen=True)
class Page:
    calls: list[dict[str, Any]]  # decoded SUMMARY items, newest first
    next: str | None  # the opaque token for the following page


def stored_json(item: dict[str, Any], kind: str) -> Any:
    """An answer's or fallback use's JSON; items written before the attribute was named after
    their kind hold it under `record`."""
    value = item.get(kind) or item["record"]
    return json.loads(value["S"])


def _query(client: Any, query: dict[str, Any], pages: bool = True) -> tuple[list[dict[str, Any]], Any]:
    """Items of a Query (every page unless `pages` is False) and the last LastEvaluatedKey."""
    found: list[dict[str, Any]] = []
    try:
        while True:
            page = client.query(**query)
            found.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not pages or last is None:
                return found, last
            query = {**query, "ExclusiveStartKey": last}
    except (ClientError, BotoCoreError) as exc:
        raise StoreUnavailable(str(from_boto(exc)), maybe_applied=False) from exc


def _call_range(table: str, conversation_uuid: str, condition: str, **values: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeyConditionExpression": f"#pk = :pk AND {condition}",
        "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.call_partition(conversation_uuid)},
            **{f":{name}": {"S": value} for name, value in values.items()},
        },
    }


def get_call(
    client: Any, table: str, conversation_uuid: str, limit: int, start: dict[str, Any] | None
) -> StoredCall | None:
    """Three Queries, each over one key range: the answers (before the events), the fallback
    uses, legs and summary (after them), and one page of events. None if the call is unknown."""
    answers, _ = _query(
        client, _call_range(table, conversation_uuid, "#sk < :events", events=keys.EVENTS_START)
    )
    rest, _ = _query(client, _call_range(table, conversation_uuid, "#sk > :after", after=keys.EVENTS_END))
    page = _call_range(table, conversation_uuid, "begins_with(#sk, :events)", events=keys.EVENTS_START)
    page["Limit"] = limit
    if start is not None:
        page["ExclusiveStartKey"] = start
    events, last = _query(client, page, pages=False)
    call = StoredCall(None, [], [], [], [], keys.event_page_token(conversation_uuid, last))
    for item in answers:
        if keys.item_type(item[keys.SORT_KEY]["S"]) == "answer":
            call.answers.append(stored_json(item, "answer"))
    found_summary = None
    for item in rest:
        kind = keys.item_type(item[keys.SORT_KEY]["S"])
        if kind == "fallback":
            call.fallbacks.append(stored_json(item, "fallback"))
        elif kind == "leg":
            call.legs.append(
                {
                    "uuid": keys.leg_of(item[keys.SORT_KEY]["S"]),
                    "facts": [json.loads(f) for f in item.get(LegAttribute.FACTS, {}).get("SS", [])],
                    "transfers": [json.loads(t) for t in item.get(LegAttribute.TRANSFERS, {}).get("SS", [])],
                }
            )
        elif kind == "summary":
            found_summary = decode_summary(item)
    for item in events:
        call.events.append(
            {
                "timestamp": item["timestamp"]["S"],
                "digest": item["digest"]["S"],
                "kind": item["event_kind"]["S"],
                "payload": json.loads(item["payload"]["S"]),
                "reply": json.loads(item["reply"]["S"]) if "reply" in item else None,
            }
        )
    if found_summary is None and not (call.answers or call.fallbacks or call.legs or call.events):
        return None
    return StoredCall(found_summary, call.answers, call.fallbacks, call.legs, call.events, call.next)


def list_calls(client: Any, table: str, listing: ListingQuery) -> Page:
    """One page of a history index, newest first."""
    pk_name, sk_name = keys.INDEXES[listing.index]
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": listing.index,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk_name},
        "ExpressionAttributeValues": {":pk": {"S": listing.partition}},
        "ScanIndexForward": False,
        "Limit": listing.limit,
    }
    if listing.sort_prefix:
        query["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
        query["ExpressionAttributeNames"]["#sk"] = sk_name
        query["ExpressionAttributeValues"][":prefix"] = {"S": listing.sort_prefix}
    if listing.start:
        query["ExclusiveStartKey"] = listing.start
    items, last = _query(client, query, pages=False)
    summaries = _callee_listed(client, table, items)
    calls = []
    for item in items:
        if keys.lists_for_callee(item[keys.SORT_KEY]["S"]):
            item = summaries.get(item[keys.PARTITION_KEY]["S"])  # type: ignore[assignment]
            if item is None:  # the call's SUMMARY expired first: nothing to show
                continue
        calls.append(decode_summary(item))
    return Page(calls, keys.page_token(listing.index, listing.partition, last))


BATCH_TRIES = 3  # BatchGetItem may leave keys unprocessed (throttling): asked again, then 503
BATCH_PAUSE_S = 0.05


def _callee_listed(client: Any, table: str, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The SUMMARY items of the app-to-app calls in `items` listed for their callee, by partition
    key: one BatchGetItem (a page holds at most 100 calls, BatchGetItem's own limit)."""
    wanted = {
        item[keys.PARTITION_KEY]["S"] for item in items if keys.lists_for_callee(item[keys.SORT_KEY]["S"])
    }
    if not wanted:
        return {}
    pending: dict[str, Any] = {
        table: {
            "Keys": [{keys.PARTITION_KEY: {"S": pk}, keys.SORT_KEY: {"S": keys.SUMMARY_SK}} for pk in wanted]
        }
    }
    found: dict[str, dict[str, Any]] = {}
    for _ in range(BATCH_TRIES):
        try:
            reply = client.batch_get_item(RequestItems=pending)
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(str(from_boto(exc)), maybe_applied=False) from exc
        for item in reply.get("Responses", {}).get(table, []):
            found[item[keys.PARTITION_KEY]["S"]] = item
        pending = reply.get("UnprocessedKeys") or {}
        if not pending:
            return found
        time.sleep(BATCH_PAUSE_S)  # DynamoDB throttled part of it: a moment before asking again
    raise StoreUnavailable("DynamoDB left part of a listing unread (throttled); retry")
