"""One TransactWriteItems helper: each write has a role, and a cancellation is read by role.

DynamoDB answers a cancelled transaction with one reason per item, in item
order (CancellationReasons). Callers ask `cancelled.condition_failed("answer")`
instead of reading `codes[0]`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.storage.errors import StoreUnavailable, from_boto
from chalicelib.storage.timing import WORST_CALL_S, pause_for_retry

# CancellationReasons codes callgate acts on (DynamoDB API reference, TransactWriteItems)
CONDITION_FAILED = "ConditionalCheckFailed"  # the write's condition was false: nothing written
CONFLICT = "TransactionConflict"  # another transaction touched the item at that moment
INVALID = "ValidationError"  # the item cannot be written (e.g. it would pass 400 KB)


class Write(NamedTuple):
    role: Any  # what the write is to its caller: "answer", "summary", a rate limit…
    operation: dict[str, Any]  # {"Put": …}, {"Update": …}


@dataclass(frozen=True)
class Cancelled:
    """Why DynamoDB cancelled a transaction, write by write."""

    error: ClientError
    reasons: tuple[tuple[Any, str | None, dict[str, Any] | None], ...]  # (role, code, old item)

    def _codes(self, role: Any) -> list[str | None]:
        return [code for each, code, _ in self.reasons if each == role]

    def condition_failed(self, role: Any) -> bool:
        return CONDITION_FAILED in self._codes(role)

    def invalid(self, role: Any) -> bool:
        return INVALID in self._codes(role)

    def old_item(self, role: Any) -> dict[str, Any] | None:
        """The item as it was, for a write with ReturnValuesOnConditionCheckFailure=ALL_OLD."""
        return next((item for each, code, item in self.reasons if each == role and item), None)

    def reasons_text(self) -> str:
        """For logs: each write's role and DynamoDB's code for it."""
        return ", ".join(f"{role}: {code}" for role, code, _ in self.reasons)

    def unavailable(self) -> StoreUnavailable:
        return from_boto(self.error)


def transact(client: Any, writes: Sequence[Write], deadline: float | None) -> Cancelled | None:
    """Apply `writes` all or nothing; None once applied, Cancelled when a condition or an
    item stopped them. A cancellation due to conflicts alone is retried after a short random
    pause while a worst-case retry fits before `deadline`. StoreUnavailable for the rest, and
    before anything is sent when a worst-case call no longer fits: the caller's reply must not
    wait for a write that could outlast its budget."""
    if deadline is not None and deadline - time.monotonic() < WORST_CALL_S:
        raise StoreUnavailable("no time left in the budget for a DynamoDB call")
    operations = [write.operation for write in writes]
    while True:
        try:
            client.transact_write_items(TransactItems=operations)
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise from_boto(exc) from exc
            reasons = exc.response.get("CancellationReasons") or []
            codes = [reason.get("Code") for reason in reasons]
            decisive = CONDITION_FAILED in codes or INVALID in codes
            if not decisive and CONFLICT in codes and pause_for_retry(deadline):
                continue
            return Cancelled(
                exc,
                tuple(
                    (write.role, reason.get("Code"), reason.get("Item"))
                    for write, reason in zip(writes, reasons, strict=False)
                ),
            )
        except BotoCoreError as exc:
            raise from_boto(exc) from exc
