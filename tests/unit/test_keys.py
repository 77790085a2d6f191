"""The key layout, pinned: stored items outlive the code that wrote them, so a key that
changed by accident would orphan every call already stored (docs/data-model.md draws it)."""

from __future__ import annotations

from chalicelib import keys


def test_a_call_is_one_item_collection_in_time_order() -> None:
    assert keys.answer_key("CON-1", "leg-1") == {"pk": "CALL#CON-1", "sk": "ANSWER#leg-1"}
    assert keys.event_key("CON-1", "2026-11-20T12:00:00.000000Z", "started", "abc") == {
        "pk": "CALL#CON-1", "sk": "EVENT#2026-11-20T12:00:00.000000Z#0started#abc"
    }  # fmt: skip
    assert keys.event_key("CON-1", None, "input", "abc")["sk"] == "EVENT#untimed#4input#abc"
    assert keys.fallback_key("CON-1", "leg-1#abc") == {"pk": "CALL#CON-1", "sk": "FALLBACK#leg-1#abc"}
    assert keys.leg_key("CON-1", "leg-1") == {"pk": "CALL#CON-1", "sk": "LEG#leg-1"}
    assert keys.summary_key("CON-1") == {"pk": "CALL#CON-1", "sk": "SUMMARY"}
    # events sort by their own time within the call, before the SUMMARY item
    sort_keys = [keys.event_key("c", t, "s", "d")["sk"] for t in ("2026-01-02", "2026-01-01")]
    assert sorted(sort_keys) == sort_keys[::-1]


def test_within_a_millisecond_a_legs_statuses_sort_as_they_happen() -> None:
    at = "2026-11-20T12:00:00.000000Z"
    labels = ["started", "ringing", "answered", "disconnected", "completed", "input"]
    sort_keys = [keys.event_key("c", at, label, "ffff")["sk"] for label in labels]
    assert sorted(sort_keys) == sort_keys


def test_each_part_of_a_call_is_one_key_range() -> None:
    """Answers sort before every event, fallback uses, legs and the summary after them."""
    events = [keys.event_key("c", at, "started", "d")["sk"] for at in ("0000", "9999-12-31T23:59:59Z", None)]
    assert keys.answer_key("c", "zzzz")["sk"] < keys.EVENTS_START
    assert all(e.startswith(keys.EVENTS_START) and e < keys.EVENTS_END for e in events)
    after = [keys.fallback_key("c", "#")["sk"], keys.leg_key("c", "")["sk"], keys.summary_key("c")["sk"]]
    assert all(sk > keys.EVENTS_END for sk in after)


def test_event_page_tokens_belong_to_one_call() -> None:
    last = {"pk": {"S": "CALL#CON-1"}, "sk": {"S": "EVENT#2026#0started#d"}}
    token = keys.event_page_token("CON-1", last)
    assert token is not None and keys.event_page_start(token, "CON-1") == last
    assert keys.event_page_token("CON-1", None) is None
    for bad, message in (
        (token, "next belongs to a different call"),
        ("not base64 json", "next is not a token this API returned"),
        (keys.page_token("by_user", "USER#jane", last), "next is not a token this API returned"),
        (keys._encode_token({"c": "CON-2", "e": "SUMMARY"}), "next is not a token this API returned"),
        ("A" * 5000, "next is not a token this API returned"),
    ):
        try:
            keys.event_page_start(bad, "CON-2")
        except keys.InvalidPageToken as exc:
            assert str(exc) == message
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_every_item_of_a_call_says_what_it_is() -> None:
    items = {
        "answer": keys.answer_key("c", "l")["sk"],
        "event": keys.event_key("c", None, "x", "d")["sk"],
        "fallback": keys.fallback_key("c", "l#d")["sk"],
        "leg": keys.leg_key("c", "l")["sk"],
        "summary": keys.summary_key("c")["sk"],
    }
    assert {name: keys.item_type(sk) for name, sk in items.items()} == {name: name for name in items}
    assert keys.item_type("HOUR#2026") is None


def test_history_index_keys_and_listing_partitions() -> None:
    assert keys.index_keys("CON-1", "jane", "2026-11-20T12:00:00.000000Z") == {
        "by_date_pk": "DATE#2026-11-20",
        "by_date_sk": "2026-11-20T12:00:00.000000Z#CON-1",
        "by_user_pk": "USER#jane",
        "by_user_sk": "2026-11-20T12:00:00.000000Z#CON-1",
    }
    assert set(keys.index_keys("CON-1", None, "2026-11-20T12:00:00.000000Z")) == {"by_date_pk", "by_date_sk"}
    assert keys.listing_partition("jane", None) == ("by_user", "USER#jane", None)
    assert keys.listing_partition("jane", "2026-11-20") == ("by_user", "USER#jane", "2026-11-20")
    assert keys.listing_partition(None, "2026-11-20") == ("by_date", "DATE#2026-11-20", None)


def test_rate_counters() -> None:
    assert keys.counter_key("jane", "HOUR", "2026-11-20T22") == {
        "pk": "RATE#USER#jane",
        "sk": "HOUR#2026-11-20T22",
    }
    assert keys.counter_key(None, "MINUTE", "2026-11-20T22:59") == {
        "pk": "RATE#GLOBAL", "sk": "MINUTE#2026-11-20T22:59"
    }  # fmt: skip


def test_a_numbers_last_caller_is_one_item_outside_every_call() -> None:
    assert keys.last_caller_key("14155550101") == {"pk": "NUMBER#14155550101", "sk": "LAST_CALLER"}
    assert keys.last_caller_key("447700900123") != keys.last_caller_key("14155550101")
    sk = keys.last_caller_key("14155550101")["sk"]
    assert keys.item_type(sk) is None  # not an item of a call's collection
    assert not keys.last_caller_key("1")["pk"].startswith(keys.call_partition(""))


def test_a_last_caller_key_is_built_from_e164_digits_only() -> None:
    assert keys.last_caller_key("1" * 15)["pk"] == "NUMBER#" + "1" * 15
    for bad in ("", "+14155550101", "1415555010a", "1415 555", "1" * 16, "١٢٣", "1#2", "²"):
        try:
            keys.last_caller_key(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_a_deeply_nested_token_is_refused_not_a_crash() -> None:
    import base64

    nested = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
    for read in (lambda: keys.event_page_start(nested, "CON-1"),
                 lambda: keys.page_start(nested, "by_user", "USER#jane")):  # fmt: skip
        try:
            read()
        except keys.InvalidPageToken as exc:
            assert str(exc) == "next is not a token this API returned"
        else:
            raise AssertionError("accepted")
