"""The transactions each webhook writes, as DynamoDB's TransactWriteItems operations.

Each webhook is one transaction (one round trip): its own item, put only if new (so a retry
writes nothing twice), and the updates of the call's SUMMARY item and, for a status event,
its leg's LEG item. Those updates are sets and sums only, so whatever the order of the
events the result is the same (summary.py), and no item grows with the number of events.
Every update expression is written out below, its placeholders named for what they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from chalicelib import keys, summary
from chalicelib.decision import CONNECT, INTERNAL, OUTBOUND, RateLimit
from chalicelib.events import Event
from chalicelib.keys import TTL_ATTRIBUTE, LastCallerAttribute, LegAttribute, SummaryAttribute
from chalicelib.storage.items import first_answer, typed_key, voicemail
from chalicelib.storage.transactions import Write
from chalicelib.text import compact_json

ONE = {"N": "1"}
# a put that only creates: a retry or a redelivery finds the item, and gets it back
ONLY_NEW = {
    "ConditionExpression": f"attribute_not_exists({keys.PARTITION_KEY})",
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}
_MOVED = ("conversation_uuid_from", "conversation_uuid_to", "timestamp")  # what a LEG keeps of a transfer
_EVENT_KIND = {"S": "event"}

# What lists a call (set on its SUMMARY item by its first answer or fallback use, never changed):
# the index keys by date, and for an app user's call, the user and the index keys by user.
_BY_DATE = dict(zip(("#date_pk", "#date_sk"), keys.INDEXES[keys.BY_DATE], strict=True))
_BY_USER = {
    "#user": SummaryAttribute.USER,
    **dict(zip(("#user_pk", "#user_sk"), keys.INDEXES[keys.BY_USER], strict=True)),
}


def _once(placeholders: dict[str, str]) -> str:
    """SET clauses that set each attribute only where it is not set yet."""
    return "".join(f", {p} = if_not_exists({p}, :{p[1:]})" for p in placeholders)


_LIST_BY_DATE, _LIST_BY_USER = _once(_BY_DATE), _once({**_BY_DATE, **_BY_USER})


class CallIdentity(NamedTuple):
    """Who placed a call and when: what the history indexes list it by."""

    conversation_uuid: str
    user: str | None
    started_at: str  # utc_iso()


_BY_DATE_PK, _BY_DATE_SK = keys.INDEXES[keys.BY_DATE]
_BY_USER_PK, _BY_USER_SK = keys.INDEXES[keys.BY_USER]
_BY_DATE_AND_USER = {**_BY_DATE, **_BY_USER}


def _listing(call: CallIdentity) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The SUMMARY's SET clauses, names and values that list `call` (each set only once)."""
    index = keys.index_keys(call.conversation_uuid, call.user, call.started_at)
    values = {":date_pk": {"S": index[_BY_DATE_PK]}, ":date_sk": {"S": index[_BY_DATE_SK]}}
    if not call.user:
        return _LIST_BY_DATE, _BY_DATE, values
    values[":user"] = {"S": call.user}
    values[":user_pk"] = {"S": index[_BY_USER_PK]}
    values[":user_sk"] = {"S": index[_BY_USER_SK]}
    return _LIST_BY_USER, _BY_DATE_AND_USER, values


def answer_writes(
    table: str,
    call: CallIdentity,
    leg_key: str,
    answer: dict[str, Any],
    expires_at: int,
    replace: bool = False,
    encoded: str | None = None,
) -> list[Write]:
    """The ANSWER item and the SUMMARY update that lists the call by its first answer. A new
    answer is put only if its leg has none (a retry gets the first one back); `replace`
    overwrites it, and the listed first answer only if it is this leg's. `encoded`: the answer
    as compact JSON already."""
    expires = {"N": str(expires_at)}
    item = {
        **typed_key(keys.answer_key(call.conversation_uuid, leg_key)),
        "kind": {"S": "answer"},
        "received_at": {"S": answer["received_at"]},
        "answer": {"S": compact_json(answer) if encoded is None else encoded},
        TTL_ATTRIBUTE: expires,
    }
    listing, names, values = _listing(call)
    update = {
        "TableName": table,
        "Key": typed_key(keys.summary_key(call.conversation_uuid)),
        "UpdateExpression": "SET #exp = :exp, #first = "
        + (":first" if replace else "if_not_exists(#first, :first)")
        + listing,
        "ExpressionAttributeNames": {"#exp": TTL_ATTRIBUTE, "#first": SummaryAttribute.FIRST_ANSWER, **names},
        "ExpressionAttributeValues": {":exp": expires, ":first": first_answer(leg_key, answer), **values},
    }
    if replace:  # only over this leg's own first answer
        update["ConditionExpression"] = "attribute_not_exists(#first) OR #first.#uuid = :leg"
        update["ExpressionAttributeNames"]["#uuid"] = "uuid"
        update["ExpressionAttributeValues"][":leg"] = {"S": leg_key}
    answer_put = (
        {"TableName": table, "Item": item} if replace else {"TableName": table, "Item": item, **ONLY_NEW}
    )
    return [Write("answer", {"Put": answer_put}), Write("summary", {"Update": update})]


_COUNTER_NAMES = {"#n": "n", "#exp": TTL_ATTRIBUTE}  # the same for every counter: shared, never changed


def counter_write(table: str, limit: RateLimit) -> Write:
    """One more call on `limit`'s counter, only while it is under the limit (its role: the limit)."""
    increment = {
        "TableName": table,
        "Key": typed_key(keys.counter_key(limit.user, limit.window, limit.period)),
        "UpdateExpression": "SET #exp = if_not_exists(#exp, :exp) ADD #n :one",
        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
        "ExpressionAttributeNames": _COUNTER_NAMES,
        "ExpressionAttributeValues": {
            ":one": ONE,
            ":limit": {"N": str(limit.limit)},
            ":exp": {"N": str(limit.expires_at)},
        },
    }
    return Write(limit, {"Update": increment})


def last_caller_write(
    table: str, call: CallIdentity, answer: dict[str, Any], expires_at: int
) -> Write | None:
    """For an app user's connect to a phone number: that user is the number's last caller (a
    callback from it rings them). None for any other answer."""
    destination = answer.get("destination")  # "+<E.164 digits>", as decision.py writes it
    if not call.user or answer.get("decision") != CONNECT or answer.get("caller_is_number") is True:
        return None
    # an answer stored before answers had a direction is an outbound one
    if answer.get("direction", OUTBOUND) != OUTBOUND or not isinstance(destination, str):
        return None
    if not destination.startswith("+"):
        return None
    try:
        key = keys.last_caller_key(destination[1:])
    except ValueError:  # not E.164 digits
        return None
    item = {
        **typed_key(key),
        LastCallerAttribute.USER: {"S": call.user},
        LastCallerAttribute.CONVERSATION_UUID: {"S": call.conversation_uuid},
        LastCallerAttribute.AT: {"S": answer["received_at"]},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
    }
    return Write("last_caller", {"Put": {"TableName": table, "Item": item}})


Counter = tuple[str | None, str, str]  # a counter's (user, window, period), as keys.counter_key takes them


def settle_writes(
    table: str,
    call: CallIdentity,
    leg_key: str,
    refusal: dict[str, Any],
    landed: dict[str, Any],
    landed_text: str,
    expires_at: int,
    counters: Sequence[Counter],
) -> list[Write]:
    """Undo a connect whose write landed after its reply was lost, the caller having heard
    `refusal`: the ANSWER item says the refusal (only while it still holds `landed_text`, so a
    second settling changes nothing), the listed first answer too, its counters each one call
    less, and the number's last caller or the callee's listing it set removed (only while they
    are this call's). Roles: "answer", "summary", ("counter", i), "last_caller", "callee_listing"."""
    answer_put, summary = answer_writes(table, call, leg_key, refusal, expires_at, replace=True)
    answer_put.operation["Put"].update(
        ConditionExpression="#answer = :landed",
        ExpressionAttributeNames={"#answer": "answer"},
        ExpressionAttributeValues={":landed": {"S": landed_text}},
    )
    writes = [answer_put, summary]
    for number, (user, window, period) in enumerate(counters):
        less = {
            "TableName": table,
            "Key": typed_key(keys.counter_key(user, window, period)),
            "UpdateExpression": "ADD #n :minus_one",
            "ConditionExpression": "#n > :zero",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
        }
        writes.append(Write(("counter", number), {"Update": less}))  # a role each: one may be gone
    last = last_caller_write(table, call, landed, expires_at)
    if last is not None:
        key = {name: last.operation["Put"]["Item"][name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)}
        this_call = {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "#conversation = :conversation",
            "ExpressionAttributeNames": {"#conversation": LastCallerAttribute.CONVERSATION_UUID},
            "ExpressionAttributeValues": {":conversation": {"S": call.conversation_uuid}},
        }
        writes.append(Write("last_caller", {"Delete": this_call}))
    listing = callee_listing_write(table, call, landed, expires_at)
    if listing is not None:
        key = {name: listing.operation["Put"]["Item"][name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)}
        writes.append(Write("callee_listing", {"Delete": {"TableName": table, "Key": key}}))
    return writes


def callee_listing_write(
    table: str, call: CallIdentity, answer: dict[str, Any], expires_at: int
) -> Write | None:
    """For an app user's connect to another app user: the item that lists the call in the callee's
    history too (the by_user index's keys for them). None for any other answer."""
    callee = answer.get("callee")
    if (
        answer.get("direction") != INTERNAL
        or answer.get("decision") != CONNECT
        or not isinstance(callee, str)
    ):
        return None
    index = keys.index_keys(call.conversation_uuid, callee, call.started_at)
    item = {
        **typed_key(keys.callee_listing_key(call.conversation_uuid, callee)),
        _BY_USER_PK: {"S": index[_BY_USER_PK]},
        _BY_USER_SK: {"S": index[_BY_USER_SK]},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
    }
    return Write("callee_listing", {"Put": {"TableName": table, "Item": item}})


def event_writes(
    table: str,
    event: Event,
    received_at: str,
    expires_at: int,
    reply: list[dict[str, Any]] | None,
    voicemail_fields: dict[str, Any] | None,
) -> list[Write]:
    """The event's item, its SUMMARY update and, for a status event or a transfer, its LEG update;
    a transfer's again under the other conversation (the legs moved from one to the other)."""
    payload, leg_uuid = event.payload, event.leg_uuid
    expires = {"N": str(expires_at)}
    item = {
        "kind": _EVENT_KIND,
        "event_kind": {"S": event.kind},
        "timestamp": {"S": event.timestamp},
        "digest": {"S": event.digest},
        "received_at": {"S": received_at},
        "payload": {"S": compact_json(payload)},
        TTL_ATTRIBUTE: expires,
    }
    if event.status is not None:
        item["status"] = {"S": event.status}
    if leg_uuid is not None:
        item["leg_uuid"] = {"S": leg_uuid}
    if reply is not None:
        item["reply"] = {"S": compact_json(reply)}
    sort_key = {"S": keys.event_sort_key(event.timestamp if event.timed else None, event.label, event.digest)}
    values: dict[str, Any] = {":exp": expires, ":one": ONE}
    leg: tuple[dict[str, str], str] | None = None  # (the LEG update's names, the element it adds)
    state = leg_uuid is not None and summary.leg_state(payload) is not None  # a status event of a leg
    price = duration = None
    if state:
        ms = summary.event_ms(event.timestamp)
        values[":fact"] = {"SS": [summary.status_fact(payload, ms, leg_uuid).encode()]}  # type: ignore[arg-type]
        price, duration = summary.billed(payload)
        if price is not None:
            values[":price"] = {"N": price}
        if duration is not None:
            values[":duration"] = {"N": duration}
        leg = (_LEG_FACTS, compact_json(summary.leg_fact(payload, ms, reply)))
    elif leg_uuid is not None and event.kind == "transfer":
        moved = {name: payload.get(name) for name in _MOVED}  # ids: checked when the event was read
        when = moved["timestamp"]  # as sent: any JSON, kept only as short text
        moved["timestamp"] = when[: summary.FACT_CHARS] if isinstance(when, str) else None
        leg = (_LEG_TRANSFERS, compact_json(moved))
    if voicemail_fields is not None:
        values[":voicemail"] = voicemail(voicemail_fields)
    expression, names = _summary_update(
        state, price is not None, duration is not None, voicemail_fields is not None
    )
    conversations = [event.conversation_uuid]
    if event.also_conversation is not None:
        conversations.append(event.also_conversation)
    writes = []
    for n, conversation in enumerate(conversations):
        # "item" is the first put: a redelivery finds it. A transfer's copy under the other
        # conversation ("copy") existing alone is no redelivery, so it is not read as one.
        partition = {"S": keys.call_partition(conversation)}
        put_item = {keys.PARTITION_KEY: partition, keys.SORT_KEY: sort_key, **item}
        writes.append(
            Write("copy" if n else "item", {"Put": {"TableName": table, "Item": put_item, **ONLY_NEW}})
        )
        update = {
            "TableName": table,
            "Key": {keys.PARTITION_KEY: partition, keys.SORT_KEY: _SUMMARY_SK},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        writes.append(Write("summary", {"Update": update}))
        if leg is not None:
            leg_update = {
                "TableName": table,
                "Key": {keys.PARTITION_KEY: partition, keys.SORT_KEY: {"S": keys.leg_sort_key(leg_uuid)}},  # type: ignore[arg-type]
                "UpdateExpression": "SET #exp = :exp ADD #facts :fact",
                "ExpressionAttributeNames": leg[0],
                "ExpressionAttributeValues": {":exp": expires, ":fact": {"SS": [leg[1]]}},
            }
            writes.append(Write("leg", {"Update": leg_update}))
    return writes


_SUMMARY_SK = {"S": keys.SUMMARY_SK}  # shared, never changed, as every constant part of a write here
_LEG_FACTS = {"#exp": TTL_ATTRIBUTE, "#facts": LegAttribute.FACTS}
_LEG_TRANSFERS = {"#exp": TTL_ATTRIBUTE, "#facts": LegAttribute.TRANSFERS}


@lru_cache(maxsize=16)
def _summary_update(fact: bool, price: bool, duration: bool, voicemail: bool) -> tuple[str, dict[str, str]]:
    """The SUMMARY update of an event, (expression, names), for what it adds: its expiry and count
    always; a status event's fact, and its price and duration when it has them; a voicemail (a
    call has one: set, not merged). Built once for each of the sixteen shapes."""
    sets, adds = ["#exp = :exp"], ["#count :one"]
    names = {"#exp": TTL_ATTRIBUTE, "#count": SummaryAttribute.EVENT_COUNT}
    for present, clause, placeholder, attribute in (
        (fact, adds, "statuses :fact", SummaryAttribute.STATUSES),
        (price, adds, "price :price", SummaryAttribute.TOTAL_PRICE),
        (duration, adds, "duration :duration", SummaryAttribute.TOTAL_DURATION),
        (voicemail, sets, "voicemail = :voicemail", SummaryAttribute.VOICEMAIL),
    ):
        if present:
            clause.append("#" + placeholder)
            names["#" + placeholder.split(" ")[0]] = attribute
    return f"SET {', '.join(sets)} ADD {', '.join(adds)}", names


def fallback_writes(
    table: str, call: CallIdentity, use_key: str, fallback: dict[str, Any], expires_at: int
) -> list[Write]:
    """One use of the fallback answer URL, put once, and the SUMMARY's mark that it was used."""
    expires = {"N": str(expires_at)}
    item = {
        **typed_key(keys.fallback_key(call.conversation_uuid, use_key)),
        "kind": {"S": "fallback"},
        "received_at": {"S": fallback["received_at"]},
        "fallback": {"S": compact_json(fallback)},
        TTL_ATTRIBUTE: expires,
    }
    listing, names, values = _listing(call)
    update = {
        "TableName": table,
        "Key": typed_key(keys.summary_key(call.conversation_uuid)),
        "UpdateExpression": "SET #exp = :exp, #used = :used" + listing,
        "ExpressionAttributeNames": {"#exp": TTL_ATTRIBUTE, "#used": SummaryAttribute.FALLBACK_USED, **names},
        "ExpressionAttributeValues": {":exp": expires, ":used": {"BOOL": True}, **values},
    }
    return [
        Write("item", {"Put": {"TableName": table, "Item": item, **ONLY_NEW}}),
        Write("summary", {"Update": update}),
    ]
