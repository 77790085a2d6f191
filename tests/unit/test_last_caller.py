"""The LAST_CALLER put inside the answer's transaction, read by role when DynamoDB cancels it.

DynamoDB answers a cancelled transaction with one reason per item, in item order: the put comes
last, with a role of its own, so the answer, the summary and the counters keep their places, and
DynamoDB refusing the put itself is permanent. DynamoDB Local cannot be made to refuse one item
on demand: a fake client does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.decision import Decision, RateLimit
from chalicelib.storage.call_store import CallIdentity, CallStore
from chalicelib.storage.errors import StoreRejected, StoreUnavailable

CALL = CallIdentity("CON-1", "jane", "2099-01-01T12:00:00.000000Z")
CONNECT = {"decision": "connect", "reason": "allowed", "destination": "+14155550101",
           "caller_is_number": False, "received_at": CALL.started_at, "ncco": []}  # fmt: skip
REFUSAL = {**CONNECT, "decision": "refuse", "reason": "user_rate_limited"}
LIMIT = RateLimit("jane", "HOUR", "2099-01-01T12", 1, 4_070_000_000, "user_rate_limited", "1 an hour",
                  lambda reason, detail: Decision(REFUSAL))  # fmt: skip


class Cancelling:
    """Cancels every transaction with these reason codes, one per item; keeps what it was sent."""

    def __init__(self, *codes: str) -> None:
        self.codes = codes
        self.sent: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.append(TransactItems)
        if not self.codes:
            return {}
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": code} for code in self.codes],
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "TransactWriteItems",
        )


def save(
    client: Cancelling, answer: dict[str, Any] = CONNECT, limits: tuple[RateLimit, ...] = (LIMIT,)
) -> Any:
    deadline = time.monotonic() + 0.85  # a conflict is retried while a worst-case call fits
    return CallStore(client, "t").save_answer(CALL, "leg-1", answer, 4_070_000_000, limits, deadline)


def test_the_put_comes_after_the_answers_other_writes() -> None:
    client = Cancelling()
    assert save(client).stored
    ((answer, summary, counter, last),) = client.sent
    assert answer["Put"]["Item"]["sk"] == {"S": "ANSWER#leg-1"}
    assert summary["Update"]["Key"]["sk"] == {"S": "SUMMARY"}
    assert last == {
        "Put": {
            "TableName": "t",
            "Item": {
                "pk": {"S": "NUMBER#14155550101"},
                "sk": {"S": "LAST_CALLER"},
                "user": {"S": "jane"},
                "conversation_uuid": {"S": "CON-1"},
                "at": {"S": CALL.started_at},
                "expires_at": {"N": "4070000000"},
            },
        }
    }  # unconditional: the latest connect wins, and it never cancels an answer
    assert counter["Update"]["Key"]["pk"] == {"S": "RATE#USER#jane"}


def test_a_limit_before_the_put_is_still_the_one_reached() -> None:
    saved = save(Cancelling("None", "None", "ConditionalCheckFailed", "None"))
    assert (saved.stored, saved.answer) == (False, REFUSAL)
    with pytest.raises(StoreUnavailable) as caught:  # the put's place: not read as the limit's
        save(Cancelling("None", "None", "None", "ConditionalCheckFailed"))
    assert not isinstance(caught.value, StoreRejected)


def test_dynamodb_refusing_the_put_is_permanent() -> None:
    with pytest.raises(StoreRejected, match="last_caller: ValidationError"):
        save(Cancelling("None", "None", "None", "ValidationError"))


def test_a_conflict_on_the_put_is_storage_unavailable() -> None:
    """Two users calling one number at once: both write its item (retried while time is left)."""
    client = Cancelling("None", "None", "None", "TransactionConflict")
    with pytest.raises(StoreUnavailable) as caught:
        save(client)
    assert not isinstance(caught.value, StoreRejected)
    assert len(client.sent) > 1  # retried first


def test_no_put_without_a_connect() -> None:
    client = Cancelling()
    save(client, REFUSAL, limits=())
    ((answer, summary),) = client.sent
    assert "Put" in answer and "Update" in summary
