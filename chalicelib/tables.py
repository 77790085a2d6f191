"""The calls table, defined once for the local setup, the tests and deployment.

One item collection per call: partition `CALL#<conversation_uuid>`, sort keys
`ANSWER#<leg>`, `FALLBACK#<leg>`, `EVENT#<timestamp>#<status or kind>#<digest>`
and `SUMMARY`, so one Query returns a whole call with its events in time
order. The SUMMARY item also carries the keys of the two history indexes
(by user, by date). Rate-limit counters live under `RATE#USER#<user>` and
`RATE#GLOBAL`. Every item expires through the TTL attribute.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes expired items (within days)
SUMMARY_SK = "SUMMARY"

# index name -> (partition key attribute, sort key attribute); both strings
INDEXES: dict[str, tuple[str, str]] = {
    "by_user": ("by_user_pk", "by_user_sk"),  # USER#<user>, <started_at>#<conversation_uuid>
    "by_date": ("by_date_pk", "by_date_sk"),  # DATE#<YYYY-MM-DD>, <started_at>#<conversation_uuid>
}


def index_definition(name: str) -> dict[str, Any]:
    pk, sk = INDEXES[name]
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }


def attribute_definitions() -> list[dict[str, str]]:
    names = [PARTITION_KEY, SORT_KEY, *(attr for keys in INDEXES.values() for attr in keys)]
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def create_table_args(table_name: str) -> dict[str, Any]:
    """Arguments for DynamoDB CreateTable."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": attribute_definitions(),
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [index_definition(name) for name in INDEXES],
    }


def time_to_live_args(table_name: str) -> dict[str, Any]:
    """Arguments for DynamoDB UpdateTimeToLive (enable once: enabling twice is an error)."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
