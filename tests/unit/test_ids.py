"""Every key that embeds a client's id fits DynamoDB, for any id the webhooks accept.

DynamoDB refuses a sort key over 1,024 bytes and a partition key over 2,048 (UTF-8), in the
table and in its indexes. The ids are read by answer_request.py and events.py (by the one rule
of webhooks.py) and the keys built by keys.py: here each key is built from ids as long as the
parsers let through.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib.answer_request import parse_answer, parse_fallback
from chalicelib.events import parse_event
from chalicelib.times import utc_iso
from chalicelib.webhooks import MAX_ID_BYTES, MAX_ID_CHARS

MAX_SORT_KEY = 1024
MAX_PARTITION_KEY = 2048
NOW = datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC)
LABEL = "a" * 20  # the longest label an event's status gives its key
# The most bytes an accepted id can take, in each width of character: (one id, another).
LONGEST = [
    ("x" * MAX_ID_CHARS, "y" * MAX_ID_CHARS),
    ("é" * MAX_ID_CHARS, "ê" * MAX_ID_CHARS),
    ("€" * (MAX_ID_BYTES // 3) + "xx", "₤" * (MAX_ID_BYTES // 3) + "yy"),
    ("\U0001f4de" * (MAX_ID_BYTES // 4), "\U0001f4df" * (MAX_ID_BYTES // 4)),
]


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def every_key(conversation: str, leg: str, user: str) -> tuple[list[str], list[str]]:
    """(partition keys, sort keys) of every item and index entry a call with these ids gets,
    each id read by the webhook parser that reads it from Vonage."""
    answer = {"conversation_uuid": conversation, "uuid": leg, "from_user": user, "to": "14155550101"}
    request = parse_answer(answer)
    assert request.id_problem is None, request.id_problem
    use = parse_fallback({**answer, "reason": "timeout"}, NOW)
    assert use.use_key is not None
    event = parse_event(
        {
            "conversation_uuid": conversation,
            "uuid": leg,
            "status": LABEL,
            "timestamp": "2026-11-20T23:59:59Z",
        },
        utc_iso(NOW),
    )
    transfer = parse_event(
        {"conversation_uuid_from": conversation, "conversation_uuid_to": leg, "uuid": leg}, utc_iso(NOW)
    )
    assert event.label == LABEL
    items = [
        keys.answer_key(conversation, request.leg_key),  # type: ignore[arg-type]
        keys.fallback_key(conversation, use.use_key),
        keys.event_key(conversation, event.timestamp, event.label, event.digest),
        keys.event_key(conversation, None, event.label, event.digest),
        keys.event_key(transfer.also_conversation or conversation, None, transfer.label, transfer.digest),
        keys.summary_key(conversation),
        keys.counter_key(request.caller, "HOUR", f"{NOW:%Y-%m-%dT%H}"),
        keys.counter_key(request.caller, "DAY", f"{NOW:%Y-%m-%d}"),
        keys.counter_key(None, "MINUTE", f"{NOW:%Y-%m-%dT%H:%M}"),
    ]
    partitions = [item[keys.PARTITION_KEY] for item in items]
    sorts = [item[keys.SORT_KEY] for item in items]
    index = keys.index_keys(conversation, request.caller, utc_iso(NOW))
    for pk_name, sk_name in keys.INDEXES.values():
        partitions.append(index[pk_name])
        sorts.append(index[sk_name])
    partitions.append(keys.listing_partition(request.caller, f"{NOW:%Y-%m-%d}")[1])
    return partitions, sorts


@pytest.mark.parametrize(("longest", "other"), LONGEST, ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_the_longest_ids_accepted_fit_every_key(longest: str, other: str) -> None:
    assert size(longest) == size(other) == MAX_ID_BYTES or len(longest) == MAX_ID_CHARS
    partitions, sorts = every_key(longest, other, longest)
    assert max(map(size, partitions)) <= MAX_PARTITION_KEY
    assert max(map(size, sorts)) <= MAX_SORT_KEY


def test_250_four_byte_characters_are_refused() -> None:
    # 250 characters, 1,000 bytes: `<started_at>#<conversation_uuid>` would be 1,028 bytes.
    request = parse_answer({"conversation_uuid": "\U0001f4de" * 250, "uuid": "u", "from_user": "jane"})
    assert request.id_problem is not None and request.leg_key is None


# Any text, and runs of one character of each UTF-8 width around the limits.
ids = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=MAX_ID_CHARS + 10) | st.builds(
    lambda char, n: char * n,
    st.sampled_from(["x", "é", "€", "\U0001f4de"]),
    st.integers(100, MAX_ID_CHARS + 1),
)


@settings(max_examples=300, deadline=None)
@given(conversation=ids, leg=ids, user=ids)
def test_any_ids_accepted_fit_every_key(conversation: str, leg: str, user: str) -> None:
    request = parse_answer({"conversation_uuid": conversation, "uuid": leg, "from_user": user})
    if request.id_problem is not None or leg.upper() == "NONE":
        return
    partitions, sorts = every_key(conversation, leg, user)
    assert max(map(size, partitions)) <= MAX_PARTITION_KEY
    assert max(map(size, sorts)) <= MAX_SORT_KEY
