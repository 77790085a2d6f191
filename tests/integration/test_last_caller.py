"""Who last called a number from the app: written with the answer, read with one GetItem.

A connect from an app user to a phone number notes the user as that number's last caller, as one
more put in the answer's own transaction (still one TransactWriteItems); nothing else writes it.
CallStore.last_caller reads it back for a callback. Against DynamoDB Local, through the real
CallStore (tests/unit/test_iam.py holds the role to the GetItem recorded here).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.decision import RateLimit
from chalicelib.errors import StoreRejected, StoreUnavailable
from chalicelib.storage.call_store import CallIdentity, CallStore, LastCaller
from chalicelib.storage.client import check_replies
from chalicelib.times import utc_iso
from tests.integration.test_faults import dynamodb_answer, dynamodb_error, fake_dynamodb, throttling
from tests.integration.test_storage_replies import HTML, _client, with_headers, wrong_crc
from tests.support import FUTURE, Counting

NUMBER = "14155550101"
OTHER_NUMBER = "447700900123"
EXPIRES = int((FUTURE + timedelta(days=30)).timestamp())  # never swept by DynamoDB Local's TTL


def at(minutes: int) -> str:
    """A received_at `minutes` after FUTURE (utc_iso, as the routes write it)."""
    return utc_iso(FUTURE + timedelta(minutes=minutes))


def answer(
    received_at: str, decision: str = "connect", destination: str | None = "+" + NUMBER, **fields: Any
) -> dict[str, Any]:
    """An answer as decision.py builds one (an app user's call unless `fields` say otherwise)."""
    return {
        "uuid": "leg", "caller": "jane", "caller_is_number": False, "to": NUMBER,
        "destination": destination, "region": "US", "number_type": "FIXED_LINE_OR_MOBILE",
        "decision": decision, "reason": "allowed" if decision == "connect" else "country_not_allowed",
        "detail": "", "caller_id": "14155550100", "received_at": received_at,
        "ncco": [{"action": "talk", "text": "x"}], **fields,
    }  # fmt: skip


def limit_of(user: str, limit: int) -> RateLimit:
    return RateLimit(user, "HOUR", "2099-01-01T12", limit, EXPIRES, "user_rate_limited", "per hour")


class Saver:
    """The real CallStore on a fresh table of DynamoDB Local, counting its round trips."""

    def __init__(self, client: Any, table: str) -> None:
        self.raw, self.table = client, table
        self.client = Counting(client)
        self.store = CallStore(self.client, table)

    def save(
        self,
        user: str | None,
        saved: dict[str, Any],
        conversation: str | None = None,
        leg: str | None = None,
        limits: tuple[RateLimit, ...] = (),
    ) -> Any:
        """save_answer, which must make exactly one TransactWriteItems and no other call."""
        conversation = conversation or f"CON-{uuid.uuid4()}"
        call = CallIdentity(conversation, user, saved["received_at"])
        before = len(self.client.calls)
        result = self.store.save_answer(call, leg or f"leg-{conversation}", saved, EXPIRES, limits)
        assert self.client.calls[before:] == ["transact_write_items"], "one round trip per answer"
        return result

    def item(self, digits: str) -> dict[str, Any] | None:
        """The LAST_CALLER item as DynamoDB holds it (every attribute)."""
        key = {name: {"S": value} for name, value in keys.last_caller_key(digits).items()}
        return self.raw.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")


@pytest.fixture
def saver(ddb_client, fresh_table: str) -> Saver:
    return Saver(ddb_client, fresh_table)


def test_an_app_users_connect_notes_them_as_the_numbers_last_caller(saver: Saver) -> None:
    assert saver.store.last_caller(NUMBER, at(-60)) is None  # nobody yet
    saved = saver.save("jane", answer(at(0)), conversation="CON-jane")
    assert saved.stored
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("jane", "CON-jane", at(0))
    assert saver.item(NUMBER) == {
        "pk": {"S": "NUMBER#" + NUMBER},
        "sk": {"S": "LAST_CALLER"},
        "user": {"S": "jane"},
        "conversation_uuid": {"S": "CON-jane"},
        "at": {"S": at(0)},
        "expires_at": {"N": str(EXPIRES)},  # the answer's own expiry
    }
    assert saver.store.last_caller(OTHER_NUMBER, at(-60)) is None  # one item per number


def test_a_later_connect_by_another_user_wins(saver: Saver) -> None:
    saver.save("jane", answer(at(0)), conversation="CON-jane")
    saver.save("omar", answer(at(5)), conversation="CON-omar")
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("omar", "CON-omar", at(5))
    saver.save("jane", answer(at(9), destination="+" + OTHER_NUMBER), conversation="CON-other")
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("omar", "CON-omar", at(5))
    assert saver.store.last_caller(OTHER_NUMBER, at(-60)) == LastCaller("jane", "CON-other", at(9))


def test_since_is_the_cut_off(saver: Saver) -> None:
    saver.save("jane", answer(at(0)), conversation="CON-jane")
    found = LastCaller("jane", "CON-jane", at(0))
    assert saver.store.last_caller(NUMBER, at(0)) == found  # at the cut-off: still in
    assert saver.store.last_caller(NUMBER, utc_iso(FUTURE - timedelta(days=30))) == found
    assert saver.store.last_caller(NUMBER, utc_iso(FUTURE + timedelta(microseconds=1))) is None
    assert saver.store.last_caller(NUMBER, at(60)) is None


def test_a_refused_answer_writes_nothing(saver: Saver) -> None:
    saver.save("jane", answer(at(0), "refuse"))
    assert saver.item(NUMBER) is None
    saver.save("omar", answer(at(1)), conversation="CON-omar")
    saver.save("jane", answer(at(2), "refuse"))  # stored, but it does not replace omar
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("omar", "CON-omar", at(1))


def test_a_rate_limits_refusal_writes_nothing(saver: Saver) -> None:
    saver.save("omar", answer(at(0)), conversation="CON-omar")
    hourly = limit_of("jane", 1)
    assert saver.save("jane", answer(at(1), destination="+" + OTHER_NUMBER), limits=(hourly,)).stored
    refused = saver.save("jane", answer(at(2)), conversation="CON-refused", limits=(hourly,))
    assert (refused.stored, refused.reached) == (False, hourly)  # the route answers that limit's refusal
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("omar", "CON-omar", at(0))
    assert saver.store.get_call("CON-refused") is None  # the whole transaction was cancelled


def test_a_retried_answer_changes_nothing(saver: Saver) -> None:
    first = saver.save("jane", answer(at(0)), conversation="CON-jane", leg="leg-1")
    saver.save("omar", answer(at(5)), conversation="CON-omar")
    # Vonage asks again for jane's leg: the earlier answer comes back, omar stays the last caller
    again = saver.save("jane", answer(at(7)), conversation="CON-jane", leg="leg-1")
    assert again.answer == first.answer and again.answer["received_at"] == at(0)
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("omar", "CON-omar", at(5))
    before = saver.item(NUMBER)
    saver.save("omar", answer(at(9)), conversation="CON-omar", leg="leg-CON-omar")  # its own retry
    assert saver.item(NUMBER) == before


@pytest.mark.parametrize(
    ("user", "fields"),
    [
        ("14155550999", {"caller_is_number": True}),  # a phone caller (ALLOW_PSTN_CALLERS)
        ("jane", {"caller_is_number": True}),
        ("jane", {"direction": "inbound"}),  # a callback, connected to an app user
        ("jane", {"direction": "inbound", "destination": None, "caller_is_number": True}),
        (None, {}),  # no app user
        ("", {}),
        ("jane", {"destination": None}),  # nowhere to file it
        ("jane", {"destination": NUMBER}),  # not E.164 as decision.py writes it
        ("jane", {"destination": "+1415555010x"}),
        ("jane", {"destination": "sip:jane@example.com"}),
    ],
)
def test_only_an_app_users_outbound_connect_to_a_number_writes_it(
    saver: Saver, user: str | None, fields: dict[str, Any]
) -> None:
    saved = saver.save(user, answer(at(0), **fields))
    assert saved.stored
    assert saver.item(NUMBER) is None
    assert saver.store.last_caller(NUMBER, at(-60)) is None
    saver.save("jane", answer(at(1), direction="outbound"), conversation="CON-outbound")  # the control
    assert saver.store.last_caller(NUMBER, at(-60)) == LastCaller("jane", "CON-outbound", at(1))


@pytest.mark.parametrize(
    "item",
    [
        {"user": {"S": "jane"}, "conversation_uuid": {"S": "CON-1"}},  # no `at`
        {"user": {"N": "1"}, "conversation_uuid": {"S": "CON-1"}, "at": {"S": "9999"}},
        {"user": {"S": "jane"}, "conversation_uuid": {"SS": ["CON-1"]}, "at": {"S": "9999"}},
        {"user": {"S": ""}, "conversation_uuid": {"S": "CON-1"}, "at": {"S": "9999"}},
        {},
    ],
)
def test_an_item_not_written_by_save_answer_is_nobody(saver: Saver, item: dict[str, Any]) -> None:
    key = {name: {"S": value} for name, value in keys.last_caller_key(NUMBER).items()}
    saver.raw.put_item(TableName=saver.table, Item={**key, **item, "extra": {"S": "x" * 1000}})
    assert saver.store.last_caller(NUMBER, at(-60)) is None


def test_the_read_is_one_get_item(saver: Saver) -> None:
    saver.save("jane", answer(at(0)), conversation="CON-jane")
    before = len(saver.client.calls)
    # a deadline far off: the read always fits (a busy machine cannot make it "no time left")
    assert saver.store.last_caller(NUMBER, at(-60), deadline=time.monotonic() + 60) is not None
    assert saver.client.calls[before:] == ["get_item"]


def test_the_read_does_not_start_without_time_for_it(saver: Saver) -> None:
    with pytest.raises(StoreUnavailable, match="no time left"):
        saver.store.last_caller(NUMBER, at(-60), deadline=time.monotonic() + 0.1)
    assert saver.client.calls == []


def test_a_number_that_is_not_e164_digits_is_refused_before_any_call(saver: Saver) -> None:
    with pytest.raises(ValueError, match=r"not E\.164 digits"):
        saver.store.last_caller("+" + NUMBER, at(-60))
    assert saver.client.calls == []


def test_through_the_answer_url(make_harness) -> None:
    """The real answer route: a connect notes the caller, a retry and a refusal do not."""
    h = make_harness(MAX_CALLS_PER_USER_PER_HOUR="1")
    since = utc_iso(h.now - timedelta(days=1))
    assert h.place(user="jane", to=NUMBER) == "allowed"
    found = h.store.last_caller(NUMBER, since)
    assert found is not None and found.user == "jane" and found.at == utc_iso(h.now)
    h.now += timedelta(seconds=10)
    assert h.place(user="jane", to=NUMBER) == "user_rate_limited"
    assert h.place(user="omar", to="18765550100") == "country_not_allowed"
    assert h.store.last_caller(NUMBER, since) == found
    assert h.store.last_caller("18765550100", since) is None
    assert h.place(user="omar", to=NUMBER) == "allowed"
    assert h.store.last_caller(NUMBER, since).user == "omar"  # type: ignore[union-attr]


# --- failures: as every other read's --------------------------------------------------------------

ITEM = {"Item": {"user": {"S": "jane"}, "conversation_uuid": {"S": "CON-1"}, "at": {"S": "2099"}}}


@pytest.mark.parametrize(
    ("reply", "raised"),
    [
        (throttling, StoreUnavailable),
        (lambda op: dynamodb_error("ValidationException", "no"), StoreRejected),
        (lambda op: (200, HTML, {"Content-Type": "text/html"}), StoreUnavailable),
        (lambda op: wrong_crc(dynamodb_answer(200, ITEM)), StoreUnavailable),
        (lambda op: with_headers(200, b"[]"), StoreUnavailable),
        (lambda op: dynamodb_answer(200, {"Item": 5}), StoreUnavailable),  # the parser fails on it
    ],
)
def test_a_failed_read_is_storage_unavailable(reply: Any, raised: type[Exception]) -> None:
    with fake_dynamodb(reply) as url:
        client = _client(url)
        check_replies(client)
        with pytest.raises(raised) as caught:
            CallStore(client, "t").last_caller(NUMBER, "2000")
    assert type(caught.value) is raised


def test_the_fake_answering_like_dynamodb_is_read() -> None:
    """The control for the failures above: the same fake, a well-formed reply."""
    with fake_dynamodb(lambda op: dynamodb_answer(200, ITEM)) as url:
        client = _client(url)
        check_replies(client)
        assert CallStore(client, "t").last_caller(NUMBER, "2000") == LastCaller("jane", "CON-1", "2099")
    with fake_dynamodb(lambda op: dynamodb_answer(200, {})) as url:  # no such item
        client = _client(url)
        check_replies(client)
        assert CallStore(client, "t").last_caller(NUMBER, "2000") is None
