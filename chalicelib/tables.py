"""The calls table, defined once for the local setup, the tests and deployment.

One item collection per call: partition `CALL#<conversation_uuid>`, sort keys
`ANSWER#<leg>` and `EVENT#<timestamp>#<digest>`, so one Query returns a whole
call with its events already in time order.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"


def create_table_args(table_name: str) -> dict[str, Any]:
    """Arguments for DynamoDB CreateTable."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
    }
