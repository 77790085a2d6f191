"""Storage errors that DynamoDB Local cannot be made to produce on demand, via botocore's Stubber.

A ValidationException is permanent: the event URL must answer 400 (Vonage would
retry a 503 for nothing) and the answer URL must refuse as invalid, not unavailable.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.service import Service
from chalicelib.settings import load
from chalicelib.store import CallStore

SETTINGS = load({"CALLS_TABLE": "t", "VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US"})


@pytest.fixture
def stubbed():
    client = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).client("dynamodb", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        service = Service(
            store_for=lambda cfg: CallStore(client, cfg.calls_table), load_settings=lambda: SETTINGS
        )
        yield stubber, service
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("ThrottlingException", 503)])
def test_event_storage_errors(stubbed, code: str, status: int) -> None:
    stubber, service = stubbed
    stubber.add_client_error("put_item", service_error_code=code, service_message="no")
    reply = service.event(
        None, json.dumps({"conversation_uuid": "CON-1", "uuid": "u"}).encode(), "application/json"
    )
    assert reply.status == status


@pytest.mark.parametrize(
    ("code", "reason"),
    [("ValidationException", "invalid_request"), ("InternalServerError", "policy_unavailable")],
)
def test_answer_storage_errors_refuse(stubbed, caplog, code: str, reason: str) -> None:
    stubber, service = stubbed
    stubber.add_client_error("put_item", service_error_code=code, service_message="no")
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = service.answer({"to": "14155550101", "uuid": "u", "conversation_uuid": "CON-1"}, None, None)
    assert reply.status == 200
    assert [action["action"] for action in reply.body] == ["talk"]
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert (line["decision"], line["reason"]) == ("refuse", reason)


def test_answer_unexpected_error_still_speaks(stubbed) -> None:
    _, service = stubbed
    service.load_settings = lambda: 1 / 0  # any bug at all
    reply = service.answer({"to": "14155550101", "uuid": "u", "conversation_uuid": "CON-1"}, None, None)
    assert (reply.status, reply.body) == (
        200,
        [{"action": "talk", "text": "Sorry, this call cannot be connected."}],
    )
