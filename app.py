"""callgate: Vonage Voice answer and event webhooks. Routes and wiring only."""

from __future__ import annotations

import json
import logging

from chalice import Chalice, Response

from chalicelib import aws
from chalicelib.service import Reply, Service
from chalicelib.settings import Settings
from chalicelib.store import CallStore

app = Chalice(app_name="callgate")
app.log.setLevel(logging.INFO)  # decisions are logged at INFO ("callgate" logger)


def _store_for(settings: Settings) -> CallStore:
    return CallStore(aws.dynamodb_client(), settings.calls_table)


service = Service(store_for=_store_for)


def _response(reply: Reply) -> Response:
    # An explicit Content-Type: Vonage refuses an NCCO served as anything else.
    return Response(
        body=json.dumps(reply.body),
        status_code=reply.status,
        headers={"Content-Type": "application/json"},
    )


def _webhook_parts() -> tuple[dict[str, str] | None, bytes | None, str | None]:
    request = app.current_request
    query = dict(request.query_params) if request.query_params else None
    return query, request.raw_body, request.headers.get("content-type")


# '*/*': never let Chalice answer Vonage with a 415; bad input gets a spoken refusal.
@app.route("/answer", methods=["GET", "POST"], content_types=["*/*"])
def answer() -> Response:
    return _response(service.answer(*_webhook_parts()))


@app.route("/event", methods=["GET", "POST"], content_types=["application/json"])
def event() -> Response:
    return _response(service.event(*_webhook_parts()))


@app.route("/calls/{conversation_uuid}", methods=["GET"])
def get_call(conversation_uuid: str) -> Response:
    return _response(service.call(conversation_uuid))


@app.route("/health", methods=["GET"])
def health() -> Response:
    return _response(service.health())
