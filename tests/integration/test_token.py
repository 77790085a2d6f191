"""POST /token through the Chalice app, its JWKS fetched over HTTP from a local issuer
(devtools/oidc_issuer.py), as `make run` does it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import tokens
from devtools.oidc_issuer import LocalIssuer, _new_keys, _pem
from tests.conftest import chalice_client

APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
AUDIENCE = "callgate-local"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def vonage_key() -> Any:
    return _new_keys()["rsa-1"]


@pytest.fixture(scope="module")
def project(make_project, issuer: LocalIssuer, vonage_key: Any) -> Any:
    return make_project(
        TOKEN_ISSUER=issuer.url,
        TOKEN_AUDIENCE=AUDIENCE,
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=_pem(vonage_key).decode(),
        ALLOWED_USERS="jane,omar",
    )


def post(client: Any, token: str | None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.http.post("/token", headers=headers)


def test_the_login_flow_over_http(project: Any, issuer: LocalIssuer, vonage_key: Any) -> None:
    fetched = issuer.fetches
    with chalice_client(project) as client:
        reply = post(client, issuer.id_token("jane", AUDIENCE))
        assert reply.status_code == 200, reply.body
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.headers["Cache-Control"] == "no-store"
        body = json.loads(reply.body)
        claims = tokens.pyjwt().decode(body["token"], vonage_key.public_key(), algorithms=["RS256"])
        assert (claims["sub"], claims["application_id"], body["user"]) == ("jane", APPLICATION_ID, "jane")
        assert 0 < claims["exp"] - time.time() <= 900
        assert post(client, issuer.id_token("omar", AUDIENCE, kid="ec-1")).status_code == 200
    assert issuer.fetches == fetched + 1  # one fetch of the JWKS for both


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda i: i.id_token("jane", AUDIENCE, ttl=-300), 401),
        (lambda i: i.id_token("jane", "another-app"), 401),
        (lambda i: i.id_token("jane", AUDIENCE, issuer="https://login.example.com"), 401),
        (lambda i: None, 401),
        (lambda i: i.id_token("mallory", AUDIENCE), 403),  # not in ALLOWED_USERS
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "no-token", "not-allowed"],
)
def test_refusals_over_http(project: Any, issuer: LocalIssuer, make: Any, status: int) -> None:
    with chalice_client(project) as client:
        reply = post(client, make(issuer))
    assert reply.status_code == status and "token" not in json.loads(reply.body)
    if status == 401:
        assert reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_an_issuer_that_is_down_is_503(make_project, vonage_key: Any) -> None:
    down = LocalIssuer().start()
    down.failing = True
    try:
        project = make_project(TOKEN_ISSUER=down.url, TOKEN_AUDIENCE=AUDIENCE,
                               VONAGE_APPLICATION_ID=APPLICATION_ID,
                               VONAGE_PRIVATE_KEY=_pem(vonage_key).decode())  # fmt: skip
        with chalice_client(project) as client:
            reply = post(client, down.id_token("jane", AUDIENCE))
        assert reply.status_code == 503 and "token" not in json.loads(reply.body)
    finally:
        down.stop()


def test_without_token_issuer_the_route_is_404(client: Any, issuer: LocalIssuer) -> None:
    reply = post(client, issuer.id_token("jane", AUDIENCE))
    assert reply.status_code == 404 and json.loads(reply.body) == {"error": "not found"}


def test_the_jwks_fetch_follows_no_redirect_to_plain_http_elsewhere(issuer: LocalIssuer) -> None:
    """An https JWKS URL redirected to plain http could have its keys swapped on the way."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    target: dict[str, str] = {}

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target["url"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        target["url"] = issuer.url + "/.well-known/jwks.json"  # this machine: allowed
        assert json.loads(tokens.fetch_over_https(url, 2.0))["keys"]
        target["url"] = "http://127.0.0.2:9/.well-known/jwks.json"  # plain http elsewhere: refused
        with pytest.raises(tokens.IssuerUnavailable, match=r"redirect to http://127\.0\.0\.2"):
            tokens.fetch_over_https(url, 2.0)
    finally:
        server.shutdown()
        server.server_close()
