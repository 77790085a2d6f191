"""Everything that touches DynamoDB: the key layout (keys), the table (table), the client
(client), the latency budget (timing), errors, the transaction helper (transactions) and
the store's operations (call_store). Only call_store and client import botocore or boto3."""
