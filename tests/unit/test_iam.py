"""The deployed role grants exactly the DynamoDB and SSM operations the code performed while the
test suite ran (tests/aws_operations.py records them), on the resources it performed them on.

Run with the whole suite (`make test`), the two sets must be equal: a new DynamoDB call shows up
as a permission missing, a call no longer made as a permission to remove. Run with part of it
(`make unit`), whatever was recorded must be granted.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.storage.call_store import CallStore
from devtools.package import STAGES, role_policy
from tests.aws_operations import RECORDED, permissions

CALLED_SERVICES = ("dynamodb", "ssm")  # the ones the code calls itself (Lambda writes the logs)


def resource_kind(resource: Any) -> str:
    """A policy Resource as aws_operations names what a call acts on."""
    if resource == {"Fn::GetAtt": ["CallsTable", "Arn"]}:
        return "table"
    if resource == {"Fn::GetAtt": ["FunctionLogs", "Arn"]}:
        return "log-group"
    sub = resource.get("Fn::Sub", "") if isinstance(resource, dict) else ""
    if sub.startswith("${CallsTable.Arn}/index/"):
        return "index/" + sub.rsplit("/", 1)[1]
    if sub in (
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SignatureSecretParam}",
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${PrivateKeyParam}",
    ):
        return "parameter"  # the signature secret's, or the application's private key (POST /token)
    raise AssertionError(f"a resource the role should not name: {resource!r}")


def granted(stage: str) -> set[tuple[str, str]]:
    found = set()
    for statement in role_policy(stage)["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            for action in statement["Action"]:
                if action.startswith("xray:"):
                    assert resource == "*"  # X-Ray has no resource-level permissions
                    continue
                found.add((action, resource_kind(resource)))
    return found


def test_the_role_names_only_its_own_table_indexes_parameter_and_log_group() -> None:
    for stage in STAGES:
        kinds = granted(stage)
        assert {kind for _, kind in kinds} == {
            "table",
            "index/by_user",
            "index/by_date",
            "parameter",
            "log-group",
        }
        assert {action for action, kind in kinds if kind.startswith("index/")} == {"dynamodb:Query"}
        assert {action for action, kind in kinds if kind == "log-group"} == {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }


def test_a_transaction_needs_its_parts_actions() -> None:
    put = {"Put": {"TableName": "t", "Item": {}}}
    update = {"Update": {"TableName": "t", "Key": {}, "UpdateExpression": "SET a = :a"}}
    assert set(permissions("dynamodb", "TransactWriteItems", {"TransactItems": [put, update, put]})) == {
        ("dynamodb:PutItem", "table"),
        ("dynamodb:UpdateItem", "table"),
    }
    assert list(permissions("dynamodb", "Query", {"IndexName": "by_user"})) == [
        ("dynamodb:Query", "index/by_user")
    ]


def test_only_the_codes_calls_are_recorded() -> None:
    """The same DescribeTable, made by a test directly and then by CallStore.check()."""
    client = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).client("dynamodb")
    reply = {"Table": {"TableStatus": "ACTIVE"}}
    before = set(RECORDED)
    RECORDED.discard(("dynamodb:DescribeTable", "table"))
    try:
        with Stubber(client) as stubber:
            stubber.add_response("describe_table", reply, {"TableName": "t"})
            client.describe_table(TableName="t")
            assert ("dynamodb:DescribeTable", "table") not in RECORDED
            stubber.add_response("describe_table", reply, {"TableName": "t"})
            CallStore(client, "t").check()
            assert ("dynamodb:DescribeTable", "table") in RECORDED
    finally:
        RECORDED.update(before)


def _whole_suite(config: pytest.Config, items: list[pytest.Item]) -> bool:
    tiers = {item.path.relative_to(config.rootpath / "tests").parts[0] for item in items}
    narrowed = config.option.keyword or config.option.deselect or config.getoption("lf", default=False)
    return {"unit", "integration"} <= tiers and not narrowed


@pytest.mark.after_all
def test_the_role_grants_what_the_code_called_and_nothing_else(request: pytest.FixtureRequest) -> None:
    called = {(action, kind) for action, kind in RECORDED if action.split(":")[0] in CALLED_SERVICES}
    assert called == RECORDED, "the code called a service the role does not cover"
    for stage in STAGES:
        role = {(action, kind) for action, kind in granted(stage) if action.split(":")[0] in CALLED_SERVICES}
        assert called - role == set(), f"{stage}: the code called these, the role does not allow them"
        if _whole_suite(request.config, request.session.items):
            assert role - called == set(), f"{stage}: the role allows these, no test saw the code call them"
