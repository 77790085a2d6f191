"""The store's operations on the calls table, through a DynamoDB client passed in.

Items keep Vonage's payloads as compact JSON strings: exact (no float to Decimal, nulls and
key order kept) and one attribute to read back. Each webhook is one transaction (writes.py);
a read is one Query per key range (reads.py). Keys come from chalicelib/keys.py. The IAM
actions used: PutItem, UpdateItem, DeleteItem (inside TransactWriteItems; DeleteItem only when an
answer is settled; PutItem alone for a user's Vonage user noted), Query, GetItem (who last called
a number; whether a user's Vonage user exists), BatchGetItem (the calls listed for a callee),
DescribeTable.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import keys
from chalicelib.decision import CONNECT, RateLimit
from chalicelib.errors import StoreRejected, StoreUnavailable
from chalicelib.events import Event
from chalicelib.keys import LastCallerAttribute
from chalicelib.listing import ListingQuery
from chalicelib.storage import reads
from chalicelib.storage.errors import from_boto
from chalicelib.storage.items import typed_key
from chalicelib.storage.reads import Page, StoredCall
from chalicelib.storage.timing import EVENT_BUDGET_S, WORST_CALL_S
from chalicelib.storage.transactions import Cancelled, Write, transact
from chalicelib.storage.writes import (
    CallIdentity,
    Counter,
    answer_writes,
    callee_listing_write,
    counter_write,
    event_writes,
    fallback_writes,
    last_caller_write,
    settle_writes,
)

__all__ = ["CallIdentity", "CallStore", "LastCaller", "Page", "SavedAnswer", "StoredCall"]

CHECK_OK_S = 10.0  # how long CallStore.check keeps a table's state
CHECK_FAILED_S = 2.0
# client -> table -> (monotonic time the result is good until, the failure or None)
_TABLE_CHECKS: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, StoreUnavailable | None]]] = (
    weakref.WeakKeyDictionary()
)


class LastCaller(NamedTuple):
    """Who last called a phone number from the app (CallStore.last_caller)."""

    user: str
    conversation_uuid: str
    at: str  # the answer's received_at (utc_iso)


class SavedAnswer(NamedTuple):
    answer: dict[str, Any]  # what is stored: this answer, or on a retry the leg's first one
    stored: bool  # False when a limit was reached: nothing was written
    reached: RateLimit | None = None  # the limit that refused the call (its refusal is answered)


class CallStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- writes: one transaction each ------------------------------------------------------------

    def save_answer(
        self,
        call: CallIdentity,
        leg_key: str,
        answer: dict[str, Any],
        expires_at: int,
        limits: Sequence[RateLimit] = (),
        deadline: float | None = None,
        encoded: str | None = None,
    ) -> SavedAnswer:
        """Store the answer once, counted against `limits`, in one round trip.

        A retried answer request (same leg) finds its answer already there: nothing is counted
        again and the first answer comes back. A limit that is reached cancels the whole write,
        so a refused call is never counted and concurrent calls never pass a limit; that limit
        comes back (`reached`) and nothing is stored (a second write would be a second round
        trip on every refused call, and a flood of them is what the limits are for). Conflicts
        are retried while `deadline` leaves room.

        An app user's connect to a phone number also notes them as the number's last caller
        (last_caller), and a connect to another app user lists the call for the callee
        (callee_listing), in the same transaction: a retry or a limit cancels them with the rest.
        `encoded`: the answer as compact JSON, when the caller has it already.
        """
        writes = answer_writes(self._table, call, leg_key, answer, expires_at, encoded=encoded)
        writes += [counter_write(self._table, limit) for limit in limits]
        for extra in (
            last_caller_write(self._table, call, answer, expires_at),
            callee_listing_write(self._table, call, answer, expires_at),
        ):
            if extra is not None:
                writes.append(extra)
        cancelled = transact(self._client, writes, deadline)
        if cancelled is None:
            return SavedAnswer(answer, stored=True)
        if cancelled.condition_failed("answer"):
            earlier = cancelled.old_item("answer")
            if not earlier or not ({"answer", "record"} & set(earlier)):
                raise cancelled.unavailable()  # no old item returned: cannot tell
            return SavedAnswer(reads.stored_json(earlier, "answer"), stored=True)
        reached = next((limit for limit in limits if cancelled.condition_failed(limit)), None)
        if reached is not None:
            return SavedAnswer(answer, stored=False, reached=reached)
        if any(cancelled.invalid(role) for role in ("answer", "summary", "last_caller", "callee_listing")):
            raise StoreRejected(f"DynamoDB refused the answer: {cancelled.reasons_text()}")
        raise cancelled.unavailable()

    def settle_answer(
        self,
        call: CallIdentity,
        leg_key: str,
        refusal: dict[str, Any],
        expires_at: int,
        counters: Sequence[Counter],
        deadline: float | None = None,
    ) -> str:
        """Make the record say `refusal`, which the caller heard, for a leg whose counted connect
        was sent but whose reply was lost (its outcome unknown). Safe to repeat:
        - the connect never landed: the refusal is stored, and a connect landing later fails
          its own condition (a leg's first answer only) and so counts and notes nothing
          ("stored");
        - it landed: the answer and listing say the refusal, its `counters` each count one call
          less, and the last caller or callee listing it set is removed, all in one transaction
          conditional on the landed connect still being there ("undone");
        - the refusal is there already ("settled").
        """
        cancelled = transact(
            self._client, answer_writes(self._table, call, leg_key, refusal, expires_at), deadline
        )
        if cancelled is None:
            return "stored"
        if not cancelled.condition_failed("answer"):
            raise cancelled.unavailable()
        earlier = cancelled.old_item("answer")
        if not earlier or "answer" not in earlier:
            raise cancelled.unavailable()  # no old item returned: cannot tell what landed
        text = earlier["answer"]["S"]
        if reads.stored_json(earlier, "answer").get("decision") != CONNECT:
            return "settled"
        writes = settle_writes(
            self._table,
            call,
            leg_key,
            refusal,
            reads.stored_json(earlier, "answer"),
            text,
            expires_at,
            counters,
        )
        while True:
            cancelled = transact(self._client, writes, deadline)
            if cancelled is None:
                return "undone"
            if cancelled.condition_failed("answer"):  # settled meanwhile, by a repeat of this
                return "settled"
            # a part that no longer applies (another leg listed first, a counter gone with its
            # window, the number called since by someone else) is left out, the rest applied
            optional = {write.role for write in writes if write.role not in ("answer", "callee_listing")}
            stale = {role for role in optional if cancelled.condition_failed(role)}
            if not stale:
                raise cancelled.unavailable()
            writes = [write for write in writes if write.role not in stale]

    def save_event(
        self,
        event: Event,
        received_at: str,
        expires_at: int,
        reply: list[dict[str, Any]] | None = None,
        deadline: float | None = None,
        voicemail: dict[str, Any] | None = None,
    ) -> bool:
        """Store an event once, and what it changes in the summary; False when it was already
        stored (a redelivery changes nothing at all). `reply`: the NCCO answered to it, kept with
        it; `voicemail` (summary.voicemail_fields of a voicemail's record event) is set on the
        SUMMARY item, where the call record and the listings read it."""
        writes = event_writes(self._table, event, received_at, expires_at, reply, voicemail)
        return self._put_once(writes, deadline)

    def save_fallback(
        self,
        call: CallIdentity,
        use_key: str,
        fallback: dict[str, Any],
        expires_at: int,
        deadline: float | None = None,
    ) -> bool:
        """Note one use of the fallback answer URL; False if this very use was already noted."""
        return self._put_once(fallback_writes(self._table, call, use_key, fallback, expires_at), deadline)

    def _put_once(self, writes: list[Write], deadline: float | None) -> bool:
        """Apply a transaction whose first write ("item") puts a new item; False if that item
        existed (a redelivery: then nothing at all was written)."""
        if deadline is None:
            deadline = time.monotonic() + EVENT_BUDGET_S
        cancelled = transact(self._client, writes, deadline)
        return cancelled is None or _not_applied(cancelled, writes)

    # --- reads -----------------------------------------------------------------------------------

    def last_caller(self, digits: str, since: str, deadline: float | None = None) -> LastCaller | None:
        """Who last called `digits` (E.164 without '+'; ValueError otherwise) from the app, at or
        after `since` (utc_iso: the strings compare as times); None if nobody did, or the item
        is not one save_answer writes. One GetItem, eventually consistent: a connect stored a
        moment ago may not show yet. StoreUnavailable before anything is sent when a worst-case
        call no longer fits before `deadline`."""
        key = keys.last_caller_key(digits)
        if deadline is not None and deadline - time.monotonic() < WORST_CALL_S:
            raise StoreUnavailable("no time left in the budget for a DynamoDB call")
        names = (LastCallerAttribute.USER, LastCallerAttribute.CONVERSATION_UUID, LastCallerAttribute.AT)
        try:
            reply = self._client.get_item(
                TableName=self._table,
                Key=typed_key(key),
                ProjectionExpression="#u, #c, #a",
                ExpressionAttributeNames=dict(zip(("#u", "#c", "#a"), names, strict=True)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc
        item = reply.get("Item")  # a success without the item is {}
        if not item:
            return None
        try:
            found = LastCaller(*(item[name]["S"] for name in names))
        except (KeyError, TypeError):
            return None
        if not all(isinstance(value, str) and value for value in found):
            return None
        return found if found.at >= since else None

    def vonage_user_known(self, user: str) -> bool:
        """Whether `user`'s Vonage user is known to exist (their first login made it, within the
        item's lifetime). One GetItem, strongly consistent: a login a moment ago counts."""
        try:
            reply = self._client.get_item(
                TableName=self._table,
                Key=typed_key(keys.vonage_user_key(user)),
                ConsistentRead=True,
                ProjectionExpression="#pk",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
            )
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc
        return bool(reply.get("Item"))

    def remember_vonage_user(self, user: str, vonage_id: str | None, at: str, expires_at: int) -> None:
        """Note that `user`'s Vonage user exists (a put: a second login's write changes nothing
        that matters). It expires, so that a user deleted at Vonage is created again in time."""
        item = {
            **typed_key(keys.vonage_user_key(user)),
            "vonage_id": {"S": vonage_id} if vonage_id else {"NULL": True},
            "at": {"S": at},
            keys.TTL_ATTRIBUTE: {"N": str(expires_at)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc

    def get_call(
        self, conversation_uuid: str, limit: int = 100, start: dict[str, Any] | None = None
    ) -> StoredCall | None:
        """The call's summary, answers, fallback uses and legs, and one page of its events (at
        most `limit`, after `start`); None if the call is unknown."""
        return reads.get_call(self._client, self._table, conversation_uuid, limit, start)

    def list_calls(self, listing: ListingQuery) -> Page:
        """One page of a history index, newest first (a second round trip, BatchGetItem, when the
        page holds app-to-app calls listed for their callee: their SUMMARY items)."""
        return reads.list_calls(self._client, self._table, listing)

    def check(self) -> None:
        """Raise StoreUnavailable unless the table exists and is ACTIVE.

        DescribeTable is slow on a large table and health checks come often: the result is
        kept for CHECK_OK_S (a failure for CHECK_FAILED_S), per client and table.
        """
        if not self.kept():
            problem = self._describe()
            until = time.monotonic() + (CHECK_FAILED_S if problem else CHECK_OK_S)
            _TABLE_CHECKS.setdefault(self._client, {})[self._table] = (until, problem)
        problem = _TABLE_CHECKS[self._client][self._table][1]
        if problem is not None:
            raise StoreUnavailable(str(problem))

    def kept(self) -> bool:
        """Whether check() answers from a result it kept, without asking DynamoDB."""
        found = _TABLE_CHECKS.get(self._client, {}).get(self._table)
        return found is not None and time.monotonic() < found[0]

    def _describe(self) -> StoreUnavailable | None:
        try:
            table = self._client.describe_table(TableName=self._table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            return from_boto(exc)
        if table.get("TableStatus") != "ACTIVE":
            return StoreUnavailable(f"table {self._table} is {table.get('TableStatus')}")
        return None


def _not_applied(cancelled: Cancelled, writes: list[Write]) -> bool:
    """_put_once's answer to a cancelled transaction: False for a redelivery; raises otherwise."""
    if cancelled.condition_failed("item"):
        return False
    if any(cancelled.invalid(write.role) for write in writes):
        raise StoreRejected(f"DynamoDB refused the write: {cancelled.reasons_text()}") from cancelled.error
    raise cancelled.unavailable()
