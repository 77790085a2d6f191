"""The calls table, defined once for the local setup, the tests and deployment.

String keys `pk`/`sk`, on-demand billing, two history indexes and TTL on
`expires_at`; what goes in the keys is storage/keys.py's business. The indexes
copy only what a listing shows (INCLUDE), so an event that changes nothing listed
writes nothing to them, and a page of calls costs the same whatever the calls hold.
"""

from __future__ import annotations

from typing import Any

from chalicelib.keys import INDEXES, LISTED_ATTRIBUTES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE


def index_definition(name: str) -> dict[str, Any]:
    pk, sk = INDEXES[name]
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LISTED_ATTRIBUTES)},
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
