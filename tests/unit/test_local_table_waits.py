"""`make run` and the tests wait for DynamoDB Local's table and indexes through its hiccups."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from devtools import dynamodb_local as ddb

ARGS = {"TableName": "calls"}


def _table(status: str, *index_states: str) -> dict[str, Any]:
    names = ("by_user", "by_date")
    indexes = [
        {"IndexName": name, "IndexStatus": state}
        for name, state in zip(names[: len(index_states)], index_states, strict=True)
    ]
    return {"Table": {"TableName": "calls", "TableStatus": status, "GlobalSecondaryIndexes": indexes}}


@pytest.fixture
def stubbed() -> Any:
    client = ddb.client("http://127.0.0.1:9")  # nothing listens: every answer comes from the stub
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_an_internal_failure_while_an_index_builds_is_asked_again(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_table", _table("ACTIVE", "ACTIVE", "CREATING"), ARGS)
    stubber.add_client_error("describe_table", "InternalFailure", http_status_code=500, expected_params=ARGS)
    stubber.add_response("describe_table", _table("ACTIVE", "ACTIVE", "ACTIVE"), ARGS)
    table = ddb.wait_for_table(client, "calls", ddb._indexes_active, "with every index ACTIVE")
    assert table == _table("ACTIVE", "ACTIVE", "ACTIVE")["Table"]


def test_a_table_being_deleted_is_waited_for_until_it_is_gone(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_table", _table("DELETING"), ARGS)
    stubber.add_client_error("describe_table", "ResourceNotFoundException", expected_params=ARGS)
    assert ddb.wait_for_table(client, "calls", ddb._gone, "deleted") is None


def test_a_client_error_is_not_waited_out(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_client_error("describe_table", "ValidationException", expected_params=ARGS)
    with pytest.raises(ClientError, match="ValidationException"):
        ddb.wait_for_table(client, "calls", ddb._active, "ACTIVE")


def test_waiting_gives_up_naming_what_it_last_saw(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_table", _table("ACTIVE", "ACTIVE", "DELETING"), ARGS)
    gave_up = r"not with every index ACTIVE after 0 s: ACTIVE, by_user ACTIVE, by_date DELETING"
    with pytest.raises(ddb.DynamoDBLocalError, match=gave_up):
        ddb.wait_for_table(client, "calls", ddb._indexes_active, "with every index ACTIVE", limit_s=0)
    stubber.add_client_error("describe_table", "InternalFailure", http_status_code=500, expected_params=ARGS)
    with pytest.raises(ddb.DynamoDBLocalError, match=r"not ACTIVE after 0 s: InternalFailure"):
        ddb.wait_for_table(client, "calls", ddb._active, "ACTIVE", limit_s=0)
