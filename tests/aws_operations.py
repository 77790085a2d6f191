"""The AWS permissions the code needs, recorded while the test suite runs.

Each API call that botocore makes on behalf of callgate's own code (a frame in `chalicelib/`
up the stack; the tests' table set-up is not the code's) is noted as the IAM action it needs
and what it acts on: `("dynamodb:Query", "index/by_user")`. A DynamoDB transaction needs its
parts' actions (AWS, "Using IAM with DynamoDB transactions": a Put inside TransactWriteItems
is authorised as dynamodb:PutItem). The recorder observes only: it calls botocore's own
method with the same arguments and returns its result.

tests/unit/test_iam.py, run after every other test, holds the deployed role's policy to what
was recorded.
"""

from __future__ import annotations

import sys
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
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(CODE):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def install() -> None:
    """Record every call from here on (once per process)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    if getattr(original, "records_permissions", False):
        return

    def recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if _called_by_the_code():
            RECORDED.update(permissions(self.meta.service_model.service_name, operation_name, api_params))
        return original(self, operation_name, api_params)

    recording.records_permissions = True  # type: ignore[attr-defined]
    BaseClient._make_api_call = recording  # type: ignore[method-assign]
