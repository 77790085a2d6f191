"""The calls table, defined once for the local setup, the tests and deployment.

One item collection per call: partition `CALL#<conversation_uuid>`, sort keys
`ANSWER#<leg>` and `EVENT#<timestamp>#<digest>`, so one Query returns a whole
call with its events already in time order. Rate-limit counters live under
`RATE#USER#<user>` and `RATE#GLOBAL`, expiring through the TTL attribute.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes expired items (within days)


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


def time_to_live_args(table_name: str) -> dict[str, Any]:
    """Arguments for DynamoDB UpdateTimeToLive (enable once: enabling twice is an error)."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
