"""The call history: listing and paging on the indexes, over the routes, and an older table's upgrade."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.routes import history
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
        client.http.get("/health")  # builds the DynamoDB client, as a Lambda's init does
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


def test_a_call_records_events_come_in_pages(make_harness) -> None:
    """GET /calls/{id}: the summary on every page, each event exactly once, in time order."""
    h = make_harness(**UNLIMITED)
    h.answer("CON-long")
    sent = []
    for n in range(230):  # distinct times, sent newest first: pages follow time, not arrival
        sent.append({"conversation_uuid": "CON-long", "uuid": "pstn", "dtmf": {"digits": str(n % 10)},
                     "timestamp": f"2020-01-01T12:{n // 60:02d}:{n % 60:02d}.000Z"})  # fmt: skip
    for event in reversed(sent):
        h.event(event)
    pages, token = [], None
    while True:
        page = (
            h.record("CON-long")
            if token is None
            else history.get_call(h.adapters, "CON-long", {"next": token}).body
        )
        pages.append(page)
        if not (token := page["next"]):
            break
    assert [len(page["events"]) for page in pages] == [100, 100, 30]
    assert [event for page in pages for event in page["events"]] == sent
    assert {page["event_count"] for page in pages} == {230}
    assert all(page["answer"] == pages[0]["answer"] is not None for page in pages)
    small = history.get_call(h.adapters, "CON-long", {"limit": "7"}).body
    assert len(small["events"]) == 7 and small["next"] is not None
    assert len(history.get_call(h.adapters, "CON-long", {"limit": "500"}).body["events"]) == 230


def test_a_call_records_paging_refuses_what_it_never_returned(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    for conversation in ("CON-p1", "CON-p2"):
        h.answer(conversation)
        for n in range(3):
            h.event({"conversation_uuid": conversation, "payload": {"n": n},
                     "timestamp": f"2020-01-01T12:00:0{n}.000Z"})  # fmt: skip
    token = history.get_call(h.adapters, "CON-p1", {"limit": "1"}).body["next"]
    for query, error in (
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"next": token}, "next belongs to a different call"),
        ({"next": "garbage"}, "next is not a token this API returned"),
        ({"page": "2"}, "unknown parameters: page"),
    ):
        reply = history.get_call(h.adapters, "CON-p2", query)
        assert (reply.status, reply.body) == (400, {"error": error})
    assert history.get_call(h.adapters, "CON-p1", {"next": token}).body["events"] == [
        {"conversation_uuid": "CON-p1", "payload": {"n": n}, "timestamp": f"2020-01-01T12:00:0{n}.000Z"}
        for n in (1, 2)
    ]


def test_a_call_record_page_over_http(make_project, fresh_table: str) -> None:
    with chalice_client(make_project(CALLS_TABLE=fresh_table)) as client:
        client.http.get("/answer?from_user=ana&to=14155550101&conversation_uuid=CON-h2&uuid=a")
        for n in range(3):
            client.http.post("/event", headers={"Content-Type": "application/json"},
                             body=f'{{"conversation_uuid": "CON-h2", "payload": {n}}}')  # fmt: skip
        first = client.http.get("/calls/CON-h2?limit=2")
        rest = client.http.get(f"/calls/CON-h2?limit=2&next={first.json_body['next']}")
        bad = client.http.get("/calls/CON-h2?limit=x")
    assert (first.status_code, len(first.json_body["events"]), first.json_body["event_count"]) == (200, 2, 3)
    assert (len(rest.json_body["events"]), rest.json_body["next"]) == (1, None)
    assert bad.status_code == 400


def test_a_call_without_a_caller_is_listed_by_date_only(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    reply = h.ask({"to": "14155550101", "conversation_uuid": "CON-anon", "uuid": "a"}, base_url=None)
    assert reply.status == 200
    summary = next(i for i in h.items("CON-anon") if i["sk"]["S"] == "SUMMARY")
    assert "user" not in summary and "by_user_pk" not in summary and "by_date_pk" in summary
    listed = [c for c in h.listing(date=FUTURE.strftime("%Y-%m-%d"), limit="100")["calls"]
              if c["conversation_uuid"] == "CON-anon"]  # fmt: skip
    assert [(c["user"], c["decision"]) for c in listed] == [(None, "refuse")]
