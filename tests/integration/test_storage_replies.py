"""Replies that are not a well-formed DynamoDB success mean "storage unavailable", on every route.

botocore alone takes an HTML page or `{}` with status 200 for a success (an event
lost behind a 200, a call connected without being counted), raises a
UnicodeDecodeError on a body that is not UTF-8 (a 500), and with one attempt never
checks x-amz-crc32. storage/client.py checks every reply; these tests put a fake
DynamoDB on 127.0.0.1 in front of the real app (chalice.test.Client).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chalicelib import prompts
from chalicelib.storage.client import check_replies, reply_problem
from chalicelib.storage.errors import MalformedReply
from devtools import dynamodb_local as ddb
from tests.conftest import chalice_client
from tests.integration.test_faults import Answer, conflict, dynamodb_answer, fake_dynamodb, throttling

ACTIVE_TABLE = {"Table": {"TableName": "t", "TableStatus": "ACTIVE", "ItemCount": 0}}
NO_ITEMS = {"Items": [], "Count": 0, "ScannedCount": 0}
SUCCESS: dict[str, object] = {"DescribeTable": ACTIVE_TABLE, "Query": NO_ITEMS, "TransactWriteItems": {}}
NOT_UTF8 = b'\xff\xfe{"Items":[],"Count":0}'  # 0xff starts no UTF-8 sequence
REFUSAL = [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"  # a proxy's page
FALLBACK = [{"action": "talk", "text": prompts.FALLBACK_ANSWER}]


def success(operation: str) -> Answer:
    """What DynamoDB answers each operation callgate makes (no items found)."""
    return dynamodb_answer(200, SUCCESS[operation])


def with_headers(status: int, body: bytes, **changes: str | None) -> Answer:
    """`body` with DynamoDB's headers (CRC32 of the body), then `changes` (None removes one)."""
    headers = dynamodb_answer(200, {})[2] | {"x-amz-crc32": str(zlib.crc32(body))}
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return status, body, headers


def wrong_crc(answer: Answer) -> Answer:
    status, body, headers = answer
    return status, body, headers | {"x-amz-crc32": str((zlib.crc32(body) + 1) % 2**32)}


def cut_short(operation: str) -> Answer:
    """Content-Length and CRC32 of the whole reply, then the connection closes halfway."""
    status, body, headers = success(operation)
    body = json.dumps({**NO_ITEMS, "padding": "x" * 200}).encode()
    headers |= {"Content-Length": str(len(body)), "x-amz-crc32": str(zlib.crc32(body))}
    return status, body[: len(body) // 2], headers


def truncated_json(operation: str) -> Answer:
    """Half a JSON body, with a CRC32 that matches what was sent."""
    body = json.dumps({**NO_ITEMS, "padding": "x" * 200}).encode()
    return with_headers(200, body[: len(body) // 2])


def wrong_shapes(operation: str) -> Answer:
    """A JSON object with headers that check out, but whose members are not what botocore's
    model says (botocore's parser raises AttributeError or TypeError on it)."""
    payload = {"DescribeTable": {"Table": "ACTIVE"}, "Query": {"Items": 5, "Count": 0}}
    return dynamodb_answer(200, payload.get(operation, {"ConsumedCapacity": 5}))


SCENARIOS: dict[str, Callable[[str], Answer]] = {
    "not-utf8-200": lambda op: with_headers(200, NOT_UTF8),
    "not-utf8-400": lambda op: with_headers(400, NOT_UTF8),
    "not-utf8-200-bare": lambda op: (200, NOT_UTF8, {}),
    "html-200": lambda op: (200, HTML, {"Content-Type": "text/html"}),
    "empty-object-200-bare": lambda op: (200, b"{}", {}),
    "empty-object-200-request-id-no-crc": lambda op: with_headers(200, b"{}", x_amz_crc32=None),
    "success-without-request-id": lambda op: with_headers(200, success(op)[1], x_amzn_RequestId=None),
    "truncated-json": truncated_json,
    "cut-short": cut_short,
    "wrong-crc": lambda op: wrong_crc(success(op)),
    "transact-success-wrong-crc": lambda op: wrong_crc(success("TransactWriteItems")),
    "crc-not-a-number": lambda op: with_headers(200, success(op)[1], x_amz_crc32="0x1f"),
    "json-array-200": lambda op: with_headers(200, b"[]"),
    "error-without-type": lambda op: with_headers(400, b'{"message":"no"}'),
    "wrong-shapes": wrong_shapes,
}


def _routes(client: Any, conversation: str) -> dict[str, tuple[int, Any]]:
    """Every route that touches DynamoDB, once: route -> (status, JSON body)."""
    call = f"to=14155550101&from_user=jane&uuid=leg-{conversation}&conversation_uuid={conversation}"
    event = {"conversation_uuid": conversation, "uuid": f"leg-{conversation}", "status": "started",
             "direction": "inbound", "timestamp": "2024-05-01T12:00:00.000Z"}  # fmt: skip
    client.http.get("/health")  # builds the DynamoDB client first, as a Lambda's init does
    requests = {
        "/answer": lambda: client.http.get(f"/answer?{call}"),
        "/event": lambda: client.http.post(
            "/event", headers={"Content-Type": "application/json"}, body=json.dumps(event).encode()
        ),
        "/fallback": lambda: client.http.get(f"/fallback?{call}&reason=timeout&status=started"),
        "/calls/{id}": lambda: client.http.get(f"/calls/{conversation}"),
        "/calls": lambda: client.http.get("/calls?user=jane"),
        "/health": lambda: client.http.get("/health"),
    }
    found = {}
    for route, request in requests.items():
        response = request()
        found[route] = (response.status_code, response.json_body)
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_reply_that_is_not_dynamodbs_is_storage_unavailable(
    make_project, conversation_uuid, scenario: str
) -> None:
    with (
        fake_dynamodb(SCENARIOS[scenario]) as url,
        chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=url), patient=False) as client,
    ):
        found = _routes(client, conversation_uuid)
    unavailable = {"error": "the calls table is unavailable, retry later"}
    assert found["/answer"] == (200, REFUSAL)  # fail closed: nothing connected, nothing counted
    assert found["/event"] == (503, unavailable)  # Vonage retries it
    assert found["/fallback"] == (200, FALLBACK)
    assert found["/calls/{id}"] == (503, unavailable)
    assert found["/calls"] == (503, unavailable)
    assert found["/health"][0] == 503
    assert found["/health"][1]["status"] == "unavailable"


def test_the_same_fake_answering_like_dynamodb_is_success(make_project, conversation_uuid) -> None:
    """The control: the checks accept DynamoDB's own replies, so they are what refuses the rest."""
    with (
        fake_dynamodb(success) as url,
        chalice_client(make_project(AWS_ENDPOINT_URL_DYNAMODB=url), patient=False) as client,
    ):
        found = _routes(client, conversation_uuid)
    status, ncco = found["/answer"]
    assert status == 200
    assert ncco[-1]["action"] == "connect"
    assert found["/event"] == (200, {})
    assert found["/fallback"] == (200, FALLBACK)
    assert found["/calls/{id}"][0] == 404
    assert found["/calls"] == (200, {"calls": [], "next": None})
    assert found["/health"] == (200, {"status": "ok"})


@pytest.mark.parametrize(("fault", "code"), [(throttling, "ThrottlingException"),
                                             (conflict, "TransactionCanceledException")])  # fmt: skip
def test_the_fault_fakes_pass_as_dynamodb_errors(fault, code: str) -> None:
    """test_faults.py's and test_restart.py's fakes reach the code path they are named for."""
    with fake_dynamodb(fault) as url:
        client = _client(url)
        check_replies(client)
        with pytest.raises(client.exceptions.ClientError) as caught:
            client.transact_write_items(TransactItems=[_put("a")])
    assert caught.value.response["Error"]["Code"] == code


def _client(url: str, mode: str = "standard") -> Any:
    return boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    ).client("dynamodb", endpoint_url=url, config=Config(retries={"total_max_attempts": 1, "mode": mode}))


def _put(pk: str, table: str = "t") -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}}


def test_botocore_alone_takes_a_wrong_crc_for_a_success_at_one_attempt() -> None:
    """Why client.py checks the CRC itself: in standard retry mode the check is a retry
    condition, evaluated only while attempts remain (legacy mode raises ChecksumError)."""
    with fake_dynamodb(lambda op: wrong_crc(success(op))) as url:
        plain = _client(url)
        taken = plain.transact_write_items(TransactItems=[_put("a")])
        assert taken["ResponseMetadata"]["HTTPStatusCode"] == 200
        checked = _client(url)
        check_replies(checked)
        with pytest.raises(MalformedReply, match="x-amz-crc32"):
            checked.transact_write_items(TransactItems=[_put("a")])


def test_dynamodb_local_replies_pass_the_checks(ddb_url: str, table_name: str) -> None:
    """DynamoDB Local names every reply and checksums its successes (not its errors)."""
    replies: list[tuple[str, int, Any]] = []

    def record(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        replies.append((operation_model.name, response_dict["status_code"], response_dict))

    client = ddb.client(ddb_url)
    client.meta.events.register("before-parse.dynamodb", record)
    check_replies(client)
    pk = f"replies-{zlib.crc32(ddb_url.encode())}"
    client.describe_table(TableName=table_name)
    client.query(
        TableName=table_name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}}
    )
    put = _put(pk, table_name)
    put["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
    client.transact_write_items(TransactItems=[put])
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[put])
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_table(TableName="no-such-table")
    assert [(operation, status) for operation, status, _ in replies] == [
        ("DescribeTable", 200), ("Query", 200), ("TransactWriteItems", 200),
        ("TransactWriteItems", 400), ("DescribeTable", 400),
    ]  # fmt: skip
    for operation, status, reply in replies:
        headers = reply["headers"]
        assert headers.get("x-amzn-RequestId"), operation
        assert ("x-amz-crc32" in headers) == (status == 200), (operation, status)
        assert reply_problem(operation, status, headers, reply["body"]) is None
