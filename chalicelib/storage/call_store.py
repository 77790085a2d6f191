"""The store's operations on the calls table, through a DynamoDB client passed in.

Items keep Vonage's payloads as compact JSON strings: exact (no float to
Decimal, nulls and key order kept) and one attribute to read back. Every write
is conditional on its key being new, so a retried webhook writes nothing twice,
and each is one transaction that also updates the call's SUMMARY item and, for
a status event, its leg's LEG item: sets and sums only, so whatever the order of
the events the result is the same (summary.py), and no item grows with the
number of events. Keys come from storage/keys.py. The IAM actions used: PutItem,
UpdateItem (inside TransactWriteItems; PutItem alone when a correction of an answer cannot
touch the listing), Query, GetItem (who last called a number), DescribeTable.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import summary
from chalicelib.decision import RateLimit
from chalicelib.listing import ListingQuery
from chalicelib.storage import keys
from chalicelib.storage.errors import StoreRejected, StoreUnavailable, from_boto
from chalicelib.storage.keys import TTL_ATTRIBUTE, LastCallerAttribute, LegAttribute, SummaryAttribute
from chalicelib.storage.timing import EVENT_BUDGET_S, WORST_CALL_S
from chalicelib.storage.transactions import Cancelled, Write, apply
from chalicelib.webhooks import Event, compact_json

_NEW_KEY = f"attribute_not_exists({keys.PARTITION_KEY})"
_ONE = {"N": "1"}
_TRUE = {"BOOL": True}


_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # one encoder: no set-up per call
_EVENT_KIND = {"S": "event"}
_ANSWER_KIND = {"S": "answer"}
_COUNTER_NAMES = {"#n": "n", "#expires": TTL_ATTRIBUTE}
# The SUMMARY update of an answer: the first answer, the caller and the index keys, each set
# only if absent (a later answer of another leg lists nothing new), and the expiry.
_INDEX_KEY_NAMES = {
    "#up": keys.INDEXES[keys.BY_USER][0],
    "#us": keys.INDEXES[keys.BY_USER][1],
    "#dp": keys.INDEXES[keys.BY_DATE][0],
    "#ds": keys.INDEXES[keys.BY_DATE][1],
}
_DATE_KEY_NAMES = {p: name for p, name in _INDEX_KEY_NAMES.items() if p in ("#dp", "#ds")}


def _set_once(placeholders: dict[str, str]) -> str:
    return ", ".join(f"{p} = if_not_exists({p}, :{p[1:]})" for p in placeholders)


_ANSWER_SUMMARY_UPDATE = f"SET #exp = :exp, #a = if_not_exists(#a, :a), {_set_once(_DATE_KEY_NAMES)}"
_ANSWER_SUMMARY_UPDATE_WITH_USER = (
    f"SET #exp = :exp, #a = if_not_exists(#a, :a), #u = if_not_exists(#u, :u), {_set_once(_INDEX_KEY_NAMES)}"
)


def _stored_json(item: dict[str, Any], kind: str) -> Any:
    """An answer's or fallback use's JSON; items written before the attribute was named after
    their kind hold it under `record`."""
    value = item.get(kind) or item["record"]
    return json.loads(value["S"])


def _strings(**attributes: str | None) -> dict[str, dict[str, str]]:
    """DynamoDB's typed form of string attributes; None leaves the attribute out."""
    return {name: {"S": value} for name, value in attributes.items() if value is not None}


def _typed_key(key: keys.Key) -> dict[str, dict[str, str]]:
    return {keys.PARTITION_KEY: {"S": key[keys.PARTITION_KEY]}, keys.SORT_KEY: {"S": key[keys.SORT_KEY]}}


_encode = compact_json(sort_keys=False)  # _json's text, at two thirds of its cost: on every event
_PK, _SK = keys.PARTITION_KEY, keys.SORT_KEY
_LEG_STATES = summary.LEG_STATES
_SUMMARY_SK = {"S": keys.SUMMARY_SK}
# The SUMMARY update of an event: its expiry and count, and for a status event its StatusFact
# and (when it has them) its price and duration, keyed by (price?, duration?).
_COUNT = "SET #exp = :exp ADD #n :one"
_COUNT_NAMES = {"#exp": TTL_ATTRIBUTE, "#n": SummaryAttribute.EVENT_COUNT}
_STATUS_COUNTS = {
    (price, duration): (
        _COUNT + ", #s :s" + (", #p :p" if price else "") + (", #d :d" if duration else ""),
        {
            **_COUNT_NAMES,
            "#s": SummaryAttribute.STATUSES,
            **({"#p": SummaryAttribute.TOTAL_PRICE} if price else {}),
            **({"#d": SummaryAttribute.TOTAL_DURATION} if duration else {}),
        },
    )
    for price in (False, True)
    for duration in (False, True)
}
_VOICEMAIL_COUNT = "SET #exp = :exp, #v = :v ADD #n :one"  # a call has one voicemail: set, not merged
_VOICEMAIL_NAMES = {**_COUNT_NAMES, "#v": SummaryAttribute.VOICEMAIL}
_LEG_UPDATE = "SET #exp = :exp ADD #f :f"
_LEG_FACTS = {"#exp": TTL_ATTRIBUTE, "#f": LegAttribute.FACTS}
_LEG_TRANSFERS = {"#exp": TTL_ATTRIBUTE, "#f": LegAttribute.TRANSFERS}
_MOVED = ("conversation_uuid_from", "conversation_uuid_to", "timestamp")
_EVENT_ROLES = ("item", "summary")  # an event's writes: its put and the SUMMARY update
_LEG_EVENT_ROLES = ("item", "summary", "leg")  # and, for a status event or a transfer, the LEG update
_ANSWER_ITEMS = ("answer", "summary", "last_caller")  # an answer's writes besides its counters
_OUTBOUND = "outbound"  # an answer's direction when it has none (only a callback's is "inbound")
_LAST_CALLER_SK = {"S": keys.LAST_CALLER_SK}
_LAST_USER = LastCallerAttribute.USER
_LAST_CONVERSATION = LastCallerAttribute.CONVERSATION_UUID
_LAST_AT = LastCallerAttribute.AT
_LAST_CALLER_NAMES = {"#u": _LAST_USER, "#c": _LAST_CONVERSATION, "#a": _LAST_AT}


def _under(partition: dict[str, str], operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same puts and updates in another partition (a transfer's other conversation)."""
    copies = []
    for operation in operations:
        ((verb, write),) = operation.items()
        where = "Item" if verb == "Put" else "Key"
        copies.append({verb: {**write, where: {**write[where], _PK: partition}}})
    return copies


def _apply_once(
    client: Any, operations: list[dict[str, Any]], roles: Sequence[Any], deadline: float | None
) -> bool:
    """CallStore._put_once with the operations and their roles apart (transactions.apply)."""
    if deadline is None:
        deadline = time.monotonic() + EVENT_BUDGET_S
    cancelled = apply(client, operations, roles, deadline)
    return cancelled is None or _not_applied(cancelled, roles)


def _not_applied(cancelled: Cancelled, roles: Sequence[Any]) -> bool:
    """_apply_once's answer to a cancelled transaction: False for a redelivery; raises otherwise."""
    if cancelled.condition_failed("item"):
        return False
    if any(cancelled.invalid(role) for role in roles):
        raise StoreRejected(f"DynamoDB refused the write: {cancelled.reasons_text()}") from cancelled.error
    raise cancelled.unavailable()


class CallIdentity(NamedTuple):
    """Who placed a call and when: what the history indexes list it by."""

    conversation_uuid: str
    user: str | None
    started_at: str  # utc_iso()


class LastCaller(NamedTuple):
    """Who last called a phone number from the app (CallStore.last_caller)."""

    user: str
    conversation_uuid: str
    at: str  # the answer's received_at (utc_iso)


class SavedAnswer(NamedTuple):
    answer: dict[str, Any]  # what to answer: the earlier one on a retry, a limit's refusal
    stored: bool  # False for a limit's refusal: it is logged, not stored (see save_answer)


@dataclass(frozen=True)
class StoredCall:
    """One page of a call record, as the store read it."""

    summary: dict[str, Any] | None  # the decoded SUMMARY item (_decode_summary)
    answers: list[dict[str, Any]]
    fallbacks: list[dict[str, Any]]
    legs: list[dict[str, Any]]  # {"uuid", "facts", "transfers"} per LEG item
    events: list[dict[str, Any]]  # {"timestamp", "digest", "kind", "payload", "reply"}, in key order
    next: str | None  # the opaque token for the following page of events


@dataclass(frozen=True)
class Page:
    calls: list[dict[str, Any]]  # decoded SUMMARY items, newest first
    next: str | None  # the opaque token for the following page


class _Update:
    """One UpdateItem inside a transaction, built clause by clause."""

    def __init__(self, table: str, key: keys.Key, expires_at: int) -> None:
        self.table, self.key = table, key
        self.sets = ["#exp = :exp"]  # an item lives as long as the last write to it
        self.adds: list[str] = []
        self.names = {"#exp": TTL_ATTRIBUTE}
        self.values: dict[str, Any] = {":exp": {"N": str(expires_at)}}

    def set(self, name: str, value: dict[str, Any], once: bool = False) -> None:
        n = len(self.names)
        self.names[f"#{n}"], self.values[f":{n}"] = name, value
        self.sets.append(f"#{n} = if_not_exists(#{n}, :{n})" if once else f"#{n} = :{n}")

    def add(self, name: str, value: dict[str, Any]) -> None:
        """A number added, or elements put in a set: the same result in any order."""
        n = len(self.names)
        self.names[f"#{n}"], self.values[f":{n}"] = name, value
        self.adds.append(f"#{n} :{n}")

    def operation(self, condition: str | None = None) -> dict[str, Any]:
        expression = "SET " + ", ".join(self.sets)
        if self.adds:
            expression += " ADD " + ", ".join(self.adds)
        update = {
            "TableName": self.table,
            "Key": _typed_key(self.key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}


class CallStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- write operations ------------------------------------------------------------------------

    def _summary(self, conversation_uuid: str, expires_at: int, call: CallIdentity | None = None) -> _Update:
        """An update of the SUMMARY item; `call`'s identity and index keys are set once."""
        update = _Update(self._table, keys.summary_key(conversation_uuid), expires_at)
        if call is not None:
            if call.user:
                update.set(SummaryAttribute.USER, {"S": call.user}, once=True)
            for name, value in keys.index_keys(conversation_uuid, call.user, call.started_at).items():
                update.set(name, {"S": value}, once=True)
        return update

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

    def _answer_writes(
        self, call: CallIdentity, leg_key: str, answer: dict[str, Any], expires_at: int
    ) -> tuple[dict[str, Any], _Update]:
        """The ANSWER item, and the SUMMARY update that lists the call by its first answer."""
        item = _strings(
            **keys.answer_key(call.conversation_uuid, leg_key),
            kind="answer",
            received_at=answer["received_at"],
            answer=_json(answer),
        )
        update = self._summary(call.conversation_uuid, expires_at, call)
        update.set(SummaryAttribute.FIRST_ANSWER, _first_answer(leg_key, answer), once=True)
        return item, update

    def _answer_transaction(
        self, call: CallIdentity, leg_key: str, answer: dict[str, Any], expires_at: int, encoded: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What _answer_writes builds (the conditional put and the update), from literals: this
        is on every answer's path, and a Vonage answer request waits for it."""
        expires = {"N": str(expires_at)}
        conversation_uuid = call.conversation_uuid
        pk, sk = keys.answer_key_pair(conversation_uuid, leg_key)
        partition = {"S": pk}  # the SUMMARY item's too
        put = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    _PK: partition,
                    _SK: {"S": sk},
                    "kind": _ANSWER_KIND,
                    "received_at": {"S": answer["received_at"]},
                    "answer": {"S": _json(answer) if encoded is None else encoded},
                    TTL_ATTRIBUTE: expires,
                },
                "ConditionExpression": _NEW_KEY,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        index = keys.index_keys(conversation_uuid, call.user, call.started_at)
        placeholders = _INDEX_KEY_NAMES if call.user else _DATE_KEY_NAMES  # no user: not by_user
        names = {"#exp": TTL_ATTRIBUTE, "#a": SummaryAttribute.FIRST_ANSWER, **placeholders}
        values = {":exp": expires, ":a": _first_answer(leg_key, answer)}
        for placeholder, name in placeholders.items():
            values[":" + placeholder[1:]] = {"S": index[name]}
        expression = _ANSWER_SUMMARY_UPDATE
        if call.user:
            names["#u"], values[":u"] = SummaryAttribute.USER, {"S": call.user}
            expression = _ANSWER_SUMMARY_UPDATE_WITH_USER
        update = {
            "Update": {
                "TableName": self._table,
                "Key": {_PK: partition, _SK: _SUMMARY_SK},
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        return put, update

    def _increment(self, limit: RateLimit) -> dict[str, Any]:
        pk, sk = keys.counter_key_pair(limit.user, limit.window, limit.period)
        return {
            "Update": {
                "TableName": self._table,
                "Key": {_PK: {"S": pk}, _SK: {"S": sk}},
                "UpdateExpression": "SET #expires = if_not_exists(#expires, :expires) ADD #n :one",
                "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
                "ExpressionAttributeNames": _COUNTER_NAMES,
                "ExpressionAttributeValues": {
                    ":one": _ONE,
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
        encoded: str | None = None,
    ) -> SavedAnswer:
        """Store the answer once, counted against `limits`, in one round trip; what to answer.

        A retried answer request (same leg) finds its answer already there:
        nothing is counted again and the first answer comes back. A limit that
        is reached cancels the whole write, so a refused call is never counted
        and concurrent calls never pass a limit. That limit's refusal is returned
        and not stored: a second write would be a second round trip on every
        refused call, and a flood of them (what the limits are for) would double
        the writes. It is logged like every answer. Conflicts are retried while
        `deadline` leaves room. `encoded`: the answer as JSON, if the caller has it already.

        An app user's connect to a phone number also notes them as the number's last caller
        (last_caller), unconditionally, in the same transaction: a retry or a limit's
        refusal cancels it with the rest, so only a stored connect ever writes it.
        """
        put, update = self._answer_transaction(call, leg_key, answer, expires_at, encoded)
        operations = [put, update]
        for limit in limits:
            operations.append(self._increment(limit))
        # The roles of the writes, in order. The LAST_CALLER put comes last: every other write
        # keeps its place (and its cancellation reason's) whether or not there is one.
        roles: tuple[Any, ...] = ("answer", "summary", *limits)
        if call.user and answer["decision"] == "connect":  # an app user's connect to a number?
            get, number = answer.get, None
            if get("caller_is_number") is not True and get("direction", _OUTBOUND) == _OUTBOUND:
                number = keys.last_caller_partition(get("destination"))  # None: not "+<digits>"
            if number is not None:
                item = put["Put"]["Item"]  # its received_at and expiry are the answer's
                operations.append(
                    {"Put": {"TableName": self._table, "Item": {
                        _PK: {"S": number}, _SK: _LAST_CALLER_SK, _LAST_USER: {"S": call.user},
                        _LAST_CONVERSATION: {"S": call.conversation_uuid}, _LAST_AT: item["received_at"],
                        TTL_ATTRIBUTE: item[TTL_ATTRIBUTE]}}}
                )  # fmt: skip
                roles = (*roles, "last_caller")
        cancelled = apply(self._client, operations, roles, deadline)
        if cancelled is None:
            return SavedAnswer(answer, stored=True)
        if cancelled.condition_failed("answer"):
            earlier = cancelled.old_item("answer")
            if not earlier or not ({"answer", "record"} & set(earlier)):
                raise cancelled.unavailable()  # no old item returned: cannot tell
            return SavedAnswer(_stored_json(earlier, "answer"), stored=True)
        reached = next((limit for limit in limits if cancelled.condition_failed(limit)), None)
        if reached is None:
            if any(cancelled.invalid(role) for role in _ANSWER_ITEMS):
                raise StoreRejected(f"DynamoDB refused the answer: {cancelled.reasons_text()}")
            raise cancelled.unavailable()
        return SavedAnswer(reached.refusal, stored=False)

    def replace_answer(
        self, call: CallIdentity, leg_key: str, answer: dict[str, Any], expires_at: int
    ) -> None:
        """Overwrite an answer: when a counted write timed out but may have been applied,
        the stored answer must say what the caller actually heard (the refusal).

        The listing's first answer is replaced only if it is this leg's.
        """
        item, _ = self._answer_writes(call, leg_key, answer, expires_at)
        update = self._summary(call.conversation_uuid, expires_at, call)
        update.set(SummaryAttribute.FIRST_ANSWER, _first_answer(leg_key, answer))
        update.names["#first"], update.names["#uuid"] = SummaryAttribute.FIRST_ANSWER, "uuid"
        update.values[":leg"] = {"S": leg_key}
        put = {"Put": {"TableName": self._table, "Item": {**item, TTL_ATTRIBUTE: {"N": str(expires_at)}}}}
        mine = "attribute_not_exists(#first) OR #first.#uuid = :leg"
        try:
            self._client.transact_write_items(TransactItems=[put, update.operation(mine)])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise from_boto(exc) from exc
            try:  # another leg's answer is listed first: only this leg's item changes
                self._client.put_item(**put["Put"])
            except (ClientError, BotoCoreError) as again:
                raise from_boto(again) from again
        except BotoCoreError as exc:
            raise from_boto(exc) from exc

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
        stored. `voicemail` (summary.voicemail_fields of a voicemail's record event) is set on
        the SUMMARY item, where the call record and the listings read it.

        One round trip: the event's conditional put and the updates are one
        transaction, so a redelivery changes nothing at all. A status event adds
        its StatusFact, price and duration to the SUMMARY and its leg fields to the
        LEG item; any other event only counts. A transfer is filed under both
        conversations (the legs moved from one to the other) and noted on its leg.
        """
        (conversation_uuid, leg_uuid, kind, status, timestamp, timed, label, digest, payload, also,
         encoded) = event  # fmt: skip
        # summary.leg_state(payload): the event's status is the payload's, if it is text
        state = leg_uuid is not None and status in _LEG_STATES
        transfer = kind == "transfer" and leg_uuid is not None
        ms = summary.event_ms(timestamp) if state or transfer else 0
        table = self._table
        expires = {"N": str(expires_at)}
        pk, sk = keys.event_key_pair(conversation_uuid, timestamp if timed else None, label, digest)
        partition = {"S": pk}
        item = {
            _PK: partition,
            _SK: {"S": sk},
            "kind": _EVENT_KIND,
            "event_kind": {"S": kind},
            "timestamp": {"S": timestamp},
            "digest": {"S": digest},
            "received_at": {"S": received_at},
            "payload": {"S": _encode(payload) if encoded is None else encoded},
            TTL_ATTRIBUTE: expires,
        }
        if status is not None:
            item["status"] = {"S": status}
        if leg_uuid is not None:
            item["leg_uuid"] = {"S": leg_uuid}
        if reply is not None:
            item["reply"] = {"S": _encode(reply)}
        # What the event changes in the summary and on its leg: the same under both conversations.
        values = {":exp": expires, ":one": _ONE}
        leg_names = leg_value = None
        if state:
            values[":s"] = {"SS": [summary.status_text(payload, ms, leg_uuid)]}  # type: ignore[arg-type]
            price, duration = summary.billed(payload)
            if price is not None:
                values[":p"] = {"N": price}
            if duration is not None:
                values[":d"] = {"N": duration}
            counts, names = _STATUS_COUNTS[price is not None, duration is not None]
            leg_names, leg_value = _LEG_FACTS, {"SS": [summary.leg_fact_text(payload, ms, reply)]}
        else:
            counts, names = _COUNT, _COUNT_NAMES
            if voicemail is not None:
                counts, names = _VOICEMAIL_COUNT, _VOICEMAIL_NAMES
                values[":v"] = _voicemail(voicemail)
            if transfer:
                moved = {k: payload.get(k) for k in _MOVED}  # ids: checked when the event was read
                when = moved["timestamp"]  # as sent: any JSON, kept only as short text
                moved["timestamp"] = when[: summary.FACT_CHARS] if isinstance(when, str) else None
                leg_names, leg_value = _LEG_TRANSFERS, {"SS": [_encode(moved)]}
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": table, "Item": item, "ConditionExpression": _NEW_KEY,
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Update": {"TableName": table, "Key": {_PK: partition, _SK: _SUMMARY_SK},
                        "UpdateExpression": counts, "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values}},
        ]  # fmt: skip
        roles = _EVENT_ROLES
        if leg_names is not None:
            roles = _LEG_EVENT_ROLES
            leg = {"S": keys.leg_sort_key(leg_uuid)}  # type: ignore[arg-type]
            operations.append(
                {"Update": {"TableName": table, "Key": {_PK: partition, _SK: leg},
                            "UpdateExpression": _LEG_UPDATE, "ExpressionAttributeNames": leg_names,
                            "ExpressionAttributeValues": {":exp": expires, ":f": leg_value}}}
            )  # fmt: skip
        if also is not None:  # a transfer: the same writes under the other conversation
            operations += _under({"S": keys.call_partition(also)}, operations)
            # "item" is the first put: a redelivery finds it. A transfer's copy under the other
            # conversation ("copy") existing alone is no redelivery, so it is not read as one.
            roles = (*roles, "copy", *roles[1:])
        # _apply_once's steps, without the call: every event takes them
        if deadline is None:
            deadline = time.monotonic() + EVENT_BUDGET_S
        cancelled = apply(self._client, operations, roles, deadline)
        return cancelled is None or _not_applied(cancelled, roles)

    def save_fallback(
        self,
        call: CallIdentity,
        use_key: str,
        fallback: dict[str, Any],
        expires_at: int,
        deadline: float | None = None,
    ) -> bool:
        """Note one use of the fallback answer URL; False if this very use was already noted."""
        item = _strings(
            **keys.fallback_key(call.conversation_uuid, use_key),
            kind="fallback",
            received_at=fallback["received_at"],
            fallback=_json(fallback),
        )
        update = self._summary(call.conversation_uuid, expires_at, call)
        update.set(SummaryAttribute.FALLBACK_USED, _TRUE)
        writes = [Write("item", self._put_new(item, expires_at)), Write("summary", update.operation())]
        return self._put_once(writes, deadline)

    def _put_once(self, writes: list[Write], deadline: float | None) -> bool:
        """Apply a transaction whose first write ("item") puts a new item; False if that item
        existed (a redelivery: then nothing at all was written)."""
        operations, roles = [write.operation for write in writes], [write.role for write in writes]
        return _apply_once(self._client, operations, roles, deadline)

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
        try:
            reply = self._client.get_item(
                TableName=self._table,
                Key=_typed_key(key),
                ProjectionExpression="#u, #c, #a",
                ExpressionAttributeNames=_LAST_CALLER_NAMES,
            )
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc
        item = reply.get("Item")  # a success without the item is {}
        if not item:
            return None
        try:
            found = LastCaller(item[_LAST_USER]["S"], item[_LAST_CONVERSATION]["S"], item[_LAST_AT]["S"])
        except (KeyError, TypeError):
            return None
        if not all(isinstance(value, str) and value for value in found):
            return None
        return found if found.at >= since else None

    def _query(self, query: dict[str, Any], pages: bool = True) -> tuple[list[dict[str, Any]], Any]:
        """Items of a Query (every page unless `pages` is False) and the last LastEvaluatedKey."""
        found: list[dict[str, Any]] = []
        try:
            while True:
                page = self._client.query(**query)
                found.extend(page.get("Items", []))
                last = page.get("LastEvaluatedKey")
                if not pages or last is None:
                    return found, last
                query = {**query, "ExclusiveStartKey": last}
        except (ClientError, BotoCoreError) as exc:
            raise from_boto(exc) from exc

    def _call_range(self, conversation_uuid: str, condition: str, **values: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "KeyConditionExpression": f"#pk = :pk AND {condition}",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.call_partition(conversation_uuid)},
                **{f":{name}": {"S": value} for name, value in values.items()},
            },
        }

    def get_call(
        self, conversation_uuid: str, limit: int = 100, start: dict[str, Any] | None = None
    ) -> StoredCall | None:
        """The call's summary, answers, fallback uses and legs, and one page of its events
        (at most `limit`, after `start`); None if the call is unknown.

        Three Queries, each over one key range: the answers (before the events), the
        fallback uses, legs and summary (after them), and the page of events.
        """
        answers, _ = self._query(
            self._call_range(conversation_uuid, "#sk < :events", events=keys.EVENTS_START)
        )
        rest, _ = self._query(self._call_range(conversation_uuid, "#sk > :after", after=keys.EVENTS_END))
        page = self._call_range(conversation_uuid, "begins_with(#sk, :events)", events=keys.EVENTS_START)
        page["Limit"] = limit
        if start is not None:
            page["ExclusiveStartKey"] = start
        events, last = self._query(page, pages=False)
        call = StoredCall(None, [], [], [], [], keys.event_page_token(conversation_uuid, last))
        for item in answers:
            if keys.item_type(item[keys.SORT_KEY]["S"]) == "answer":
                call.answers.append(_stored_json(item, "answer"))
        found_summary = None
        for item in rest:
            kind = keys.item_type(item[keys.SORT_KEY]["S"])
            if kind == "fallback":
                call.fallbacks.append(_stored_json(item, "fallback"))
            elif kind == "leg":
                call.legs.append(
                    {
                        "uuid": keys.leg_of(item[keys.SORT_KEY]["S"]),
                        "facts": [json.loads(f) for f in item.get(LegAttribute.FACTS, {}).get("SS", [])],
                        "transfers": [
                            json.loads(t) for t in item.get(LegAttribute.TRANSFERS, {}).get("SS", [])
                        ],
                    }
                )
            elif kind == "summary":
                found_summary = _decode_summary(item)
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
        items, last = self._query(query, pages=False)
        calls = [_decode_summary(item) for item in items]
        return Page(calls, keys.page_token(listing.index, listing.partition, last))

    def check(self) -> None:
        """Raise StoreUnavailable unless the table exists and is ACTIVE.

        DescribeTable is slow on a large table and health checks come often: the result is
        kept for CHECK_OK_S (a failure for CHECK_FAILED_S), per client and table.
        """
        checks = _TABLE_CHECKS.setdefault(self._client, {})
        cached = checks.get(self._table)
        self.described = False  # whether this check called DynamoDB (its time is storage time)
        if cached is None or time.monotonic() >= cached[0]:
            self.described = True
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


def _first_answer(leg_key: str, answer: dict[str, Any]) -> dict[str, Any]:
    """What a listing shows of an answer (a map, so a condition can name its uuid)."""
    get = answer.get
    return {
        "M": {
            "uuid": {"S": leg_key},
            "direction": _text(get("direction")),
            "decision": _text(get("decision")),
            "reason": _text(get("reason")),
            "destination": _text(get("destination")),
            "caller_id": _text(get("caller_id")),
        }
    }


def _text(value: Any) -> dict[str, Any]:
    """A string attribute, or NULL for anything else (_first_answer: on every answer's path)."""
    return {"S": value} if isinstance(value, str) else _NULL


_NULL = {"NULL": True}


def _voicemail(fields: dict[str, Any]) -> dict[str, Any]:
    """summary.voicemail_fields as a map: text, whole numbers, NULL for what the event lacked."""
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            typed[name] = {"S": value}
        elif isinstance(value, int) and not isinstance(value, bool):
            typed[name] = {"N": str(value)}
        else:
            typed[name] = _NULL
    return {"M": typed}


def _decode_voicemail(item: dict[str, Any]) -> dict[str, Any] | None:
    kept = item.get(SummaryAttribute.VOICEMAIL, {}).get("M")
    if not kept:
        return None
    decoded: dict[str, Any] = {}
    for name, value in kept.items():
        if "S" in value:
            decoded[name] = value["S"]
        elif "N" in value:
            decoded[name] = int(value["N"])
        else:
            decoded[name] = None
    return decoded


def _decode_summary(item: dict[str, Any]) -> dict[str, Any]:
    """A SUMMARY item (or its copy in an index) as summary.listing_view and record_view read it."""
    first = item.get(SummaryAttribute.FIRST_ANSWER, {}).get("M", {})
    by_date_sk = keys.INDEXES[keys.BY_DATE][1]
    facts = (
        summary.StatusFact.decode(text) for text in item.get(SummaryAttribute.STATUSES, {}).get("SS", [])
    )
    return {
        "conversation_uuid": keys.conversation_of(item[keys.PARTITION_KEY]["S"]),
        "user": item.get(SummaryAttribute.USER, {}).get("S"),
        "started_at": keys.started_at_of(item[by_date_sk]["S"]) if by_date_sk in item else None,
        "first_answer": {name: value.get("S") for name, value in first.items()},
        "fallback_used": item.get(SummaryAttribute.FALLBACK_USED, {}).get("BOOL", False),
        "facts": [fact for fact in facts if fact is not None],
        "total_price": item.get(SummaryAttribute.TOTAL_PRICE, {}).get("N"),
        "total_duration": item.get(SummaryAttribute.TOTAL_DURATION, {}).get("N"),
        "event_count": int(item.get(SummaryAttribute.EVENT_COUNT, {}).get("N", "0")),
        "voicemail": _decode_voicemail(item),
    }
