"""Storage failures that DynamoDB Local cannot be made to produce on demand, via botocore's Stubber.

A ValidationException is permanent: the event URL must answer 400 (Vonage would
retry a 503 for nothing) and the answer URL must refuse as invalid, not
unavailable. Conflicts and lost replies must still leave a spoken refusal
in time, and a record that says what the caller heard.
"""

from __future__ import annotations

import json
import logging
import time

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import reasons
from chalicelib.service import ANSWER_BUDGET_S, Service
from chalicelib.settings import load
from chalicelib.store import CallStore

ENV = {"CALLS_TABLE": "t", "VONAGE_NUMBER": "14155550100", "ALLOWED_COUNTRIES": "US"}
SETTINGS = load(ENV)
CALL = {"to": "14155550101", "from_user": "jane", "uuid": "u", "conversation_uuid": "CON-1"}


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


def decision_lines(caplog) -> list[dict]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith('{"log": "answer_decision"')
    ]


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("ThrottlingException", 503)])
def test_event_storage_errors(stubbed, code: str, status: int) -> None:
    stubber, service = stubbed
    stubber.add_client_error("transact_write_items", service_error_code=code, service_message="no")
    reply = service.event(
        None, json.dumps({"conversation_uuid": "CON-1", "uuid": "u"}).encode(), "application/json"
    )
    assert reply.status == status
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "reason"),
    [("ValidationException", "invalid_request"), ("InternalServerError", "policy_unavailable")],
)
def test_answer_storage_errors_refuse(stubbed, caplog, code: str, reason: str) -> None:
    stubber, service = stubbed
    stubber.add_client_error("transact_write_items", service_error_code=code, service_message="no")
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = service.answer({**CALL, "to": "442079460000"}, None, None)  # refused by country: no counters
    assert reply.status == 200
    assert reply.body == [{"action": "talk", "text": reasons.REFUSALS[reason]}]
    (line,) = decision_lines(caplog)
    assert (line["decision"], line["reason"]) == ("refuse", reason)


def test_answer_unexpected_error_still_speaks(stubbed) -> None:
    _, service = stubbed
    service.load_settings = lambda: 1 / 0  # any bug at all
    reply = service.answer(CALL, None, None)
    assert (reply.status, reply.body) == (200, [{"action": "talk", "text": reasons.GENERIC}])


def test_unexpected_error_uses_the_stage_text_and_logs_the_decision(stubbed, caplog, monkeypatch) -> None:
    _, service = stubbed
    cfg = load({**ENV, "REFUSAL_TEXT_INTERNAL_ERROR": "Bitte später.", "TALK_LANGUAGE": "de-DE"})
    service.load_settings = lambda: cfg
    monkeypatch.setattr("chalicelib.calls.decide", lambda request, settings: 1 / 0)
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = service.answer(CALL, None, None)
    assert reply.body == [{"action": "talk", "text": "Bitte später.", "language": "de-DE"}]
    (line,) = decision_lines(caplog)
    assert (line["decision"], line["reason"]) == ("refuse", "internal_error")


def test_conflicts_are_retried_only_while_time_is_left(stubbed) -> None:
    """TransactionConflict on every try: retried, then refused, inside the answer budget.
    (A conflict is never applied, so nothing needs correcting afterwards.)"""
    stubber, service = stubbed
    conflict = {
        "CancellationReasons": [
            {"Code": "None"},
            {"Code": "TransactionConflict"},
            {"Code": "None"},
            {"Code": "None"},
        ]
    }
    for _ in range(100):
        stubber.add_client_error(
            "transact_write_items", "TransactionCanceledException", "conflict", modeled_fields=conflict
        )
    started = time.monotonic()
    reply = service.answer(CALL, None, None)
    elapsed = time.monotonic() - started
    assert reply.body == [{"action": "talk", "text": reasons.REFUSALS["policy_unavailable"]}]
    assert elapsed < ANSWER_BUDGET_S
    left = len(stubber._queue)
    assert 0 < left < 100 - 2  # it did retry, and it did stop


def test_a_lost_reply_is_corrected_to_the_refusal(stubbed) -> None:
    """The counted write failed, and may still have been applied: the record is overwritten
    with the refusal the caller actually heard."""
    stubber, service = stubbed
    stubber.add_client_error("transact_write_items", "InternalServerError", "lost", http_status_code=500)
    stubber.add_response("transact_write_items", {})  # the refusal, over the possibly stored connect
    reply = service.answer(CALL, None, None)
    assert reply.body == [{"action": "talk", "text": reasons.REFUSALS["policy_unavailable"]}]
    stubber.assert_no_pending_responses()


def test_a_definite_failure_is_not_corrected(stubbed) -> None:
    """A 4xx (throttled) was not applied: no second write is spent on it."""
    stubber, service = stubbed
    stubber.add_client_error("transact_write_items", "ThrottlingException", "slow down", http_status_code=400)
    reply = service.answer(CALL, None, None)
    assert reply.body == [{"action": "talk", "text": reasons.REFUSALS["policy_unavailable"]}]
    stubber.assert_no_pending_responses()


def test_event_conflicts_are_retried(stubbed) -> None:
    """`started` and `ringing` of one call update its summary at the same moment."""
    stubber, service = stubbed
    conflict = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "conflict", modeled_fields=conflict
    )
    stubber.add_response("transact_write_items", {})
    body = json.dumps({"conversation_uuid": "CON-1", "uuid": "u", "status": "ringing"}).encode()
    reply = service.event(None, body, "application/json")
    assert (reply.status, reply.body) == (200, {})
    stubber.assert_no_pending_responses()


def test_an_invalid_event_item_is_400_not_503(stubbed) -> None:
    stubber, service = stubbed
    invalid = {"CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "bad", modeled_fields=invalid
    )
    reply = service.event(
        None, json.dumps({"conversation_uuid": "CON-1", "uuid": "u"}).encode(), "application/json"
    )
    assert reply.status == 400
