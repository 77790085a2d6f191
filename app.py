"""callgate: Vonage Voice answer and event webhooks, and the call history. Routes and wiring only."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from chalice import Chalice, IAMAuthorizer, Response

from chalicelib import logs
from chalicelib.handlers import FAILOVER_MARK, Handlers, Reply
from chalicelib.secrets import ParameterStore
from chalicelib.settings import Settings
from chalicelib.storage.call_store import CallStore
from chalicelib.storage.client import dynamodb_client
from chalicelib.webhooks import public_base_url

logs.write_to(sys.stdout)  # one JSON object per line, with its level
app = Chalice(app_name="callgate")
app.log.setLevel(logging.INFO)  # decisions are logged at INFO ("callgate" logger)
# No line callgate logs says where in the code, or in which thread or process, it was written:
# the logging module's documented switches stop it collecting that for every line (Python
# docs, Logging HOWTO, "Optimization"). It saves about a tenth of an answer's CPU.
logging._srcfile = None
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

# The history holds who called whom: in deployed stages only IAM principals may read it
# (SigV4). `chalice local` cannot check SigV4 and serves these routes unauthenticated.
# The webhooks are public URLs: each request must carry Vonage's signature (a JWT in
# Authorization), checked by the handlers before anything is read, stored or counted.
iam = IAMAuthorizer()


def _store_for(settings: Settings) -> CallStore:
    return CallStore(dynamodb_client(), settings.calls_table)


def _fetch_jwks(url: str, timeout: float) -> bytes:
    from chalicelib import tokens  # POST /token only: see chalicelib/tokens.py

    return tokens.fetch_over_https(url, timeout)


_parameters = ParameterStore()
handlers = Handlers(
    store_for=_store_for,
    read_secret=_parameters.secrets,
    read_private_key=_parameters.private_key,
    fetch_jwks=_fetch_jwks,
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
    return Response(
        body=reply.encoded
        if reply.encoded is not None
        else "{}"
        if reply.body == {}
        else json.dumps(reply.body),
        status_code=reply.status,
        headers={"Content-Type": "application/json"}
        if reply.headers is None
        else {"Content-Type": "application/json", **reply.headers},
    )


def _query() -> dict[str, str] | None:
    params = app.current_request.query_params
    return dict(params) if params else None


def _headers(request: Any) -> Mapping[str, str]:
    """The request's headers by lower-case name. Chalice keeps them lower-cased in a dict
    (`_dict`): asked directly, an absent header (Authorization, unsigned) raises and catches no
    KeyError on every request; anything else is asked the public way."""
    headers = request.headers
    return getattr(headers, "_dict", headers)  # type: ignore[no-any-return]


def _header(name: str) -> str | None:
    """The current request's header `name` (lower case)."""
    return _headers(app.current_request).get(name)


def _webhook_parts() -> tuple[dict[str, str] | None, bytes | None, str | None, str | None]:
    """(query, body, content type, Authorization) of the current webhook request, read in one
    place and passed on by position (the event URL takes them on every event)."""
    request = app.current_request
    params, headers = request.query_params, _headers(request)
    return (
        dict(params) if params else None,
        request.raw_body,
        headers.get("content-type"),
        headers.get("authorization"),
    )


# '*/*': never let Chalice answer Vonage with a 415; bad input gets a spoken refusal.
def _base_url() -> str | None:
    """Where Vonage reaches this service, for the URLs callgate puts in an NCCO. Host is trusted
    behind API Gateway (it routed the request by it) and under `chalice local`; anywhere else in
    Lambda those URLs need PUBLIC_BASE_URL (the handlers log its absence)."""
    request = app.current_request
    stage = request.context.get("stage")
    trusted = stage is not None or "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
    return public_base_url(None, request.headers, stage) if trusted else None


@app.route("/answer", methods=["GET", "POST"], content_types=["*/*"])
def answer() -> Response:
    query, body, content_type, authorization = _webhook_parts()
    return _response(handlers.answer(query, body, content_type, _base_url(), authorization))


@app.route("/event", methods=["GET", "POST"], content_types=["application/json"])
def event() -> Response:
    parts = _webhook_parts()
    if parts[0] and FAILOVER_MARK in parts[0]:  # a voicemail's recording needs this URL too
        return _response(handlers.event(*parts, base_url=_base_url()))
    return _response(handlers.event(*parts))


@app.route("/fallback", methods=["GET", "POST"], content_types=["*/*"])
def fallback() -> Response:
    return _response(handlers.fallback(*_webhook_parts()))


@app.route("/calls", methods=["GET"], authorizer=iam)
def list_calls() -> Response:
    return _response(handlers.list_calls(_query()))


@app.route("/calls/{conversation_uuid}", methods=["GET"], authorizer=iam)
def get_call(conversation_uuid: str) -> Response:
    return _response(handlers.get_call(conversation_uuid, _query()))


@app.route("/token", methods=["POST"], content_types=["*/*"])
def token() -> Response:
    """A Vonage Client SDK JWT for the user of the ID token in Authorization (chalicelib/tokens.py)."""
    return _response(handlers.token(_header("authorization")))


@app.route("/health", methods=["GET"])
def health() -> Response:
    return _response(handlers.health())
