"""The calls table, defined once for the local setup, the tests and deployment.

String keys `pk`/`sk`, on-demand billing, two history indexes and TTL on
`expires_at`; what goes in the keys is keys.py's business.

The indexes copy whole items (ProjectionType ALL), so their definition never changes when a
listing shows one more field. DynamoDB cannot change an index's projection in place, and
CloudFormation creates or deletes at most one index per stack update ("You can create or
delete only one global secondary index per update": AWS::DynamoDB::Table,
GlobalSecondaryIndexes), so a projection that lists attributes would turn each new listed
field into a deploy that fails. It costs next to nothing: only SUMMARY items carry index keys,
and a listing shows nearly all of a SUMMARY anyway (all but `event_count` and
`expires_at`), so each index holds about the same bytes as an INCLUDE list would.
"""

from __future__ import annotations

from typing import Any

from chalicelib.keys import INDEXES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE


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
