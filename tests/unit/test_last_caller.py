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

from chalicelib import keys
from chalicelib.decision import RateLimit
from chalicelib.errors import StoreRejected, StoreUnavailable
from chalicelib.storage.call_store import CallIdentity, CallStore

CALL = CallIdentity("CON-1", "jane", "2099-01-01T12:00:00.000000Z")
CONNECT = {"decision": "connect", "reason": "allowed", "destination": "+14155550101",
           "caller_is_number": False, "received_at": CALL.started_at, "ncco": []}  # fmt: skip
REFUSAL = {**CONNECT, "decision": "refuse", "reason": "user_rate_limited"}
LIMIT = RateLimit("jane", "HOUR", "2099-01-01T12", 1, 4_070_000_000, "user_rate_limited", "1 an hour")


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
    # the keys as keys.py builds them (docs/data-model.md)
    assert {name: answer["Put"]["Item"][name]["S"] for name in ("pk", "sk")} == keys.answer_key(
        "CON-1", "leg-1"
    )
    assert {name: value["S"] for name, value in summary["Update"]["Key"].items()} == keys.summary_key("CON-1")
    assert {name: value["S"] for name, value in counter["Update"]["Key"].items()} == keys.counter_key(
        "jane", "HOUR", "2099-01-01T12"
    )
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
    assert (saved.stored, saved.reached) == (False, LIMIT)  # the route answers its refusal
    with pytest.raises(StoreUnavailable) as caught:  # the put's place: not read as the limit's
        save(Cancelling("None", "None", "None", "ConditionalCheckFailed"))
    assert not isinstance(caught.value, StoreRejected)


def test_dynamodb_refusing_the_put_is_permanent() -> None:
    with pytest.raises(StoreRejected, match="last_caller: ValidationError"):
        save(Cancelling("None", "None", "None", "ValidationError"))


def test_a_conflict_on_the_put_is_storage_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two users calling one number at once: both write its item (retried while time is left)."""
    left = [True, True]  # time for two retries, then none: whatever the machine's speed
    monkeypatch.setattr(
        "chalicelib.storage.transactions.pause_for_retry", lambda deadline: bool(left and left.pop())
    )
    client = Cancelling("None", "None", "None", "TransactionConflict")
    with pytest.raises(StoreUnavailable) as caught:
        save(client)
    assert not isinstance(caught.value, StoreRejected)
    assert len(client.sent) == 3  # retried first


def test_no_put_without_a_connect() -> None:
    client = Cancelling()
    save(client, REFUSAL, limits=())
    ((answer, summary),) = client.sent
    assert "Put" in answer and "Update" in summary


@pytest.mark.parametrize(
    "destination", [None, 14155550101, "", "+", "++1415", "+1415555010a", "+" + "1" * 16, "+²", "+1 415"]
)
def test_no_put_for_a_destination_that_is_not_e164(destination: Any) -> None:
    client = Cancelling()
    assert save(client, {**CONNECT, "destination": destination}).stored
    ((_, _, counter),) = client.sent
    assert counter["Update"]["Key"]["pk"] == {"S": "RATE#USER#jane"}


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"caller_is_number": True}, "a phone caller's call"),
        ({"direction": "inbound"}, "a callback: the app user took a call, placed none"),
        ({"decision": "refuse"}, "nothing connected"),
    ],
)
def test_no_put_for_any_other_answer(changed: dict[str, Any], why: str) -> None:
    client = Cancelling()
    assert save(client, {**CONNECT, **changed}).stored
    ((_, _, counter),) = client.sent
    assert counter["Update"]["Key"]["pk"] == {"S": "RATE#USER#jane"}, why
