"""callgate: Vonage Voice answer and event webhooks, the call history and the app's login.
Routes and wiring only: each route reads its Chalice request into plain values, calls its
module in chalicelib/routes/ and turns the Reply into a Response."""

from __future__ import annotations

import json
import logging
import os
import sys

from chalice import Chalice, IAMAuthorizer, Response

from chalicelib import logs
from chalicelib.routes import answer, event, fallback, health, history, token
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.secrets import ParameterStore
from chalicelib.settings import Settings
from chalicelib.storage.call_store import CallStore
from chalicelib.storage.client import dynamodb_client
from chalicelib.webhooks import public_base_url

logs.write_to(sys.stdout)  # one JSON object per line, with its level
app = Chalice(app_name="callgate")
app.log.setLevel(logging.INFO)  # decisions are logged at INFO ("callgate" logger)
# No line callgate logs says in which thread or process it was written: the logging module's
# documented switches stop it collecting that for every line (Python docs, logging, "LogRecord
# attributes" and the Logging HOWTO's "Optimization").
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

# The history holds who called whom: in deployed stages only IAM principals may read it
# (SigV4). `chalice local` cannot check SigV4 and serves these routes unauthenticated.
# The webhooks are public URLs: each request must carry Vonage's signature (a JWT in
# Authorization), checked by the routes before anything is read, stored or counted.
iam = IAMAuthorizer()


def _store_for(settings: Settings) -> CallStore:
    return CallStore(dynamodb_client(), settings.calls_table)


_parameters = ParameterStore()
adapters = Adapters(
    store_for=_store_for, read_secret=_parameters.secrets, read_private_key=_parameters.private_key
)

if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:  # in Lambda, whose environment never changes
    # The DynamoDB client (~70 ms to build) is built during the Lambda's init, not inside the
    # first answer's 0.85 s budget. A failure here is the first request's to report.
    try:
        dynamodb_client()
    except Exception:  # the first request reports it (StoreUnavailable) where it can answer
        pass


def _response(reply: Reply) -> Response:
    # An explicit Content-Type: Vonage refuses an NCCO served as anything else.
    headers = {"Content-Type": "application/json", **(reply.headers or {})}
    text = json.dumps(reply.body) if reply.text is None else reply.text
    return Response(body=text, status_code=reply.status, headers=headers)


def _request() -> Request:
    """The current webhook request: everything its signature covers, and its Authorization."""
    request = app.current_request
    headers = request.headers
    return Request(
        request.query_params, request.raw_body, headers.get("content-type"), headers.get("authorization")
    )


def _base_url() -> str | None:
    """Where Vonage reaches this service, for the URLs callgate puts in an NCCO. Host is trusted
    behind API Gateway (it routed the request by it) and under `chalice local`; anywhere else in
    Lambda those URLs need PUBLIC_BASE_URL (the routes log its absence)."""
    request = app.current_request
    stage = request.context.get("stage")
    trusted = stage is not None or "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
    return public_base_url(None, request.headers, stage) if trusted else None


# '*/*': never let Chalice answer Vonage with a 415; bad input gets a spoken refusal.
@app.route("/answer", methods=["GET", "POST"], content_types=["*/*"])
def answer_url() -> Response:
    return _response(answer.answer(adapters, _request(), _base_url()))


@app.route("/event", methods=["GET", "POST"], content_types=["application/json"])
def event_url() -> Response:
    return _response(event.event(adapters, _request(), _base_url()))


@app.route("/fallback", methods=["GET", "POST"], content_types=["*/*"])
def fallback_url() -> Response:
    return _response(fallback.fallback(adapters, _request()))


@app.route("/calls", methods=["GET"], authorizer=iam)
def list_calls() -> Response:
    params = app.current_request.query_params
    return _response(history.list_calls(adapters, dict(params) if params else None))


@app.route("/calls/{conversation_uuid}", methods=["GET"], authorizer=iam)
def get_call(conversation_uuid: str) -> Response:
    params = app.current_request.query_params
    return _response(history.get_call(adapters, conversation_uuid, dict(params) if params else None))


@app.route("/token", methods=["POST"], content_types=["*/*"])
def login_token() -> Response:
    """A Vonage Client SDK JWT for the user of the ID token in Authorization (chalicelib/tokens.py)."""
    headers = app.current_request.headers
    return _response(token.token(adapters, headers.get("authorization"), headers.get("origin")))


# Its own OPTIONS route, not Chalice's CORSConfig (one fixed origin): TOKEN_CORS_ORIGINS lists
# several, and the same code answers under `chalice local` and behind API Gateway.
@app.route("/token", methods=["OPTIONS"])
def login_token_preflight() -> Response:
    return _response(token.preflight(adapters, app.current_request.headers.get("origin")))


@app.route("/health", methods=["GET"])
def health_check() -> Response:
    return _response(health.health(adapters))
