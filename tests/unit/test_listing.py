"""GET /calls query rules and paging tokens (tokens are opaque to clients: forged ones are refused)."""

from __future__ import annotations

import base64
import json

import pytest

from chalicelib import keys
from chalicelib.errors import BadQuery
from chalicelib.listing import ListingQuery, parse_listing


def test_user_date_and_both() -> None:
    assert parse_listing({"user": "jane"}) == ListingQuery("by_user", "USER#jane", None, 25, None)
    assert parse_listing({"date": "2026-11-20", "limit": "100"}) == ListingQuery(
        "by_date", "DATE#2026-11-20", None, 100, None
    )
    assert parse_listing({"user": "jane", "date": "2026-11-20"}).sort_prefix == "2026-11-20"


def test_tokens_round_trip_and_belong_to_their_query() -> None:
    query = parse_listing({"user": "jane"})
    last = {
        "pk": {"S": "CALL#c"},
        "sk": {"S": "SUMMARY"},
        "by_user_pk": {"S": "USER#jane"},
        "by_user_sk": {"S": "2026-11-20T12:00:00.000000Z#c"},
    }
    token = keys.page_token(query.index, query.partition, last)
    assert token is not None and "=" not in token
    assert parse_listing({"user": "jane", "next": token}).start == last
    with pytest.raises(BadQuery, match="next belongs to a different query"):
        parse_listing({"user": "omar", "next": token})
    assert keys.page_token(query.index, query.partition, None) is None


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "give user=NAME or date=YYYY-MM-DD"),
        ({"user": ""}, "user must be 1-250 characters"),
        ({"user": "x" * 251}, "user must be 1-250 characters"),
        ({"date": "20-11-2026"}, "date must be YYYY-MM-DD"),
        ({"date": "2026-02-30"}, "is not a calendar day"),
        ({"user": "jane", "limit": "0"}, "limit must be a whole number from 1 to 100"),
        ({"user": "jane", "limit": "101"}, "limit must be a whole number from 1 to 100"),
        ({"user": "jane", "limit": "ten"}, "limit must be a whole number from 1 to 100"),
        ({"user": "jane", "sort": "asc"}, "unknown parameters: sort"),
        ({"user": "jane", "next": "!!!"}, "next is not a token this API returned"),
        ({"user": "jane", "next": forged(["x"])}, "next is not a token this API returned"),
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {"pk": {"N": "1"}}})},
         "next is not a token this API returned"),
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {}})},
         "next is not a token"),
        ({"user": "jane", "next": "a" * 5000}, "next is not a token this API returned"),
        # keys a client made up: each must be exactly what a page of this query ends on
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {
            "pk": {"S": "CALL#c"}, "sk": {"S": "ANSWER#x"}, "by_user_pk": {"S": "USER#jane"},
            "by_user_sk": {"S": "t#c"}}})}, "next is not a token"),
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {
            "pk": {"S": "CALL#c"}, "sk": {"S": "SUMMARY"}, "by_user_pk": {"S": "USER#omar"},
            "by_user_sk": {"S": "t#c"}}})}, "next is not a token"),
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {
            "pk": {"S": "CALL#c"}, "sk": {"S": "SUMMARY"}, "by_user_pk": {"S": "USER#jane"},
            "by_user_sk": {"S": "9999#other"}}})}, "next is not a token"),
        ({"user": "jane", "next": forged({"i": "by_user", "q": "USER#jane", "k": {
            "pk": {"S": "CALL#c"}, "sk": {"S": "SUMMARY"}, "by_user_pk": {"S": "USER#jane"},
            "by_user_sk": {"S": "t#c"}, "extra": {"S": "x"}}})}, "next is not a token"),
        ({"user": "jane", "limit": "\u00b2"}, "limit must be a whole number"),  # isdigit() says yes
    ],
)  # fmt: skip
def test_bad_queries(params: dict, message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        parse_listing(params)
