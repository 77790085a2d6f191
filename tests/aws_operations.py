"""The AWS permissions the code needs, recorded while the test suite runs.

Each API call that botocore makes on behalf of callgate's own code (a frame in `chalicelib/`
up the stack; the tests' table set-up is not the code's) is noted as the IAM action it needs
and what it acts on: `("dynamodb:Query", "index/by_user")`. A DynamoDB transaction needs its
parts' actions (AWS, "Using IAM with DynamoDB transactions": a Put inside TransactWriteItems
is authorised as dynamodb:PutItem). The recorder observes only, through botocore's documented
event system: every client boto3 makes gets a `before-parameter-build` handler (boto3's public
`Session.client`, wrapped), which sees each call's operation and parameters and changes nothing.

tests/unit/test_iam.py, run after every other test, holds the deployed role's policy to what
was recorded.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CODE = str(ROOT / "chalicelib") + "/"
TRANSACTION_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
RECORDED: set[tuple[str, str]] = set()


def permissions(service: str, operation: str, params: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """What one API call needs: (IAM action, resource kind)."""
    if service == "dynamodb" and operation == "TransactWriteItems":
        for part in params.get("TransactItems", ()):
            for kind in part:
                yield f"dynamodb:{TRANSACTION_PARTS[kind]}", "table"
    elif service == "dynamodb":
        index = params.get("IndexName")
        yield f"dynamodb:{operation}", f"index/{index}" if index else "table"
    elif service == "ssm":
        yield f"ssm:{operation}", "parameter"
    else:
        yield f"{service}:{operation}", "*"


def _called_by_the_code() -> bool:
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_filename.startswith(CODE):
            return True
        frame = frame.f_back
    return False


def _record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore's before-parameter-build event: the call about to be made, as the caller made it."""
    if _called_by_the_code():
        RECORDED.update(permissions(model.service_model.service_name, model.name, params))


def install() -> None:
    """Record every call of every client boto3 makes from here on (once per process)."""
    import boto3.session

    original = boto3.session.Session.client
    if getattr(original, "records_permissions", False):
        return

    def client(self: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-parameter-build", _record)
        return made

    client.records_permissions = True  # type: ignore[attr-defined]
    boto3.session.Session.client = client  # type: ignore[method-assign]
