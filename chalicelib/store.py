"""All DynamoDB access, through a client passed in (so tests can point it anywhere).

Items keep Vonage's payloads as compact JSON strings: exact (no float to
Decimal, nulls and key order kept) and one attribute to read back. Every write
is conditional on the key being new, so a retried webhook writes nothing twice.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from chalicelib.policy import Counter
from chalicelib.tables import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from chalicelib.webhooks import Event

_NEW_KEY = f"attribute_not_exists({PARTITION_KEY})"
# The latency contract of every DynamoDB call (aws.py configures the client with it):
# one attempt, 0.2 s to connect + 0.4 s to read. Callers with a deadline make another
# call only while a worst-case call still fits before it.
CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.4
WORST_CALL_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
CONFLICT_BACKOFF_S = (0.01, 0.04)  # jittered pause before retrying a TransactionConflict


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


class CallStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record_answer(
        self,
        conversation_uuid: str,
        leg_key: str,
        record: dict[str, Any],
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
        put = {
            "TableName": self._table,
            "Item": self._answer_item(conversation_uuid, leg_key, record),
            "ConditionExpression": _NEW_KEY,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if not counters:
            try:
                self._client.put_item(**put)
            except ClientError as exc:
                return AnswerWrite(_earlier_record(exc, exc.response.get("Item")))
            except BotoCoreError as exc:
                raise _unavailable(exc) from exc
            return AnswerWrite(record)
        items = [{"Put": put}, *({"Update": self._increment(counter)} for counter in counters)]
        while True:
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise _unavailable(exc) from exc
                why = exc.response.get("CancellationReasons") or []
                codes = [reason.get("Code") for reason in why]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return AnswerWrite(_earlier_record(exc, why[0].get("Item")))
                for counter, code in zip(counters, codes[1:], strict=False):
                    if code == "ConditionalCheckFailed":
                        return AnswerWrite(record, exceeded=counter)
                if (
                    "TransactionConflict" in codes
                    and time_left(deadline) > WORST_CALL_S + CONFLICT_BACKOFF_S[1]
                ):
                    time.sleep(random.uniform(*CONFLICT_BACKOFF_S))
                    continue
                raise _unavailable(exc) from exc
            except BotoCoreError as exc:
                raise _unavailable(exc) from exc
            return AnswerWrite(record)

    def replace_answer(self, conversation_uuid: str, leg_key: str, record: dict[str, Any]) -> None:
        """Overwrite a decision: when a counted write timed out but may have been applied,
        the record must say what the caller actually heard (the refusal)."""
        try:
            self._client.put_item(
                TableName=self._table, Item=self._answer_item(conversation_uuid, leg_key, record)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc

    @staticmethod
    def _answer_item(conversation_uuid: str, leg_key: str, record: dict[str, Any]) -> dict[str, Any]:
        return _item(
            pk=_call_key(conversation_uuid),
            sk=f"ANSWER#{leg_key}",
            kind="answer",
            received_at=record["received_at"],
            record=_json(record),
        )

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

    def put_event(self, event: Event, received_at: str) -> bool:
        """Store an event once; False when it had already been stored."""
        item = _item(
            pk=_call_key(event.conversation_uuid),
            # An untimed payload is keyed by content alone, so its redelivery matches.
            sk=f"EVENT#{event.timestamp if event.timed else 'untimed'}#{event.digest}",
            kind="event",
            event_kind=event.kind,
            status=event.status,
            leg_uuid=event.leg_uuid,
            timestamp=event.timestamp,
            received_at=received_at,
            payload=_json(event.payload),
        )
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression=_NEW_KEY)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc
        return True

    def get_call(
        self, conversation_uuid: str
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]] | None:
        """(answer records, (timestamp, payload) events in order), or None if unknown."""
        answers: list[dict[str, Any]] = []
        events: list[tuple[str, dict[str, Any]]] = []
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
                        answers.append(json.loads(item["record"]["S"]))
                    elif sort_key.startswith("EVENT#"):
                        events.append((item["timestamp"]["S"], json.loads(item["payload"]["S"])))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        if not answers and not events:
            return None
        return answers, events

    def check(self) -> None:
        """Raise StoreUnavailable unless the table exists and is ACTIVE."""
        try:
            table = self._client.describe_table(TableName=self._table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        if table.get("TableStatus") != "ACTIVE":
            raise StoreUnavailable(f"table {self._table} is {table.get('TableStatus')}")
