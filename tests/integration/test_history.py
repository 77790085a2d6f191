"""The call history: listing and paging on the indexes, over the routes, and an older table's upgrade."""

from __future__ import annotations

from datetime import timedelta

from devtools import dynamodb_local as ddb
from tests.conftest import chalice_client
from tests.support import FUTURE, UNLIMITED


def test_paging_through_250_calls_of_one_user(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    started = []
    for n in range(250):
        h.now = FUTURE + timedelta(seconds=n * 7)
        h.answer(f"CON-page-{n:03d}", user="pager")
        started.append(f"CON-page-{n:03d}")
    h.answer("CON-other-user", user="someone-else")
    seen, token, pages = [], None, 0
    while True:
        page = h.listing(user="pager", limit="40", **({"next": token} if token else {}))
        seen.extend(call["conversation_uuid"] for call in page["calls"])
        pages += 1
        if not (token := page["next"]):
            break
    assert seen == list(reversed(started))  # each exactly once, newest first
    assert pages in (7, 8)  # 6 full pages and 10 more (DynamoDB may end with an empty page)
    day = FUTURE.strftime("%Y-%m-%d")
    assert len(h.listing(date=day, limit="100")["calls"]) == 100
    assert h.listing(user="pager", date=day, limit="3")["calls"][0]["conversation_uuid"] == "CON-page-249"
    assert h.listing(user="pager", date="2001-01-01")["calls"] == []


def test_history_routes_over_http(make_project, fresh_table: str) -> None:
    with chalice_client(make_project(CALLS_TABLE=fresh_table)) as client:
        client.http.get("/answer?from_user=ana&to=14155550101&conversation_uuid=CON-h1&uuid=a")
        listed = client.http.get("/calls?user=ana")
        bad = client.http.get("/calls?user=ana&limit=101")
        neither = client.http.get("/calls")
    assert listed.status_code == 200
    assert [c["conversation_uuid"] for c in listed.json_body["calls"]] == ["CON-h1"]
    assert listed.json_body["next"] is None
    assert (bad.status_code, bad.json_body) == (400, {"error": "limit must be a whole number from 1 to 100"})
    assert neither.status_code == 400


def test_an_older_table_gets_the_history_indexes() -> None:
    """A table kept in .dynamodb/data by an earlier version gains the indexes on `make run`.

    Its own DynamoDB Local: a busy shared instance builds new indexes only after
    its other background work, which can take minutes.
    """
    proc, url = ddb.start_on_free_port()
    try:
        client = ddb.client(url)
        client.create_table(
            TableName="old",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        assert ddb.ensure_table(url, "old") is False
        indexes = client.describe_table(TableName="old")["Table"]["GlobalSecondaryIndexes"]
        assert sorted(index["IndexName"] for index in indexes) == ["by_date", "by_user"]
        assert ddb.ensure_table(url, "old") is False  # and again: nothing left to do
    finally:
        ddb.stop(proc)
