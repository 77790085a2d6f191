"""POST /token through the Chalice app, its JWKS fetched over HTTP from a local issuer
(devtools/oidc_issuer.py), as `make run` does it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from devtools.oidc_issuer import JWKS_PATH, LocalIssuer, new_keys, pem
from devtools.users_api import LocalUsersApi
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
    return new_keys()["rsa-1"]


@pytest.fixture(scope="module")
def users_api(vonage_key: Any) -> Iterator[LocalUsersApi]:
    """Vonage's Users API, as the project's stand-in serves it: a first login creates the user."""
    api = LocalUsersApi(vonage_key.public_key(), application_id=APPLICATION_ID).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def project(make_project, issuer: LocalIssuer, vonage_key: Any, users_api: LocalUsersApi) -> Any:
    return make_project(
        VONAGE_API_URL=users_api.url,
        TOKEN_ISSUER=issuer.url,
        TOKEN_AUDIENCE=AUDIENCE,
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=pem(vonage_key).decode(),
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
        claims = jwt.decode(body["token"], vonage_key.public_key(), algorithms=["RS256"])
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
                               VONAGE_PRIVATE_KEY=pem(vonage_key).decode())  # fmt: skip
        with chalice_client(project) as client:
            reply = post(client, down.id_token("jane", AUDIENCE))
        assert reply.status_code == 503 and "token" not in json.loads(reply.body)
    finally:
        down.stop()


def test_without_token_issuer_the_route_is_404(client: Any, issuer: LocalIssuer) -> None:
    reply = post(client, issuer.id_token("jane", AUDIENCE))
    assert reply.status_code == 404 and json.loads(reply.body) == {"error": "not found"}


@contextmanager
def serving(host: str, answer: Callable[[str], tuple[int, dict[str, str], bytes]]) -> Iterator[str]:
    """An HTTP server on `host` answering GET <path> with `answer(path)`: (status, headers, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answer(self.path)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def redirecting(to: str) -> Any:
    """A server on this machine redirecting every GET to `to`."""
    return serving("127.0.0.1", lambda path: (302, {"Location": to}, b""))


def login_through(make_project: Any, issuer: LocalIssuer, vonage_key: Any, jwks_url: str) -> Any:
    """POST /token with a good ID token, the issuer's keys read from `jwks_url`."""
    project = make_project(TOKEN_ISSUER=issuer.url, TOKEN_JWKS_URL=jwks_url, TOKEN_AUDIENCE=AUDIENCE,
                           VONAGE_APPLICATION_ID=APPLICATION_ID,
                           VONAGE_PRIVATE_KEY=pem(vonage_key).decode())  # fmt: skip
    with chalice_client(project) as client:
        return post(client, issuer.id_token("jane", AUDIENCE))


def test_the_jwks_fetch_follows_no_redirect_to_plain_http_elsewhere(
    make_project, issuer: LocalIssuer, vonage_key: Any
) -> None:
    """An https JWKS URL redirected to plain http could have its keys swapped on the way: keys
    served there (here the issuer's own, which would verify the token) are never fetched."""
    asked: list[str] = []

    def jwks(path: str) -> tuple[int, dict[str, str], bytes]:
        asked.append(path)
        return 200, {"Content-Type": "application/json"}, json.dumps(issuer.jwks()).encode()

    with serving("127.0.0.2", jwks) as elsewhere, redirecting(elsewhere + JWKS_PATH) as redirect:
        reply = login_through(make_project, issuer, vonage_key, redirect + "/refused" + JWKS_PATH)
    assert reply.status_code == 503 and "token" not in json.loads(reply.body)
    assert asked == []


def test_the_jwks_fetch_follows_no_redirect_at_all(
    make_project, issuer: LocalIssuer, vonage_key: Any
) -> None:
    """PyJWT's PyJWKClient follows no redirect, even to the issuer's own keys on this machine:
    TOKEN_JWKS_URL must be where the keys are (the 503 names the redirect in the log)."""
    fetched = issuer.fetches
    with redirecting(issuer.url + JWKS_PATH) as redirect:
        reply = login_through(make_project, issuer, vonage_key, redirect + "/moved" + JWKS_PATH)
    assert reply.status_code == 503 and "token" not in json.loads(reply.body)
    assert issuer.fetches == fetched


def test_a_jwks_with_a_key_for_alg_none_is_503_and_not_fetched_again_at_once(
    make_project, issuer: LocalIssuer, vonage_key: Any
) -> None:
    """Before: PyJWT raised NotImplementedError building that key (PyJWKSet skips only its own
    errors), a 500 for every login, with a JWKS fetch for each; a token whose kid is not in the
    set hit the same key."""
    asked: list[str] = []

    def jwks(path: str) -> tuple[int, dict[str, str], bytes]:
        asked.append(path)
        keys = [*issuer.jwks()["keys"], {"kty": "oct", "alg": "none", "kid": "none-1", "k": "AAAA"}]
        return 200, {"Content-Type": "application/json"}, json.dumps({"keys": keys}).encode()

    with serving("127.0.0.1", jwks) as url:
        project = make_project(TOKEN_ISSUER=issuer.url, TOKEN_JWKS_URL=url + JWKS_PATH,
                               TOKEN_AUDIENCE=AUDIENCE, VONAGE_APPLICATION_ID=APPLICATION_ID,
                               VONAGE_PRIVATE_KEY=pem(vonage_key).decode())  # fmt: skip
        with chalice_client(project) as client:
            replies = [post(client, issuer.id_token("jane", AUDIENCE)),
                       post(client, issuer.id_token("omar", AUDIENCE, kid="ec-1"))]  # fmt: skip
    assert [reply.status_code for reply in replies] == [503, 503]
    unavailable = {"error": "the identity provider's keys are unavailable, retry later"}
    assert [json.loads(reply.body) for reply in replies] == [unavailable, unavailable]
    assert asked == [JWKS_PATH]  # the failure is kept a few seconds: not one fetch per login


def test_an_issuer_trickling_its_jwks_is_503_within_the_fetch_deadline(
    make_project, issuer: LocalIssuer, vonage_key: Any
) -> None:
    """Before: the timeout bounded each socket read, so a byte every 1.5 s held a login for as
    long as the issuer liked (40 s for 20 logins)."""
    body = json.dumps(issuer.jwks()).encode()

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(8):  # 8 bytes, one every 1.5 s: 12 s before the body is whole
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1.5)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{JWKS_PATH}"
        begun = time.monotonic()
        reply = login_through(make_project, issuer, vonage_key, url)
        took = time.monotonic() - begun
    finally:
        server.shutdown()
        server.server_close()
    assert reply.status_code == 503 and "token" not in json.loads(reply.body)
    assert took < 4.0  # the deadline is 1.5 s; the trickle alone would take 12 s


def test_logins_arriving_during_a_jwks_fetch_wait_for_that_fetch_not_a_new_one() -> None:
    """One request to the issuer however many logins arrive while it runs, and none waits past
    the deadline counted from the fetch's start."""
    from chalicelib.tokens import JWKS_DEADLINE_S, DeadlineJWKClient

    asked: list[float] = []

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(time.monotonic())
            time.sleep(JWKS_DEADLINE_S + 3)  # no answer within the deadline

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)  # a second request would be seen at once
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = DeadlineJWKClient(f"http://127.0.0.1:{server.server_address[1]}/jwks", timeout=10)
    waited: list[float] = []

    def login() -> None:
        begun = time.monotonic()
        with pytest.raises(jwt.PyJWKClientConnectionError, match="within"):
            client.fetch_data()
        waited.append(time.monotonic() - begun)

    try:
        first = threading.Thread(target=login)
        first.start()
        time.sleep(JWKS_DEADLINE_S / 2)  # a second wave of logins, the fetch half done
        others = [threading.Thread(target=login) for _ in range(4)]
        for thread in (*others,):
            thread.start()
        for thread in (first, *others):
            thread.join(10)
    finally:
        server.shutdown()
        server.server_close()
    assert len(asked) == 1  # one request to the issuer
    assert len(waited) == 5 and max(waited) < JWKS_DEADLINE_S + 1.0  # the late ones waited less
