"""All DynamoDB access, through a client passed in (so tests can point it anywhere).

Items keep Vonage's payloads as compact JSON strings: exact (no float to
Decimal, nulls and key order kept) and one attribute to read back. Every write
is conditional on the key being new, so a retried webhook writes nothing twice,
and each one is a single transaction that also updates the call's SUMMARY
item (record.py explains why that stays order-proof). The IAM actions used:
PutItem, UpdateItem (both also inside TransactWriteItems), Query, DescribeTable.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from chalicelib.policy import Counter
from chalicelib.record import event_facts
from chalicelib.tables import INDEXES, PARTITION_KEY, SORT_KEY, SUMMARY_SK, TTL_ATTRIBUTE
from chalicelib.webhooks import Event

_NEW_KEY = f"attribute_not_exists({PARTITION_KEY})"
log = logging.getLogger("callgate")
# The latency contract of every DynamoDB call (aws.py configures the client with it):
# one attempt, 0.2 s to connect + 0.4 s to read. Callers with a deadline make another
# call only while a worst-case call still fits before it.
CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.4
WORST_CALL_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
CONFLICT_BACKOFF_S = (0.01, 0.04)  # jittered pause before retrying a TransactionConflict
WRITE_BUDGET_S = 3.0  # events and fallbacks: Vonage waits longer for these than for the answer URL


class StoreUnavailable(Exception):
    """DynamoDB could not be used; callers answer 503 or refuse the call.

    `maybe_applied`: the request may have been carried out all the same (its
    reply was lost, or DynamoDB failed after receiving it).
    """

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class StoreRejected(StoreUnavailable):
    """DynamoDB refused this item for good (ValidationException): a retry cannot help."""


@dataclass(frozen=True)
class AnswerWrite:
    record: dict[str, Any]  # the decision now stored: the earlier one for a retried request
    exceeded: Counter | None = None  # a limit refused the call; nothing was written


def time_left(deadline: float | None) -> float:
    """Seconds until `deadline` (a time.monotonic() value); unlimited without one."""
    return float("inf") if deadline is None else deadline - time.monotonic()


def _waited_out_conflict(codes: list[str | None], deadline: float | None) -> bool:
    """True after a short random pause when the transaction only collided with another
    (TransactionConflict) and a worst-case retry still fits before the deadline."""
    if "TransactionConflict" in codes and time_left(deadline) > WORST_CALL_S + CONFLICT_BACKOFF_S[1]:
        time.sleep(random.uniform(*CONFLICT_BACKOFF_S))
        return True
    return False


def _earlier_record(exc: ClientError, old: dict[str, Any] | None) -> dict[str, Any]:
    """The record a retried request finds, from the failed condition's ALL_OLD item."""
    code = exc.response.get("Error", {}).get("Code")
    if code not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
        raise _unavailable(exc) from exc
    if not old or "record" not in old:
        raise _unavailable(exc) from exc  # no old item returned: cannot tell
    return json.loads(old["record"]["S"])


def _call_key(conversation_uuid: str) -> str:
    return f"CALL#{conversation_uuid}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _item(**attributes: str | None) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in attributes.items() if value is not None}


def _unavailable(exc: Exception) -> StoreUnavailable:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = f"DynamoDB {error.get('Code')}: {error.get('Message')}"
        if error.get("Code") == "ValidationException":
            return StoreRejected(message)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
        return StoreUnavailable(message, maybe_applied=status >= 500)
    never_sent = isinstance(exc, (EndpointConnectionError, ConnectTimeoutError))
    return StoreUnavailable(f"DynamoDB unreachable: {exc}", maybe_applied=not never_sent)


def _cancellation(exc: ClientError) -> list[dict[str, Any]]:
    """The per-item reasons of a cancelled transaction; re-raise anything else."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise _unavailable(exc) from exc
    return exc.response.get("CancellationReasons") or []


@dataclass(frozen=True)
class CallIdentity:
    """Who placed a call and when: the keys of the history indexes."""

    conversation_uuid: str
    user: str | None
    started_at: str  # utc_iso()

    def index_keys(self) -> dict[str, str]:
        order = f"{self.started_at}#{self.conversation_uuid}"
        keys = {"by_date_pk": f"DATE#{self.started_at[:10]}", "by_date_sk": order}
        if self.user:
            keys.update(by_user_pk=f"USER#{self.user}", by_user_sk=order)
        return keys


@dataclass(frozen=True)
class Page:
    calls: list[dict[str, Any]]  # decoded SUMMARY items, newest first
    last_key: dict[str, Any] | None  # where the next page starts


class CallStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- writes ----------------------------------------------------------------------------------

    def _summary(
        self,
        conversation_uuid: str,
        expires_at: int,
        always: dict[str, str],
        identity: CallIdentity | None = None,
    ) -> dict[str, Any]:
        """Update of the SUMMARY item: `always` attributes set, identity set only once."""
        first = {"conversation_uuid": conversation_uuid}
        if identity is not None:
            first.update({"user": identity.user, "started_at": identity.started_at, **identity.index_keys()})
        clauses, names, values = [], {"#exp": TTL_ATTRIBUTE}, {":exp": {"N": str(expires_at)}}
        for i, (name, value) in enumerate(always.items()):
            clauses.append(f"#a{i} = :a{i}")
            names[f"#a{i}"], values[f":a{i}"] = name, {"S": value}
        for i, (name, value) in enumerate((k, v) for k, v in first.items() if v):
            clauses.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
            names[f"#f{i}"], values[f":f{i}"] = name, {"S": value}
        # the summary lives as long as the last item written for the call
        clauses.append("#exp = :exp")
        return {
            "TableName": self._table,
            "Key": _item(pk=_call_key(conversation_uuid), sk=SUMMARY_SK),
            "UpdateExpression": "SET " + ", ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _new(self, item: dict[str, Any], expires_at: int) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {**item, TTL_ATTRIBUTE: {"N": str(expires_at)}},
            "ConditionExpression": _NEW_KEY,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _answer_item(self, conversation_uuid: str, leg_key: str, record: dict[str, Any]) -> dict[str, Any]:
        return _item(
            pk=_call_key(conversation_uuid),
            sk=f"ANSWER#{leg_key}",
            kind="answer",
            received_at=record["received_at"],
            record=_json(record),
        )

    def record_answer(
        self,
        identity: CallIdentity,
        leg_key: str,
        record: dict[str, Any],
        expires_at: int,
        counters: Sequence[Counter] = (),
        deadline: float | None = None,
    ) -> AnswerWrite:
        """Store the answer decision once, counting it against `counters`, in one round trip.

        A retried answer request (same leg) finds its record already there:
        nothing is counted again and the first decision comes back. A counter
        at its limit cancels the whole write (AnswerWrite.exceeded), so a
        refused call is never counted and concurrent calls never pass a limit.
        A TransactionConflict (another call updating the same counter at that
        moment) is retried after a short random pause while `deadline`
        (time.monotonic()) leaves room for one more worst-case call.
        """
        conversation_uuid = identity.conversation_uuid
        items = [
            {"Put": self._new(self._answer_item(conversation_uuid, leg_key, record), expires_at)},
            {
                "Update": self._summary(
                    conversation_uuid, expires_at, {f"A#{leg_key}": _json(record)}, identity
                )
            },
            *({"Update": self._increment(counter)} for counter in counters),
        ]
        while True:
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                why = _cancellation(exc)
                codes = [reason.get("Code") for reason in why]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return AnswerWrite(_earlier_record(exc, why[0].get("Item")))
                for counter, code in zip(counters, codes[2:], strict=False):
                    if code == "ConditionalCheckFailed":
                        return AnswerWrite(record, exceeded=counter)
                if _waited_out_conflict(codes, deadline):
                    continue
                raise _unavailable(exc) from exc
            except BotoCoreError as exc:
                raise _unavailable(exc) from exc
            return AnswerWrite(record)

    def replace_answer(
        self, identity: CallIdentity, leg_key: str, record: dict[str, Any], expires_at: int
    ) -> None:
        """Overwrite a decision: when a counted write timed out but may have been applied,
        the record must say what the caller actually heard (the refusal)."""
        conversation_uuid = identity.conversation_uuid
        put = {"TableName": self._table, "Item": self._answer_item(conversation_uuid, leg_key, record)}
        put["Item"][TTL_ATTRIBUTE] = {"N": str(expires_at)}
        update = self._summary(conversation_uuid, expires_at, {f"A#{leg_key}": _json(record)}, identity)
        try:
            self._client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc

    def _increment(self, counter: Counter) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": _item(pk=counter.pk, sk=counter.sk),
            "UpdateExpression": "SET #expires = if_not_exists(#expires, :expires) ADD #n :one",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": "n", "#expires": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":limit": {"N": str(counter.limit)},
                ":expires": {"N": str(counter.expires_at)},
            },
        }

    def put_event(
        self, event: Event, received_at: str, expires_at: int, reply: list[dict[str, Any]] | None = None
    ) -> bool:
        """Store an event once, and its facts on the summary; False when it was already stored.

        One round trip: the event's conditional put and the summary update are one
        transaction, so a redelivery changes nothing at all. A transfer is filed
        under both conversations (the legs moved from one to the other).
        """
        writes = []
        for conversation_uuid in filter(None, (event.conversation_uuid, event.also_conversation)):
            item = self._event_item(event, conversation_uuid, received_at, reply)
            facts = event_facts(event.payload, event.timestamp, event.digest, event.kind)
            summary = self._summary(conversation_uuid, expires_at, {f"F#{event.digest}": _json(facts)})
            writes.append((item, summary))
        return self._put_once(writes, expires_at)

    @staticmethod
    def _event_item(
        event: Event, conversation_uuid: str, received_at: str, reply: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        when = event.timestamp if event.timed else "untimed"  # untimed: keyed by content alone
        return _item(
            pk=_call_key(conversation_uuid),
            sk=f"EVENT#{when}#{event.label}#{event.digest}",
            kind="event",
            event_kind=event.kind,
            status=event.status,
            leg_uuid=event.leg_uuid,
            timestamp=event.timestamp,
            digest=event.digest,
            received_at=received_at,
            payload=_json(event.payload),
            reply=None if reply is None else _json(reply),
        )

    def record_fallback(
        self, identity: CallIdentity, use_key: str, record: dict[str, Any], expires_at: int
    ) -> bool:
        """Note one use of the fallback answer URL; False if this very use was already noted."""
        conversation_uuid = identity.conversation_uuid
        item = _item(
            pk=_call_key(conversation_uuid),
            sk=f"FALLBACK#{use_key}",
            kind="fallback",
            received_at=record["received_at"],
            record=_json(record),
        )
        summary = self._summary(conversation_uuid, expires_at, {f"X#{use_key}": _json(record)}, identity)
        return self._put_once([(item, summary)], expires_at)

    def _put_once(self, writes: list[tuple[dict[str, Any], dict[str, Any]]], expires_at: int) -> bool:
        """Put new items and update their summaries in one transaction; False if the first item
        existed (a redelivery: then nothing at all was written).

        A TransactionConflict (two events of one call updating its summary at the same
        moment, as `started` and `ringing` do) is retried after a short random pause. A
        summary that has grown past DynamoDB's 400 KB item limit (thousands of events)
        stops taking facts in: the item is stored without it, and the call's own
        record, built from its items, stays exact.
        """
        items = [
            change
            for item, summary in writes
            for change in ({"Put": self._new(item, expires_at)}, {"Update": summary})
        ]
        deadline = time.monotonic() + WRITE_BUDGET_S
        while True:
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                codes = [reason.get("Code") for reason in _cancellation(exc)]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False
                if any(code == "ValidationError" for code in codes[0::2]):
                    raise StoreRejected(f"DynamoDB refused the item: {codes}") from exc
                if any(code == "ValidationError" for code in codes[1::2]) and any(
                    "Update" in i for i in items
                ):
                    log.warning("summary full: storing the item without its facts (%s)", codes)
                    items = [change for change in items if "Put" in change]
                    continue
                if _waited_out_conflict(codes, deadline):
                    continue
                raise _unavailable(exc) from exc
            except BotoCoreError as exc:
                raise _unavailable(exc) from exc
            return True

    # --- reads -----------------------------------------------------------------------------------

    def get_call(self, conversation_uuid: str) -> dict[str, list[dict[str, Any]]] | None:
        """The call's answers, events (in key order) and fallbacks; None if unknown."""
        found: dict[str, list[dict[str, Any]]] = {"answers": [], "events": [], "fallbacks": []}
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": _call_key(conversation_uuid)}},
        }
        try:
            while True:
                page = self._client.query(**query)
                for item in page.get("Items", []):
                    sort_key = item[SORT_KEY]["S"]
                    if sort_key.startswith("ANSWER#"):
                        found["answers"].append(json.loads(item["record"]["S"]))
                    elif sort_key.startswith("FALLBACK#"):
                        found["fallbacks"].append(json.loads(item["record"]["S"]))
                    elif sort_key.startswith("EVENT#"):
                        found["events"].append(
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
            raise _unavailable(exc) from exc
        if not any(found.values()):
            return None
        return found

    def list_calls(
        self, index: str, key: str, sort_prefix: str | None, limit: int, start: dict[str, Any] | None
    ) -> Page:
        """One page of a history index, newest first."""
        pk_name, sk_name = INDEXES[index]
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": key}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if sort_prefix:
            query["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
            query["ExpressionAttributeNames"]["#sk"] = sk_name
            query["ExpressionAttributeValues"][":prefix"] = {"S": sort_prefix}
        if start:
            query["ExclusiveStartKey"] = start
        try:
            page = self._client.query(**query)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        return Page([_decode_summary(item) for item in page.get("Items", [])], page.get("LastEvaluatedKey"))

    def check(self) -> None:
        """Raise StoreUnavailable unless the table exists and is ACTIVE."""
        try:
            table = self._client.describe_table(TableName=self._table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        if table.get("TableStatus") != "ACTIVE":
            raise StoreUnavailable(f"table {self._table} is {table.get('TableStatus')}")


def _decode_summary(item: dict[str, Any]) -> dict[str, Any]:
    def values(prefix: str) -> list[dict[str, Any]]:
        return [json.loads(value["S"]) for name, value in item.items() if name.startswith(prefix)]

    return {
        "conversation_uuid": item["conversation_uuid"]["S"],
        "user": item.get("user", {}).get("S"),
        "started_at": item.get("started_at", {}).get("S"),
        "facts": values("F#"),
        "answers": values("A#"),
        "fallbacks": values("X#"),
    }
