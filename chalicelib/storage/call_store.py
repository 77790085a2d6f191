"""The store's operations on the calls table, through a DynamoDB client passed in.

Items keep Vonage's payloads as compact JSON strings: exact (no float to
Decimal, nulls and key order kept) and one attribute to read back. Every write
is conditional on its key being new, so a retried webhook writes nothing twice,
and each is one transaction that also updates the call's SUMMARY item (one
attribute per event, answer or fallback use: summary.py explains why that stays
order-proof). Keys come from storage/keys.py. The IAM actions used: PutItem,
UpdateItem (both inside TransactWriteItems), Query, DescribeTable.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import logs
from chalicelib.decision import RateLimit
from chalicelib.listing import ListingQuery
from chalicelib.storage import keys
from chalicelib.storage.errors import StoreRejected, StoreUnavailable, from_boto
from chalicelib.storage.keys import TTL_ATTRIBUTE, SummaryAttribute
from chalicelib.storage.timing import EVENT_BUDGET_S
from chalicelib.storage.transactions import Write, transact
from chalicelib.summary import event_facts
from chalicelib.webhooks import Event

_NEW_KEY = f"attribute_not_exists({keys.PARTITION_KEY})"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _stored_json(item: dict[str, Any], kind: str) -> Any:
    """An answer's or fallback use's JSON; items written before the attribute was named after
    their kind hold it under `record`."""
    value = item.get(kind) or item["record"]
    return json.loads(value["S"])


def _strings(**attributes: str | None) -> dict[str, dict[str, str]]:
    """DynamoDB's typed form of string attributes; None leaves the attribute out."""
    return {name: {"S": value} for name, value in attributes.items() if value is not None}


@dataclass(frozen=True)
class CallIdentity:
    """Who placed a call and when: what the history indexes list it by."""

    conversation_uuid: str
    user: str | None
    started_at: str  # utc_iso()


@dataclass(frozen=True)
class SavedAnswer:
    answer: dict[str, Any]  # what to answer: the earlier one on a retry, a limit's refusal
    stored: bool  # False only when a limit's refusal could not be stored in time


@dataclass(frozen=True)
class StoredCall:
    answers: list[dict[str, Any]]
    events: list[dict[str, Any]]  # {"timestamp", "digest", "kind", "payload", "reply"}, in key order
    fallbacks: list[dict[str, Any]]


@dataclass(frozen=True)
class Page:
    calls: list[dict[str, Any]]  # decoded SUMMARY items, newest first
    next: str | None  # the opaque token for the following page


class CallStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- write operations ------------------------------------------------------------------------

    def _summary_update(
        self,
        conversation_uuid: str,
        expires_at: int,
        attributes: dict[str, str],
        call: CallIdentity | None = None,
    ) -> dict[str, Any]:
        """Update of the SUMMARY item: `attributes` set on every write, `call`'s facts only once."""
        set_once = {"conversation_uuid": conversation_uuid}
        if call is not None:
            set_once.update(
                user=call.user,  # type: ignore[arg-type]
                started_at=call.started_at,
                **keys.index_keys(conversation_uuid, call.user, call.started_at),
            )
        clauses, names, values = [], {"#exp": TTL_ATTRIBUTE}, {":exp": {"N": str(expires_at)}}
        for i, (name, value) in enumerate(attributes.items()):
            clauses.append(f"#a{i} = :a{i}")
            names[f"#a{i}"], values[f":a{i}"] = name, {"S": value}
        for i, (name, value) in enumerate((k, v) for k, v in set_once.items() if v):
            clauses.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
            names[f"#f{i}"], values[f":f{i}"] = name, {"S": value}
        # the summary lives as long as the last item written for the call
        clauses.append("#exp = :exp")
        return {
            "Update": {
                "TableName": self._table,
                "Key": _strings(**keys.summary_key(conversation_uuid)),
                "UpdateExpression": "SET " + ", ".join(clauses),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _put_new(self, item: dict[str, Any], expires_at: int) -> dict[str, Any]:
        """A put that only creates: a retry finds the item (and gets it back) instead."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {**item, TTL_ATTRIBUTE: {"N": str(expires_at)}},
                "ConditionExpression": _NEW_KEY,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _with_summary(
        self,
        call: CallIdentity,
        kind: str,
        key: keys.Key,
        attribute: str,
        value: dict[str, Any],
        expires_at: int,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An answer or fallback-use item (its JSON under an attribute named after its kind), and
        the summary update that carries the same JSON under `attribute`."""
        encoded = _json(value)
        item = _strings(**key, kind=kind, received_at=value["received_at"], **{kind: encoded})
        summary = self._summary_update(call.conversation_uuid, expires_at, {attribute: encoded}, call)
        return item, summary

    def _answer_writes(
        self, call: CallIdentity, leg_key: str, answer: dict[str, Any], expires_at: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        key = keys.answer_key(call.conversation_uuid, leg_key)
        return self._with_summary(call, "answer", key, SummaryAttribute.ANSWER + leg_key, answer, expires_at)

    def _increment(self, limit: RateLimit) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _strings(**keys.counter_key(limit.user, limit.window, limit.period)),
                "UpdateExpression": "SET #expires = if_not_exists(#expires, :expires) ADD #n :one",
                "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
                "ExpressionAttributeNames": {"#n": "n", "#expires": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit.limit)},
                    ":expires": {"N": str(limit.expires_at)},
                },
            }
        }

    def save_answer(
        self,
        call: CallIdentity,
        leg_key: str,
        answer: dict[str, Any],
        expires_at: int,
        limits: Sequence[RateLimit] = (),
        deadline: float | None = None,
    ) -> SavedAnswer:
        """Store the answer once, counted against `limits`, in one round trip; what to answer.

        A retried answer request (same leg) finds its answer already there:
        nothing is counted again and the first answer comes back. A limit that
        is reached cancels the whole write, so a refused call is never counted
        and concurrent calls never pass a limit; that limit's refusal is then
        stored instead (if a worst-case call still fits before `deadline`) and
        returned. Conflicts are retried while `deadline` leaves room.
        """
        item, summary = self._answer_writes(call, leg_key, answer, expires_at)
        writes = [
            Write("answer", self._put_new(item, expires_at)),
            Write("summary", summary),
            *(Write(limit, self._increment(limit)) for limit in limits),
        ]
        cancelled = transact(self._client, writes, deadline)
        if cancelled is None:
            return SavedAnswer(answer, stored=True)
        if cancelled.condition_failed("answer"):
            earlier = cancelled.old_item("answer")
            if not earlier or not ({"answer", "record"} & set(earlier)):
                raise cancelled.unavailable()  # no old item returned: cannot tell
            return SavedAnswer(_stored_json(earlier, "answer"), stored=True)
        reached = next((limit for limit in limits if cancelled.condition_failed(limit)), None)
        if reached is None:
            raise cancelled.unavailable()
        refusal = reached.refusal
        try:
            return self.save_answer(call, leg_key, refusal, expires_at, deadline=deadline)
        except StoreUnavailable as exc:  # the caller still hears why: the limit, not the storage
            logs.warning("answer_not_stored", conversation_uuid=call.conversation_uuid, why=str(exc))
            return SavedAnswer(refusal, stored=False)

    def replace_answer(
        self, call: CallIdentity, leg_key: str, answer: dict[str, Any], expires_at: int
    ) -> None:
        """Overwrite an answer: when a counted write timed out but may have been applied,
        the stored answer must say what the caller actually heard (the refusal)."""
        item, summary = self._answer_writes(call, leg_key, answer, expires_at)
        put = {"Put": {"TableName": self._table, "Item": {**item, TTL_ATTRIBUTE: {"N": str(expires_at)}}}}
        try:
            self._client.transact_write_items(TransactItems=[put, summary])
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc

    def save_event(
        self,
        event: Event,
        received_at: str,
        expires_at: int,
        reply: list[dict[str, Any]] | None = None,
        deadline: float | None = None,
    ) -> bool:
        """Store an event once, and its facts on the summary; False when it was already stored.

        One round trip: the event's conditional put and the summary update are one
        transaction, so a redelivery changes nothing at all. A transfer is filed
        under both conversations (the legs moved from one to the other).
        """
        facts = _json(event_facts(event.payload, event.timestamp, event.digest, event.kind))
        pairs = []
        for conversation_uuid in filter(None, (event.conversation_uuid, event.also_conversation)):
            item = _strings(
                **keys.event_key(conversation_uuid, event.timestamp if event.timed else None, event.label,
                                 event.digest),
                kind="event",
                event_kind=event.kind,
                status=event.status,
                leg_uuid=event.leg_uuid,
                timestamp=event.timestamp,
                digest=event.digest,
                received_at=received_at,
                payload=_json(event.payload),
                reply=None if reply is None else _json(reply),
            )  # fmt: skip
            summary = self._summary_update(
                conversation_uuid, expires_at, {SummaryAttribute.FACTS + event.digest: facts}
            )
            pairs.append((item, summary))
        return self._put_once(pairs, expires_at, deadline)

    def save_fallback(
        self,
        call: CallIdentity,
        use_key: str,
        fallback: dict[str, Any],
        expires_at: int,
        deadline: float | None = None,
    ) -> bool:
        """Note one use of the fallback answer URL; False if this very use was already noted."""
        key = keys.fallback_key(call.conversation_uuid, use_key)
        item, summary = self._with_summary(
            call, "fallback", key, SummaryAttribute.FALLBACK + use_key, fallback, expires_at
        )
        return self._put_once([(item, summary)], expires_at, deadline)

    def _put_once(
        self, pairs: list[tuple[dict[str, Any], dict[str, Any]]], expires_at: int, deadline: float | None
    ) -> bool:
        """Put new items and update their summaries in one transaction; False if an item
        existed (a redelivery: then nothing at all was written).

        A summary that has grown past DynamoDB's 400 KB item limit (thousands of
        events) stops taking facts in: the item is stored without it, and the call's
        own record, built from its items, stays exact.
        """
        # "item" is the first put: a redelivery finds it. A transfer's copy under the other
        # conversation ("copy") existing alone is no redelivery, so it is not read as one.
        writes = [
            write
            for n, (item, summary) in enumerate(pairs)
            for write in (
                Write("item" if n == 0 else "copy", self._put_new(item, expires_at)),
                Write("summary", summary),
            )
        ]
        if deadline is None:
            deadline = time.monotonic() + EVENT_BUDGET_S
        while True:
            cancelled = transact(self._client, writes, deadline)
            if cancelled is None:
                return True
            if cancelled.condition_failed("item"):
                return False
            if cancelled.invalid("item") or cancelled.invalid("copy"):
                raise StoreRejected(
                    f"DynamoDB refused the item: {cancelled.reasons_text()}"
                ) from cancelled.error
            if cancelled.invalid("summary"):
                logs.warning("summary_full", reasons=cancelled.reasons_text())
                writes = [write for write in writes if write.role != "summary"]
                continue
            raise cancelled.unavailable()

    # --- reads -----------------------------------------------------------------------------------

    def get_call(self, conversation_uuid: str) -> StoredCall | None:
        """The call's answers, events (in key order) and fallback uses; None if unknown."""
        found = StoredCall([], [], [])
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": keys.call_partition(conversation_uuid)}},
        }
        try:
            while True:
                page = self._client.query(**query)
                for item in page.get("Items", []):
                    kind = keys.item_type(item[keys.SORT_KEY]["S"])
                    if kind == "answer":
                        found.answers.append(_stored_json(item, "answer"))
                    elif kind == "fallback":
                        found.fallbacks.append(_stored_json(item, "fallback"))
                    elif kind == "event":
                        found.events.append(
                            {
                                "timestamp": item["timestamp"]["S"],
                                "digest": item["digest"]["S"],
                                "kind": item["event_kind"]["S"],
                                "payload": json.loads(item["payload"]["S"]),
                                "reply": json.loads(item["reply"]["S"]) if "reply" in item else None,
                            }
                        )
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc
        if not (found.answers or found.events or found.fallbacks):
            return None
        return found

    def list_calls(self, listing: ListingQuery) -> Page:
        """One page of a history index, newest first."""
        pk_name, sk_name = keys.INDEXES[listing.index]
        query: dict[str, Any] = {
            "TableName": self._table,
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
        try:
            page = self._client.query(**query)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc
        calls = [_decode_summary(item) for item in page.get("Items", [])]
        return Page(calls, keys.page_token(listing.index, listing.partition, page.get("LastEvaluatedKey")))

    def check(self) -> None:
        """Raise StoreUnavailable unless the table exists and is ACTIVE.

        DescribeTable is slow on a large table and health checks come often: the result is
        kept for CHECK_OK_S (a failure for CHECK_FAILED_S), per client and table.
        """
        checks = _TABLE_CHECKS.setdefault(self._client, {})
        cached = checks.get(self._table)
        if cached is None or time.monotonic() >= cached[0]:
            problem = self._describe()
            cached = (time.monotonic() + (CHECK_FAILED_S if problem else CHECK_OK_S), problem)
            checks[self._table] = cached
        if cached[1] is not None:
            raise StoreUnavailable(str(cached[1]))

    def _describe(self) -> StoreUnavailable | None:
        try:
            table = self._client.describe_table(TableName=self._table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            return from_boto(exc)
        if table.get("TableStatus") != "ACTIVE":
            return StoreUnavailable(f"table {self._table} is {table.get('TableStatus')}")
        return None


CHECK_OK_S = 10.0
CHECK_FAILED_S = 2.0
# client -> table -> (monotonic time the result is good until, the failure or None)
_TABLE_CHECKS: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, StoreUnavailable | None]]] = (
    weakref.WeakKeyDictionary()
)


def _decode_summary(item: dict[str, Any]) -> dict[str, Any]:
    def values(prefix: str) -> list[dict[str, Any]]:
        return [json.loads(value["S"]) for name, value in item.items() if name.startswith(prefix)]

    return {
        "conversation_uuid": item["conversation_uuid"]["S"],
        "user": item.get("user", {}).get("S"),
        "started_at": item.get("started_at", {}).get("S"),
        "facts": values(SummaryAttribute.FACTS),
        "answers": values(SummaryAttribute.ANSWER),
        "fallbacks": values(SummaryAttribute.FALLBACK),
    }
