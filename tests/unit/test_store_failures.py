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

from chalicelib import prompts
from chalicelib.routes import fallback, health, history
from chalicelib.routes.http import Request
from tests.support import Harness, answer_log_lines, stage_settings

CALL = {"to": "14155550101", "from_user": "jane", "uuid": "u", "conversation_uuid": "CON-1"}


@pytest.fixture
def stubbed():
    """A DynamoDB client that answers only what the test queued (nothing reaches the network)."""
    client = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).client("dynamodb", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield stubber, Harness(client, ALLOWED_COUNTRIES="US")


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("ThrottlingException", 503)])
def test_event_storage_errors(stubbed, code: str, status: int) -> None:
    stubber, harness = stubbed
    stubber.add_client_error("transact_write_items", service_error_code=code, service_message="no")
    reply = harness.post({"conversation_uuid": "CON-1", "uuid": "u"})
    assert reply.status == status
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "reason"),
    [("ValidationException", "invalid_request"), ("InternalServerError", "policy_unavailable")],
)
def test_answer_storage_errors_refuse(stubbed, caplog, code: str, reason: str) -> None:
    stubber, harness = stubbed
    stubber.add_client_error("transact_write_items", service_error_code=code, service_message="no")
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = harness.ask({**CALL, "to": "442079460000"}, base_url=None)  # refused by country: no counters
    assert reply.status == 200
    assert reply.body == [{"action": "talk", "text": prompts.REFUSALS[reason]}]
    (line,) = answer_log_lines(caplog)
    assert (line["decision"], line["reason"]) == ("refuse", reason)


def test_answer_unexpected_error_still_speaks(stubbed) -> None:
    _, harness = stubbed
    harness.adapters.load_settings = lambda: 1 / 0  # any bug at all
    reply = harness.ask(CALL, base_url=None)
    assert (reply.status, reply.body) == (200, [{"action": "talk", "text": prompts.GENERIC}])


def test_unexpected_error_uses_the_stage_text_and_logs_the_decision(stubbed, caplog, monkeypatch) -> None:
    _, harness = stubbed
    settings = stage_settings(REFUSAL_TEXT_INTERNAL_ERROR="Bitte später.", TALK_LANGUAGE="de-DE")
    harness.adapters.load_settings = lambda: settings
    monkeypatch.setattr("chalicelib.routes.answer.decide", lambda *args: 1 / 0)
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = harness.ask(CALL, base_url=None)
    assert reply.body == [{"action": "talk", "text": "Bitte später.", "language": "de-DE"}]
    (line,) = answer_log_lines(caplog)
    assert (line["decision"], line["reason"]) == ("refuse", "internal_error")


def test_conflicts_are_retried_only_while_time_is_left(stubbed) -> None:
    """TransactionConflict on every try: retried, then refused, inside the answer budget.
    (A conflict is never applied, so nothing needs correcting afterwards.)"""
    stubber, harness = stubbed
    conflict = {
        "CancellationReasons": [
            {"Code": "None"},
            {"Code": "TransactionConflict"},
            {"Code": "None"},
            {"Code": "None"},
        ]
    }
    for _ in range(200):
        stubber.add_client_error(
            "transact_write_items", "TransactionCanceledException", "conflict", modeled_fields=conflict
        )
    # Retries stop once a worst-case call (0.6 s) no longer fits in what is left. A budget of
    # 1.5 s leaves about 0.9 s of retries: many, whatever a busy machine makes the rest take.
    harness.adapters.answer_budget_s = budget = 1.5
    started = time.monotonic()
    reply = harness.ask(CALL, base_url=None)
    elapsed = time.monotonic() - started
    assert reply.body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    assert elapsed < budget  # the refusal is spoken inside the budget
    attempts = harness.client.calls.count("transact_write_items")
    assert 2 < attempts < 200  # it did retry, and it did stop


def test_a_lost_reply_is_corrected_to_the_refusal(stubbed) -> None:
    """The counted write failed, and may still have been applied: the record is overwritten
    with the refusal the caller actually heard."""
    stubber, harness = stubbed
    stubber.add_client_error("transact_write_items", "InternalServerError", "lost", http_status_code=500)
    stubber.add_response("transact_write_items", {})  # the refusal, over the possibly stored connect
    reply = harness.ask(CALL, base_url=None)
    assert reply.body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    stubber.assert_no_pending_responses()


def test_a_definite_failure_is_not_corrected(stubbed) -> None:
    """A 4xx (throttled) was not applied: no second write is spent on it."""
    stubber, harness = stubbed
    stubber.add_client_error("transact_write_items", "ThrottlingException", "slow down", http_status_code=400)
    reply = harness.ask(CALL, base_url=None)
    assert reply.body == [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}]
    stubber.assert_no_pending_responses()


def test_event_conflicts_are_retried(stubbed) -> None:
    """`started` and `ringing` of one call update its summary at the same moment."""
    stubber, harness = stubbed
    conflict = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "conflict", modeled_fields=conflict
    )
    stubber.add_response("transact_write_items", {})
    body = json.dumps({"conversation_uuid": "CON-1", "uuid": "u", "status": "ringing"}).encode()
    reply = harness.post(json.loads(body))
    assert (reply.status, reply.body) == (200, {})
    stubber.assert_no_pending_responses()


def test_an_invalid_event_item_is_400_not_503(stubbed) -> None:
    stubber, harness = stubbed
    invalid = {"CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "bad", modeled_fields=invalid
    )
    reply = harness.post({"conversation_uuid": "CON-1", "uuid": "u"})
    assert reply.status == 400


def test_a_failed_correction_still_answers_with_the_refusal(stubbed, monkeypatch) -> None:
    """Whatever the correction of a lost reply raises, Vonage still gets an NCCO (never a 500)."""
    stubber, harness = stubbed
    stubber.add_client_error("transact_write_items", "InternalServerError", "lost", http_status_code=500)

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("chalicelib.storage.call_store.CallStore.settle_answer", broken)
    reply = harness.ask(CALL, base_url=None)
    assert (reply.status, reply.body) == (
        200,
        [{"action": "talk", "text": prompts.REFUSALS["policy_unavailable"]}],
    )


def test_a_limits_refusal_is_one_round_trip_logged_not_stored(stubbed, caplog) -> None:
    stubber, harness = stubbed
    codes = ["None", "None", "ConditionalCheckFailed", "None", "None"]  # the hourly counter is at its limit
    at_limit = {"CancellationReasons": [{"Code": code} for code in codes]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "limit", modeled_fields=at_limit
    )
    with caplog.at_level(logging.INFO, logger="callgate"):
        reply = harness.ask(CALL, base_url=None)
    assert reply.body == [{"action": "talk", "text": prompts.REFUSALS["user_rate_limited"]}]
    stubber.assert_no_pending_responses()  # nothing after the cancelled transaction
    (line,) = answer_log_lines(caplog)
    assert (line["reason"], line["stored"]) == ("user_rate_limited", False)


@pytest.mark.parametrize("route", ["get_call", "list_calls"])
def test_a_read_dynamodb_refuses_is_503_not_400(stubbed, route: str) -> None:
    """A refused read (a missing index, say) is the service's fault, not the client's."""
    stubber, harness = stubbed
    stubber.add_client_error("query", "ValidationException", "The table does not have the specified index")
    if route == "get_call":
        reply = history.get_call(harness.adapters, "CON-1")
    else:
        reply = history.list_calls(harness.adapters, {"user": "jane"})
    assert (reply.status, reply.body) == (503, {"error": "the calls table is unavailable, retry later"})


def test_a_transfer_copy_that_exists_alone_is_not_a_redelivery(stubbed) -> None:
    """Only the first conversation's item tells a redelivery; the copy existing alone is retried (503)."""
    stubber, harness = stubbed
    # CON-a's item, summary and leg, then CON-b's: CON-a's item is new, CON-b's exists
    codes = ["None", "None", "None", "ConditionalCheckFailed", "None", "None"]
    copy_exists = {"CancellationReasons": [{"Code": code} for code in codes]}
    stubber.add_client_error(
        "transact_write_items", "TransactionCanceledException", "x", modeled_fields=copy_exists
    )
    transfer = {"conversation_uuid_from": "CON-a", "conversation_uuid_to": "CON-b", "uuid": "pstn"}
    reply = harness.post(transfer)
    assert reply.status == 503


def test_health_checks_the_table_once_in_a_while(stubbed) -> None:
    """Pollers must not turn /health into a DescribeTable per request."""
    stubber, harness = stubbed
    table = {"Table": {"TableName": "calls", "TableStatus": "ACTIVE"}}
    stubber.add_response("describe_table", table, {"TableName": "t"})  # the stage's CALLS_TABLE
    assert [health.health(harness.adapters).status for _ in range(20)] == [200] * 20
    stubber.assert_no_pending_responses()  # one DescribeTable for 20 checks


def test_every_answer_line_says_whether_the_answer_is_stored(stubbed, caplog) -> None:
    stubber, harness = stubbed
    stubber.add_response("transact_write_items", {})
    with caplog.at_level(logging.INFO, logger="callgate"):
        harness.ask(CALL, base_url=None)
        harness.ask({**CALL, "conversation_uuid": None}, base_url=None)  # nothing to file it under
    assert [(line["reason"], line["stored"]) for line in answer_log_lines(caplog)] == [
        ("allowed", True),
        ("invalid_request", False),
    ]


@pytest.mark.parametrize("direction", [[], ["outbound"], {"a": 1}, 7, None])
def test_a_status_event_with_an_odd_direction_is_stored(stubbed, direction: object) -> None:
    """Vonage's direction is text; anything else is stored as sent and summarised as unknown."""
    stubber, harness = stubbed
    stubber.add_response("transact_write_items", {})
    event = {"conversation_uuid": "CON-1", "uuid": "leg1", "status": "busy", "direction": direction,
             "timestamp": "2026-01-01T00:00:00.000Z"}  # fmt: skip
    reply = harness.post(event)
    assert reply.status == 200
    stubber.assert_no_pending_responses()


def test_the_fallback_answers_whatever_breaks_in_the_store(stubbed, monkeypatch) -> None:
    _, harness = stubbed

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("chalicelib.storage.call_store.CallStore.save_fallback", broken)
    reply = fallback.fallback(
        harness.adapters, Request({"conversation_uuid": "CON-1", "uuid": "x", "reason": "timeout"})
    )
    assert reply.status == 200 and reply.body[0]["action"] == "talk"
