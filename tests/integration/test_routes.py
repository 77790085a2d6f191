"""Every route and status code through chalice.test.Client, against DynamoDB Local."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib import keys, prompts
from tests.conftest import chalice_client

JSON = {"Content-Type": "application/json"}
CONNECT_NCCO = [
    {"action": "talk", "text": "Please wait while we connect you."},
    {
        "action": "connect",
        "timeout": 20,
        "limit": 3600,
        "from": "14155550100",
        "endpoint": [{"type": "phone", "number": "14155550101"}],
    },
]


def refusal_ncco(reason: str) -> list[dict[str, str]]:
    return [{"action": "talk", "text": prompts.REFUSALS[reason]}]


def stored(ddb_client: Any, table: str, conversation_uuid: str) -> list[dict[str, Any]]:
    """The call's items as DynamoDB Local holds them."""
    page = ddb_client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.call_partition(conversation_uuid)}},
        ConsistentRead=True,
    )
    items = [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    # the SUMMARY and LEG items are what the call record reads (test_call_record.py)
    return [item for item in items if keys.item_type(item["sk"]) not in ("summary", "leg")]


def count_items(ddb_client: Any, table: str) -> int:
    return ddb_client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]


def answer_record(ddb_client: Any, table: str, conversation_uuid: str) -> dict[str, Any]:
    items = stored(ddb_client, table, conversation_uuid)
    (item,) = [i for i in items if keys.item_type(i["sk"]) == "answer"]
    return json.loads(item["answer"])


# --- /answer -------------------------------------------------------------------------------------


def test_answer_get_client_sdk(client, ddb_client, table_name, conversation_uuid) -> None:
    response = client.http.get(
        f"/answer?to=14155550101&from_user=jane&uuid=leg-1&conversation_uuid={conversation_uuid}"
        "&endpoint_type=app&region_url=https%3A%2F%2Fapi-us-3.vonage.com"
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json_body == CONNECT_NCCO
    record = answer_record(ddb_client, table_name, conversation_uuid)
    assert {
        k: record[k] for k in ("uuid", "caller", "destination", "region", "decision", "reason", "caller_id")
    } == {
        "uuid": "leg-1",
        "caller": "jane",
        "destination": "+14155550101",
        "region": "US",
        "decision": "connect",
        "reason": "allowed",
        "caller_id": "14155550100",
    }
    assert record["ncco"] == CONNECT_NCCO


def test_answer_post_json(client, ddb_client, table_name, conversation_uuid) -> None:
    body = {
        "to": "14155550101",
        "from_user": "jane",
        "uuid": "leg-1",
        "conversation_uuid": conversation_uuid,
        "custom_data": {"ticket": 42},
    }
    response = client.http.post("/answer", headers=JSON, body=json.dumps(body).encode())
    assert (response.status_code, response.json_body) == (200, CONNECT_NCCO)
    assert answer_record(ddb_client, table_name, conversation_uuid)["caller"] == "jane"


def test_answer_older_sdk_format(client, ddb_client, table_name, conversation_uuid) -> None:
    """The request of Vonage's outbound PSTN (Stitch) guide: the user's name in `from`, uuid=NONE."""
    response = client.http.get(
        f"/answer?from=demo&to=14155550101&conversation_uuid={conversation_uuid}&uuid=NONE"
    )
    assert response.json_body == CONNECT_NCCO
    (item,) = stored(ddb_client, table_name, conversation_uuid)
    assert item["sk"] == keys.answer_key(conversation_uuid, "")["sk"]  # uuid=NONE: no leg in the key
    assert json.loads(item["answer"])["caller"] == "demo"


@pytest.mark.parametrize("to", ["+14155550101", "%2B14155550101", "0014155550101", "%2B1%20415%20555%200101"])
def test_answer_normalises_to(client, conversation_uuid, to: str) -> None:
    response = client.http.get(f"/answer?from_user=jane&to={to}&conversation_uuid={conversation_uuid}&uuid=u")
    assert response.json_body == CONNECT_NCCO


def test_answer_form_post(client, conversation_uuid) -> None:
    response = client.http.post(
        "/answer",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=f"to=14155550101&from_user=jane&uuid=u&conversation_uuid={conversation_uuid}".encode(),
    )
    assert (response.status_code, response.json_body) == (200, CONNECT_NCCO)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("to=18765550100", "country_not_allowed"),  # Jamaica
        ("to=33899123456", "country_not_allowed"),  # French premium rate
        ("to=1-800-FLOWERS", "invalid_number"),
        ("to=4155550101", "invalid_number"),  # national US number: +41 is Switzerland
        ("to=", "invalid_number"),
        ("", "invalid_number"),
        ("to=1234567890123456", "invalid_number"),
    ],
)
def test_answer_refusals_are_spoken_and_recorded(
    client, ddb_client, table_name, conversation_uuid, query, reason
) -> None:
    response = client.http.get(f"/answer?from_user=jane&uuid=u&conversation_uuid={conversation_uuid}&{query}")
    assert (response.status_code, response.json_body) == (200, refusal_ncco(reason))
    record = answer_record(ddb_client, table_name, conversation_uuid)
    assert (record["decision"], record["reason"], record["ncco"]) == ("refuse", reason, refusal_ncco(reason))


def test_answer_malformed_json_is_refused_not_rejected(
    client, ddb_client, table_name, conversation_uuid
) -> None:
    response = client.http.post(
        f"/answer?conversation_uuid={conversation_uuid}&uuid=u", headers=JSON, body=b"{oops"
    )
    assert (response.status_code, response.json_body) == (200, refusal_ncco("invalid_request"))
    record = answer_record(ddb_client, table_name, conversation_uuid)
    assert record["reason"] == "invalid_request"
    assert record["detail"].startswith("body is not valid JSON")


def test_answer_odd_content_type_still_gets_an_ncco(client, conversation_uuid) -> None:
    response = client.http.post(
        f"/answer?to=14155550101&from_user=j&uuid=u&conversation_uuid={conversation_uuid}",
        headers={"Content-Type": "text/xml"},
        body=b"<x/>",
    )
    assert (response.status_code, response.json_body) == (200, refusal_ncco("invalid_request"))


def test_answer_without_conversation_uuid_is_refused_and_not_stored(client, ddb_client, table_name) -> None:
    before = count_items(ddb_client, table_name)
    response = client.http.get("/answer?to=14155550101&from_user=jane&uuid=u")
    assert (response.status_code, response.json_body) == (200, refusal_ncco("invalid_request"))
    assert count_items(ddb_client, table_name) == before


def test_answer_with_oversized_ids_is_refused_as_invalid(client, ddb_client, table_name) -> None:
    """Ids are bounded in UTF-8 bytes (500), so every key that embeds one fits DynamoDB's limits."""
    phones = "\U0001f4de" * 124  # "CON-" + 124 four-byte characters: 500 bytes
    ok = client.http.get(
        f"/answer?to=14155550101&from_user=j&uuid=NONE&conversation_uuid=CON-{quote(phones)}"
    )
    assert ok.json_body == CONNECT_NCCO
    assert len(stored(ddb_client, table_name, f"CON-{phones}")) == 1
    longer = phones + "\U0001f4de"  # 504 bytes, still only 129 characters
    response = client.http.get(
        f"/answer?to=14155550101&from_user=j&uuid=NONE&conversation_uuid=CON-{quote(longer)}"
    )
    assert (response.status_code, response.json_body) == (200, refusal_ncco("invalid_request"))
    assert stored(ddb_client, table_name, f"CON-{longer}") == []


def test_answer_with_unpaired_surrogate_is_refused_and_call_stays_readable(client, conversation_uuid) -> None:
    body = b'{"to": "14155550101", "uuid": "u", "from_user": "\\ud800", "conversation_uuid": "%s"}'
    response = client.http.post("/answer", headers=JSON, body=body % conversation_uuid.encode())
    assert (response.status_code, response.json_body) == (200, refusal_ncco("invalid_request"))
    # the body was refused whole, ids included, so there was nothing to file it under
    assert client.http.get(f"/calls/{conversation_uuid}").status_code == 404


def test_answer_float_to_is_not_a_number(client, conversation_uuid) -> None:
    body = {"to": 1415555010.0, "uuid": "u", "from_user": "j", "conversation_uuid": conversation_uuid}
    response = client.http.post("/answer", headers=JSON, body=json.dumps(body).encode())
    assert response.json_body == refusal_ncco("invalid_number")


def test_answer_record_clips_garbage(client, ddb_client, table_name, conversation_uuid) -> None:
    body = {"to": "9" * 200_000, "uuid": "u", "from_user": "j", "conversation_uuid": conversation_uuid}
    response = client.http.post("/answer", headers=JSON, body=json.dumps(body).encode())
    assert response.json_body == refusal_ncco("invalid_number")
    record = answer_record(ddb_client, table_name, conversation_uuid)
    assert (record["reason"], len(record["to"])) == ("invalid_number", 101)


def test_answer_retry_returns_the_first_decision(
    make_project, ddb_client, table_name, conversation_uuid
) -> None:
    """A retried request (same uuid) is answered as the first was, even if settings changed."""
    query = f"/answer?to=442079460000&from_user=jane&uuid=leg-1&conversation_uuid={conversation_uuid}"
    with chalice_client(make_project(ALLOWED_COUNTRIES="GB")) as first_client:
        first = first_client.http.get(query).json_body
    with chalice_client(make_project(ALLOWED_COUNTRIES="US")) as retry_client:
        retry = retry_client.http.get(query).json_body
    assert first[1]["endpoint"] == [{"type": "phone", "number": "442079460000"}]
    assert retry == first
    assert len(stored(ddb_client, table_name, conversation_uuid)) == 1


def test_a_leg_whose_uuid_is_the_conversation_uuid_is_not_the_uuid_none_request(
    client, ddb_client, table_name, conversation_uuid
) -> None:
    """uuid=NONE and a later leg with uuid == conversation_uuid must not share a key."""
    base = f"/answer?from_user=jane&conversation_uuid={conversation_uuid}"
    first = client.http.get(f"{base}&to=14155550101&uuid=NONE")
    second = client.http.get(f"{base}&to=18765550100&uuid={conversation_uuid}")  # Jamaica: refused
    assert first.json_body == CONNECT_NCCO
    assert second.json_body == refusal_ncco("country_not_allowed")  # its own decision, not the first's
    answers = sorted(
        json.loads(item["answer"])["reason"] for item in stored(ddb_client, table_name, conversation_uuid)
    )
    assert answers == ["allowed", "country_not_allowed"]


def test_answer_two_uuid_none_calls_are_two_calls(client, ddb_client, table_name) -> None:
    for conversation_uuid, to in (("CON-none-a", "14155550101"), ("CON-none-b", "18765550100")):
        client.http.get(f"/answer?from=demo&to={to}&conversation_uuid={conversation_uuid}&uuid=NONE")
    assert answer_record(ddb_client, table_name, "CON-none-a")["decision"] == "connect"
    assert answer_record(ddb_client, table_name, "CON-none-b")["decision"] == "refuse"


def test_answer_with_broken_settings_refuses(make_project, conversation_uuid) -> None:
    with chalice_client(make_project(VONAGE_NUMBER=None)) as broken:
        response = broken.http.get(
            f"/answer?to=14155550101&from_user=j&uuid=u&conversation_uuid={conversation_uuid}"
        )
    assert (response.status_code, response.json_body) == (200, refusal_ncco("misconfigured"))


def test_answer_uses_stage_settings(make_project, conversation_uuid) -> None:
    project = make_project(GREETING_TEXT="", CONNECT_TIMEOUT="45", VONAGE_NUMBER="+44 20 7946 0000")
    with chalice_client(project) as custom:
        response = custom.http.get(
            f"/answer?to=14155550101&from_user=j&uuid=u&conversation_uuid={conversation_uuid}"
        )
    assert response.json_body == [
        {
            "action": "connect",
            "timeout": 45,
            "limit": 3600,
            "from": "442079460000",
            "endpoint": [{"type": "phone", "number": "14155550101"}],
        }
    ]


# --- /event --------------------------------------------------------------------------------------


def status_event(conversation_uuid: str, status: str = "started", **fields: Any) -> dict[str, Any]:
    return {
        "from": "jane",
        "to": "14155550101",
        "uuid": "leg-1",
        "conversation_uuid": conversation_uuid,
        "status": status,
        "direction": "outbound",
        "timestamp": "2020-01-01T12:00:00.000Z",
        **fields,
    }


def test_event_post_is_stored_unchanged(client, ddb_client, table_name, conversation_uuid) -> None:
    payload = status_event(conversation_uuid, headers={}, rate=None, price=0.0123)
    response = client.http.post("/event", headers=JSON, body=json.dumps(payload).encode())
    assert (response.status_code, response.json_body) == (200, {})
    assert response.headers["Content-Type"] == "application/json"
    (item,) = stored(ddb_client, table_name, conversation_uuid)
    assert json.loads(item["payload"]) == payload
    assert list(json.loads(item["payload"])) == list(payload)  # key order kept too
    # keyed by its own time (in UTC, to the µs), so a call's events sort in time order
    assert (
        item["sk"]
        == keys.event_key(conversation_uuid, "2020-01-01T12:00:00.000000Z", "started", item["digest"])["sk"]
    )
    assert item["received_at"].endswith("Z") and item["received_at"] > "2026"


def test_event_redelivery_is_stored_once(client, ddb_client, table_name, conversation_uuid) -> None:
    body = json.dumps(status_event(conversation_uuid)).encode()
    responses = [client.http.post("/event", headers=JSON, body=body).status_code for _ in range(3)]
    assert responses == [200, 200, 200]
    assert len(stored(ddb_client, table_name, conversation_uuid)) == 1


def test_event_get_query_string(client, ddb_client, table_name, conversation_uuid) -> None:
    response = client.http.get(f"/event?conversation_uuid={conversation_uuid}&uuid=leg-1&status=ringing")
    assert (response.status_code, response.json_body) == (200, {})
    (item,) = stored(ddb_client, table_name, conversation_uuid)
    assert json.loads(item["payload"]) == {
        "conversation_uuid": conversation_uuid,
        "uuid": "leg-1",
        "status": "ringing",
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "body is not valid JSON"),
        (b"[1, 2]", 400, "body must be a JSON object"),
        (b'{"status": "started"}', 400, "event has none of conversation_uuid, uuid, call_uuid"),
        (b'{"uuid": "leg-1", "status": "started"}', 400, "event has no conversation_uuid"),
        (b"", 400, "event has none of conversation_uuid, uuid, call_uuid"),
        (
            b'{"conversation_uuid": "CON-x", "blob": "' + b"x" * 270_000 + b'"}',
            413,
            "larger than 262144 bytes",
        ),
    ],
)
def test_event_malformed_is_rejected_and_nothing_stored(
    client, ddb_client, table_name, body, status, message
) -> None:
    before = count_items(ddb_client, table_name)
    response = client.http.post("/event", headers=JSON, body=body)
    assert response.status_code == status
    assert message in response.json_body["error"]
    assert count_items(ddb_client, table_name) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"conversation_uuid": "CON-x", "note": "\\ud800"}',
        b'{"conversation_uuid": "CON-x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"conversation_uuid": "CON-x", "duration": NaN}',
    ],
)
def test_event_json_that_could_never_be_served_back_is_400(client, ddb_client, table_name, body) -> None:
    before = count_items(ddb_client, table_name)
    response = client.http.post("/event", headers=JSON, body=body)
    assert response.status_code == 400
    assert count_items(ddb_client, table_name) == before


def test_event_without_timestamp_redelivered_is_stored_once(
    client, ddb_client, table_name, conversation_uuid
) -> None:
    """Transcription payloads carry no timestamp: the time received must not make a redelivery new."""
    payload = {
        "type": "record",
        "status": "transcribed",
        "recording_uuid": "r-1",
        "conversation_uuid": conversation_uuid,
    }
    for _ in range(2):
        assert client.http.post("/event", headers=JSON, body=json.dumps(payload).encode()).status_code == 200
    (item,) = stored(ddb_client, table_name, conversation_uuid)
    assert item["sk"] == keys.event_key(conversation_uuid, None, "transcribed", item["digest"])["sk"]
    assert client.http.get(f"/calls/{conversation_uuid}").json_body["events"] == [payload]


def test_event_with_huge_status_is_stored(client, ddb_client, table_name, conversation_uuid) -> None:
    payload = {"conversation_uuid": conversation_uuid, "uuid": "u", "status": "s" * 210_000}
    response = client.http.post("/event", headers=JSON, body=json.dumps(payload).encode())
    assert response.status_code == 200
    (item,) = stored(ddb_client, table_name, conversation_uuid)
    assert "status" not in item  # only the payload holds it: the item stays under 400 KiB


def test_event_form_post_is_unsupported(client) -> None:
    response = client.http.post(
        "/event",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"conversation_uuid=CON-1",
    )
    assert response.status_code == 415


# --- /calls/{conversation_uuid} ------------------------------------------------------------------


def test_call_record(client, conversation_uuid) -> None:
    client.http.get(
        f"/answer?to=14155550101&from_user=jane&uuid=app-leg&conversation_uuid={conversation_uuid}"
    )
    events = [
        status_event(
            conversation_uuid,
            "started",
            uuid="app-leg",
            direction="inbound",
            to="jane",
            timestamp="2020-01-01T12:00:00.000Z",
            **{"from": None},
        ),
        status_event(conversation_uuid, "ringing", timestamp="2020-01-01T12:00:01.000Z"),
        status_event(conversation_uuid, "started", timestamp="2020-01-01T12:00:01.000Z"),
        status_event(conversation_uuid, "answered", timestamp="2020-01-01T12:00:04.000Z"),
        {
            "recording_url": "https://api.nexmo.com/v1/files/x",
            "recording_uuid": "r-1",
            "size": 123,
            "conversation_uuid": conversation_uuid,
            "timestamp": "2020-01-01T12:00:30.000Z",
        },
        status_event(
            conversation_uuid,
            "completed",
            timestamp="2020-01-01T12:01:04.000Z",
            duration="60",
            price="0.01200000",
            rate="0.01200000",
            start_time="2020-01-01T12:00:04.000Z",
            end_time="2020-01-01T12:01:04.000Z",
        ),
        status_event(conversation_uuid, "ringing", timestamp="2020-01-01T12:00:02.000Z"),  # late
    ]
    for event in events:
        assert client.http.post("/event", headers=JSON, body=json.dumps(event).encode()).status_code == 200

    response = client.http.get(f"/calls/{conversation_uuid}")
    assert response.status_code == 200
    call = response.json_body
    assert call["conversation_uuid"] == conversation_uuid
    assert call["status"] == "completed"
    assert call["answer"]["decision"] == "connect"
    assert call["answer"]["destination"] == "+14155550101"
    assert [(leg["uuid"], leg["status"]) for leg in call["legs"]] == [
        ("app-leg", "started"),
        ("leg-1", "completed"),
    ]
    assert call["legs"][1]["duration"] == "60"
    assert call["legs"][1]["price"] == "0.01200000"
    timestamps = [e["timestamp"] for e in call["events"]]
    assert timestamps == sorted(timestamps)
    assert len(call["events"]) == len(events)
    assert events[4] in call["events"]  # record payload, unchanged


def test_call_unknown_is_404(client) -> None:
    response = client.http.get("/calls/CON-does-not-exist")
    assert response.status_code == 404
    assert response.json_body == {"error": "no call with conversation_uuid 'CON-does-not-exist'"}


def test_call_id_too_long_is_400(client) -> None:
    response = client.http.get("/calls/" + quote("C" * 251))
    assert response.status_code == 400


# --- /health -------------------------------------------------------------------------------------


def test_health_ok(client) -> None:
    response = client.http.get("/health")
    assert (response.status_code, response.json_body) == (200, {"status": "ok"})


def test_health_missing_table_is_503(make_project, caplog) -> None:
    """/health is public: AWS's own message (it can name the account and role) goes to the log only."""
    with chalice_client(make_project(CALLS_TABLE="no-such-table")) as c, caplog.at_level("ERROR", "callgate"):
        response = c.http.get("/health")
    assert response.status_code == 503
    assert response.json_body == {
        "status": "unavailable",
        "error": "the calls table is unavailable, retry later",
    }
    # the same detail line as every other route's
    assert '"log":"storage_unavailable","route":"/health"' in caplog.text
    assert "ResourceNotFoundException" in caplog.text


def test_health_bad_settings_is_503(make_project) -> None:
    with chalice_client(make_project(ALLOWED_COUNTRIES="UK")) as c:
        response = c.http.get("/health")
    assert response.status_code == 503
    assert response.json_body["status"] == "misconfigured"
    assert "ALLOWED_COUNTRIES" in response.json_body["error"]
