"""The floor of the cold-start bench: the least an answer URL can do as a Lambda function.

On GET /answer it checks `to` with phonenumbers, stores one item with one DynamoDB put_item
and returns a constant NCCO (talk + connect). Its DynamoDB client is built at import, in the
Lambda's init, as callgate builds its own there. Packaged like callgate (bench/floor_package.py,
a Chalice project of its own: the code in deployment.zip, phonenumberslite in the layer), so
callgate's cold start over this one's is what callgate adds to the least it could be.
"""

from __future__ import annotations

import json
import os

import boto3
import phonenumbers
from chalice import Chalice, Response

app = Chalice(app_name="callgate-floor")
TABLE = os.environ.get("CALLS_TABLE", "callgate-floor")
dynamodb = boto3.client("dynamodb")  # the endpoint from AWS_ENDPOINT_URL_DYNAMODB when set
NCCO = json.dumps(
    [
        {"action": "talk", "text": "Please wait while we connect you."},
        {
            "action": "connect",
            "from": "14155550100",
            "endpoint": [{"type": "phone", "number": "14155550101"}],
        },
    ]
)
JSON_HEADERS = {"Content-Type": "application/json"}


@app.route("/answer", methods=["GET"])
def answer() -> Response:
    query = app.current_request.query_params or {}
    to = query.get("to") or ""
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse("+" + to, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        return Response(body="[]", status_code=200, headers=JSON_HEADERS)
    conversation = query.get("conversation_uuid") or ""
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "FLOOR#" + conversation},
            "sk": {"S": "ANSWER#" + (query.get("uuid") or "")},
            "to": {"S": to},
        },
    )
    return Response(body=NCCO, status_code=200, headers=JSON_HEADERS)
