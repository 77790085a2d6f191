"""Signed webhooks through the app's real wiring: only Vonage's JWT lets a request in.

Every token in the table is tried on every webhook route and method. A rejected
request gets 401 with a short reason, and changes nothing: no item is written and
no rate-limit counter moves.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from chalicelib.signature import sign
from tests.conftest import chalice_client
from tests.support import PREVIOUS_SECRET, SECRET, bearer

WRONG_SECRET = "not-the-secret-0123456789abcdefghijklmnop"
JSON = {"Content-Type": "application/json"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(query: dict[str, str] | None, body: bytes | None, **extra: Any) -> dict[str, Any]:
    token = sign(SECRET, time.time(), query, body)
    return {**jwt.decode(token, options={"verify_signature": False}), **extra}


def _unhashed(query: dict[str, str] | None, body: bytes | None) -> dict[str, Any]:
    return {name: value for name, value in _claims(query, body).items() if name != "payload_hash"}


# name -> (build the Authorization value from the request's query and body, expected status)
Token = Callable[[dict[str, str] | None, bytes | None], str | None]
TOKENS: dict[str, tuple[Token, int]] = {
    "valid": (lambda q, b: bearer(SECRET, q, b), 200),
    "previous secret": (lambda q, b: bearer(PREVIOUS_SECRET, q, b), 200),
    "wrong secret": (lambda q, b: bearer(WRONG_SECRET, q, b), 401),
    "alg none": (lambda q, b: "Bearer " + jwt.encode(_claims(q, b), None, algorithm="none"), 401),
    "HS512": (lambda q, b: "Bearer " + jwt.encode(_claims(q, b), SECRET * 2, algorithm="HS512"), 401),
    "RS256 header": (
        lambda q, b: f"Bearer {_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(_claims(q, b))}.c2lnbmF0dXJl",
        401,
    ),
    "stale": (lambda q, b: bearer(SECRET, q, b, issued_at=time.time() - 301), 401),
    "future": (lambda q, b: bearer(SECRET, q, b, issued_at=time.time() + 120), 401),
    "tampered payload": (lambda q, b: bearer(SECRET, {"to": "447700900000"}, b'{"tampered": true}'), 401),
    "not Vonage": (lambda q, b: bearer(SECRET, q, b, iss="Mallory"), 401),
    # rightly signed, but vouching for no payload: good for any body
    "no payload_hash": (lambda q, b: "Bearer " + jwt.encode(_unhashed(q, b), SECRET, algorithm="HS256"), 401),
    "missing header": (lambda q, b: None, 401),
    "junk token": (lambda q, b: "Bearer not.a.jwt", 401),
    "not bearer": (lambda q, b: "Basic " + base64.b64encode(b"vonage:secret").decode(), 401),
}


def requests(conversation: str) -> list[tuple[str, str, dict[str, str] | None, bytes | None, int]]:
    """(route, method, query, body, status when signed): every webhook route, GET and POST."""
    answer = {"from_user": "jane", "to": "14155550101", "conversation_uuid": conversation, "uuid": "app-leg"}
    event = {"conversation_uuid": conversation, "uuid": "pstn-leg", "status": "started",
             "direction": "outbound", "timestamp": "2026-11-20T12:00:00.000Z"}  # fmt: skip
    fallback = {**answer, "reason": "Connection timed out"}
    return [
        ("/answer", "GET", answer, None, 200),
        ("/answer", "POST", None, json.dumps(answer).encode(), 200),
        ("/event", "POST", None, json.dumps(event).encode(), 200),
        ("/event", "GET", {**event, "status": "ringing"}, None, 200),
        ("/fallback", "GET", fallback, None, 200),
        ("/fallback", "POST", None, json.dumps({**fallback, "uuid": "post-leg"}).encode(), 200),
    ]


def send(
    client: Any, route: str, method: str, query: dict | None, body: bytes | None, auth: str | None
) -> Any:
    path = route + ("?" + urlencode(query) if query else "")
    headers = {**JSON, **({"Authorization": auth} if auth else {})}
    if method == "GET":
        return client.http.get(path, headers=headers)
    return client.http.post(path, headers=headers, body=body)


def count(ddb_client: Any, table: str) -> int:
    return ddb_client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]


@pytest.fixture
def signed_project(make_project, fresh_table: str):
    return make_project(
        CALLS_TABLE=fresh_table,
        ALLOW_UNSIGNED_WEBHOOKS=None,
        VONAGE_SIGNATURE_SECRET=SECRET,
        VONAGE_SIGNATURE_SECRET_PREVIOUS=PREVIOUS_SECRET,
    )


@pytest.mark.parametrize("name", [name for name, (_, status) in TOKENS.items() if status == 401])
def test_every_forged_token_is_401_on_every_route_and_changes_nothing(
    signed_project, ddb_client, fresh_table: str, conversation_uuid: str, name: str, caplog
) -> None:
    build, _ = TOKENS[name]
    with chalice_client(signed_project) as client, caplog.at_level("WARNING", logger="callgate"):
        for route, method, query, body, _ in requests(conversation_uuid):
            response = send(client, route, method, query, body, build(query, body))
            assert response.status_code == 401, (name, route, method, response.body)
            assert response.json_body["error"].startswith("unauthorized: "), response.json_body
    assert count(ddb_client, fresh_table) == 0  # no call item, no counter
    lines = [json.loads(r.getMessage()) for r in caplog.records if "signature_rejected" in r.getMessage()]
    assert len(lines) == 6 and all(set(line) == {"log", "route", "reason"} for line in lines)
    assert SECRET not in caplog.text and "eyJ" not in caplog.text  # no secret, no token


@pytest.mark.parametrize("name", ["valid", "previous secret"])
def test_a_signed_request_works_as_before_on_every_route(
    signed_project, ddb_client, fresh_table: str, conversation_uuid: str, name: str
) -> None:
    build, _ = TOKENS[name]
    with chalice_client(signed_project) as client:
        for route, method, query, body, status in requests(conversation_uuid):
            response = send(client, route, method, query, body, build(query, body))
            assert response.status_code == status, (route, method, response.body)
            if route in ("/answer", "/fallback"):
                assert isinstance(response.json_body, list) and response.json_body[0]["action"] == "talk"
        record = client.http.get(f"/calls/{conversation_uuid}").json_body
    assert record["answer"]["decision"] == "connect"
    assert [e["status"] for e in record["events"]] == ["started", "ringing"]
    assert len(record["fallbacks"]) == 2


def test_a_signed_failover_event_with_its_mark(signed_project, conversation_uuid: str) -> None:
    """The answer connect's eventUrl carries ?failover=1: Vonage signs the body it posts there."""
    busy = json.dumps({"conversation_uuid": conversation_uuid, "uuid": "pstn", "status": "busy",
                       "direction": "outbound"}).encode()  # fmt: skip
    with chalice_client(signed_project) as client:
        response = client.http.post("/event?failover=1", headers={**JSON, "Authorization": bearer(body=busy)},
                                    body=busy)  # fmt: skip
    assert (response.status_code, response.json_body[0]["action"]) == (200, "talk")


def test_forged_answers_cannot_exhaust_the_rate_limits(make_project, fresh_table: str) -> None:
    """80 forged answer requests in a minute (each from another user) leave the next signed call connected."""
    limits = {"MAX_CALLS_PER_MINUTE": "60", "MAX_CALLS_PER_USER_PER_HOUR": "20"}
    project = make_project(
        CALLS_TABLE=fresh_table, ALLOW_UNSIGNED_WEBHOOKS=None, VONAGE_SIGNATURE_SECRET=SECRET, **limits
    )
    with chalice_client(project) as client:
        for n in range(80):
            query = {"from_user": f"user-{n}" if n % 2 else "victim", "to": "14155550101",
                     "conversation_uuid": f"CON-forged-{n}", "uuid": f"leg-{n}"}  # fmt: skip
            forged = bearer(WRONG_SECRET, query) if n % 3 else None
            assert send(client, "/answer", "GET", query, None, forged).status_code == 401
        query = {
            "from_user": "victim",
            "to": "14155550101",
            "conversation_uuid": "CON-real",
            "uuid": "leg-real",
        }
        response = send(client, "/answer", "GET", query, None, bearer(query=query))
    assert response.status_code == 200
    assert [action["action"] for action in response.json_body] == ["talk", "connect"]


def test_unsigned_requests_pass_only_where_the_stage_allows_them(make_project, conversation_uuid) -> None:
    query = f"/answer?from_user=jane&to=14155550101&conversation_uuid={conversation_uuid}&uuid=u"
    with chalice_client(make_project()) as client:  # the committed local stage
        assert client.http.get(query).json_body[-1]["action"] == "connect"
    with chalice_client(make_project(ALLOW_UNSIGNED_WEBHOOKS=None)) as client:  # like dev and prod, no secret
        refused = client.http.get(query)
        event = client.http.post("/event", headers=JSON, body=b'{"conversation_uuid": "c", "uuid": "u"}')
        health = client.http.get("/health")
    assert refused.status_code == 200 and refused.json_body[0]["action"] == "talk"  # misconfigured: refuses
    assert event.status_code == 503
    assert (health.status_code, health.json_body["status"]) == (503, "misconfigured")


def test_a_token_signed_for_one_body_places_no_call_through_query_keys(
    signed_project, ddb_client, fresh_table: str, conversation_uuid: str
) -> None:
    """A genuine token (for an event body with no caller or number) replayed with a caller and a
    destination in the query: 401 on every route, nothing stored, nothing counted."""
    record = {"conversation_uuid": conversation_uuid, "recording_url": "https://x/r", "recording_uuid": "r-1"}
    body = json.dumps({**record, "timestamp": "2026-11-20T12:00:00.000Z"}).encode()
    token = bearer(body=body)
    added = "from_user=mallory&to=442079460123&uuid=leg-forged"
    with chalice_client(signed_project) as client:
        for path in (f"/answer?{added}", f"/fallback?{added}", "/event?failover=1&status=busy&uuid=pstn"):
            response = client.http.post(path, headers={**JSON, "Authorization": token}, body=body)
            assert response.status_code == 401, (path, response.body)
        genuine = client.http.post("/event", headers={**JSON, "Authorization": token}, body=body)
    assert genuine.status_code == 200  # the token is good for what it signed
    assert count(ddb_client, fresh_table) == 2  # that event and its call's summary, nothing else


def test_a_signed_json_body_resent_as_a_form_is_401_and_places_no_call(
    signed_project, ddb_client, fresh_table: str, conversation_uuid: str
) -> None:
    """Before: the check read the body as JSON whatever its Content-Type, the handler as a form,
    so a captured token for a JSON body whose `to` held `x&from_user=mallory&to=…` connected
    mallory to +16135550123 when the same bytes came back as a form."""
    smuggled = "x&from_user=mallory&to=16135550123&conversation_uuid=CON-forged&uuid=leg-forged&z="
    payload = {"from_user": "jane", "conversation_uuid": conversation_uuid, "uuid": "app-leg", "to": smuggled}
    body = json.dumps(payload).encode()
    token = bearer(body=body)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": token}
    with chalice_client(signed_project) as client:
        for path in ("/answer", "/fallback"):
            response = client.http.post(path, headers=form, body=body)
            assert response.status_code == 401, (path, response.body)
        genuine = client.http.post("/answer", headers={**JSON, "Authorization": token}, body=body)
    assert genuine.status_code == 200  # as JSON, what was signed: `to` is neither number nor user
    assert not any(action["action"] == "connect" for action in json.loads(genuine.body))
    keys = [item["pk"]["S"] for item in ddb_client.scan(TableName=fresh_table, ConsistentRead=True)["Items"]]
    assert not [key for key in keys if "mallory" in key or "CON-forged" in key]  # no call, no count


def test_a_form_body_signed_as_the_handler_reads_it_is_accepted(
    signed_project, conversation_uuid: str
) -> None:
    """Read the same way by both: a form's fields, as a JSON object, are what its token covers."""
    body = urlencode({"from_user": "jane", "to": "14155550101", "conversation_uuid": conversation_uuid,
                      "uuid": "form-leg"}).encode()  # fmt: skip
    form_type = "application/x-www-form-urlencoded"
    token = "Bearer " + sign(SECRET, time.time(), None, body, content_type=form_type)
    with chalice_client(signed_project) as client:
        response = client.http.post(
            "/answer", headers={"Content-Type": form_type, "Authorization": token}, body=body
        )
    assert response.status_code == 200, response.body
    assert any(action["action"] == "connect" for action in json.loads(response.body))
