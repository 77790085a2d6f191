"""A user's first POST /token creates their Vonage user, exactly once, over HTTP against the
project's stand-in for Vonage's Users API (devtools/users_api.py), the calls table on DynamoDB
Local; and browser origins in TOKEN_CORS_ORIGINS may call the route."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from chalicelib import keys
from chalicelib.errors import StoreUnavailable
from chalicelib.routes import token
from chalicelib.routes.adapters import Adapters
from chalicelib.storage.call_store import CallStore
from devtools import dynamodb_local as ddb
from devtools.oidc_issuer import LocalIssuer, new_keys, pem
from devtools.users_api import LocalUsersApi
from tests.conftest import chalice_client
from tests.support import stage_settings

APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
AUDIENCE = "callgate-local"
ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def vonage_key() -> Any:
    return new_keys()["rsa-1"]


@pytest.fixture
def users_api(vonage_key: Any) -> Iterator[LocalUsersApi]:
    api = LocalUsersApi(vonage_key.public_key(), application_id=APPLICATION_ID).start()
    yield api
    api.stop()


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


class Login:
    """POST /token's route over a CallStore on DynamoDB Local, Vonage's Users API at `api_url`."""

    def __init__(self, ddb_url: str, table: str, issuer: LocalIssuer, vonage_key: Any, api_url: str) -> None:
        self.issuer = issuer
        self.client = ddb.client(ddb_url)
        self.store = CallStore(self.client, table)
        self.settings = stage_settings(
            CALLS_TABLE=table, TOKEN_ISSUER=issuer.url, TOKEN_AUDIENCE=AUDIENCE,
            VONAGE_APPLICATION_ID=APPLICATION_ID, VONAGE_PRIVATE_KEY=pem(vonage_key).decode(),
            VONAGE_API_URL=api_url,
        )  # fmt: skip
        self.adapters = Adapters(store_for=lambda _: self.store, load_settings=lambda: self.settings)

    def post(self, user: str, **claims: Any) -> Any:
        id_token = self.issuer.id_token(user, AUDIENCE, **claims)
        return token.token(self.adapters, f"Bearer {id_token}")


@pytest.fixture
def login(
    ddb_url: str, fresh_table: str, issuer: LocalIssuer, vonage_key: Any, users_api: LocalUsersApi
) -> Login:
    return Login(ddb_url, fresh_table, issuer, vonage_key, users_api.url)


def test_the_first_login_creates_the_vonage_user_and_a_second_one_does_not(
    login: Login, users_api: LocalUsersApi, vonage_key: Any
) -> None:
    user = new_user()
    first = login.post(user, name="Jane Doe", picture="https://example.com/jane.png")
    assert first.status == 200, first.body
    assert jwt.decode(first.body["token"], vonage_key.public_key(), algorithms=["RS256"])["sub"] == user
    (created,) = users_api.users.values()
    assert (created["name"], created["display_name"], created["image_url"]) == (
        user, "Jane Doe", "https://example.com/jane.png"
    )  # fmt: skip
    assert login.store.vonage_user_known(user)
    assert login.post(user).status == 200
    assert users_api.creates == 1  # the second login asked Vonage nothing
    assert len(users_api.users) == 1


def test_twenty_first_logins_at_once_create_one_user(login: Login, users_api: LocalUsersApi) -> None:
    user = new_user()
    statuses: list[int] = []
    refusals: list[Any] = []
    start = threading.Barrier(20)

    def log_in() -> None:
        start.wait()
        reply = login.post(user)
        statuses.append(reply.status)
        if reply.status != 200:
            refusals.append(reply.body)

    threads = [threading.Thread(target=log_in) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20, refusals
    assert list(users_api.users) == [user]  # Vonage refused every other one: the name exists


def test_a_user_vonage_has_already_logs_in_and_is_remembered(login: Login, users_api: LocalUsersApi) -> None:
    user = new_user()
    made_by_hand = login.post(user)  # as if created in the Dashboard: Vonage has it, we do not know
    assert made_by_hand.status == 200
    login.client.delete_item(TableName=login.settings.calls_table, Key=_typed(keys.vonage_user_key(user)))
    again = login.post(user)
    assert again.status == 200 and users_api.creates == 2 and len(users_api.users) == 1
    assert login.store.vonage_user_known(user)


def _typed(key: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


def test_with_the_users_api_down_a_new_user_gets_503_and_a_known_one_still_logs_in(
    login: Login, users_api: LocalUsersApi
) -> None:
    known, new = new_user(), new_user()
    assert login.post(known).status == 200
    users_api.stop()
    refused = login.post(new)
    assert refused.status == 503 and "token" not in refused.body
    assert refused.headers["Retry-After"] == "5" and refused.headers["Cache-Control"] == "no-store"
    assert refused.body == {"error": "the user's Vonage user cannot be created now, retry later"}
    assert not login.store.vonage_user_known(new)  # nothing half-written
    assert login.post(known).status == 200


@pytest.mark.parametrize("failure", ["outage", "wrong application", "wrong key"])
def test_a_users_api_that_refuses_gets_503_and_no_token(
    ddb_url: str, fresh_table: str, issuer: LocalIssuer, vonage_key: Any, failure: str
) -> None:
    public_key = vonage_key.public_key() if failure != "wrong key" else new_keys()["rsa-1"].public_key()
    application = "ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee" if failure == "wrong application" else APPLICATION_ID
    api = LocalUsersApi(public_key, application_id=application).start()
    api.failing = failure == "outage"
    try:
        login = Login(ddb_url, fresh_table, issuer, vonage_key, api.url)
        user = new_user()
        reply = login.post(user)
        assert reply.status == 503 and "token" not in reply.body and reply.headers["Retry-After"] == "5"
        assert not api.users and not login.store.vonage_user_known(user)
    finally:
        api.stop()


# --- over HTTP, through app.py: the headers a browser sees ------------------------------------------


def browser_login(client: Any, origin: str, issuer: LocalIssuer) -> Any:
    """POST /token from a page of `origin`, for a new user."""
    id_token = issuer.id_token(new_user(), AUDIENCE)
    return client.http.post("/token", headers={"Origin": origin, "Authorization": f"Bearer {id_token}"})


@pytest.fixture
def project(make_project: Any, issuer: LocalIssuer, vonage_key: Any, users_api: LocalUsersApi) -> Any:
    return make_project(
        TOKEN_ISSUER=issuer.url, TOKEN_AUDIENCE=AUDIENCE, VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=pem(vonage_key).decode(), VONAGE_API_URL=users_api.url,
        TOKEN_CORS_ORIGINS=f"{ORIGIN}, http://localhost:5173",
    )  # fmt: skip


def test_a_first_login_over_http(
    project: Any, issuer: LocalIssuer, users_api: LocalUsersApi, vonage_key: Any
) -> None:
    user = new_user()
    with chalice_client(project) as client:
        reply = client.http.post(
            "/token", headers={"Authorization": f"Bearer {issuer.id_token(user, AUDIENCE)}"}
        )
    assert reply.status_code == 200, reply.body
    claims = jwt.decode(json.loads(reply.body)["token"], vonage_key.public_key(), algorithms=["RS256"])
    assert claims["sub"] == user and list(users_api.users) == [user]
    assert "Access-Control-Allow-Origin" not in reply.headers  # no Origin: not a browser's request


def test_a_listed_origins_preflight_and_login_get_the_cors_headers(project: Any, issuer: LocalIssuer) -> None:
    with chalice_client(project) as client:
        preflight = client.http.options("/token", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})  # fmt: skip
        login = browser_login(client, ORIGIN, issuer)
        refused = client.http.post("/token", headers={"Origin": ORIGIN, "Authorization": "Bearer nope"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0
    assert preflight.headers["Vary"] == "Origin"
    assert login.status_code == 200 and login.headers["Access-Control-Allow-Origin"] == ORIGIN
    # a refusal too: the app's code can read why
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origin_gets_no_cors_header(project: Any, issuer: LocalIssuer) -> None:
    other = "https://evil.example.net"
    with chalice_client(project) as client:
        preflight = client.http.options(
            "/token", headers={"Origin": other, "Access-Control-Request-Method": "POST"}
        )
        login = browser_login(client, other, issuer)
    assert preflight.status_code == 403
    assert not any(name.startswith("Access-Control-") for name in preflight.headers)
    assert not any(name.startswith("Access-Control-") for name in login.headers)


def test_without_token_cors_origins_there_is_no_cors(make_project: Any, issuer: LocalIssuer, vonage_key: Any,
                                                     users_api: LocalUsersApi) -> None:  # fmt: skip
    project = make_project(
        TOKEN_ISSUER=issuer.url, TOKEN_AUDIENCE=AUDIENCE, VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=pem(vonage_key).decode(), VONAGE_API_URL=users_api.url,
    )  # fmt: skip
    with chalice_client(project) as client:
        preflight = client.http.options(
            "/token", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        )
        login = browser_login(client, ORIGIN, issuer)
    assert preflight.status_code == 403 and login.status_code == 200
    assert not any(
        name.startswith("Access-Control-") or name == "Vary" for name in [*preflight.headers, *login.headers]
    )


class Unreadable:
    """The calls table failing its reads (`read`) or its writes of a Vonage user (`write`)."""

    def __init__(self, store: CallStore, failing: str) -> None:
        self.store, self.failing = store, failing

    def vonage_user_known(self, user: str) -> bool:
        if self.failing == "read":
            raise StoreUnavailable("DynamoDB ProvisionedThroughputExceededException: slow down")
        return self.store.vonage_user_known(user)

    def remember_vonage_user(self, *args: Any) -> None:
        if self.failing == "write":
            raise StoreUnavailable("DynamoDB InternalServerError: try again")
        self.store.remember_vonage_user(*args)


@pytest.mark.parametrize("failing", ["read", "write"])
def test_a_calls_table_that_fails_only_costs_a_question_to_vonage(
    login: Login, users_api: LocalUsersApi, failing: str
) -> None:
    """The table only saves asking Vonage: Vonage's answer alone decides the token."""
    user = new_user()
    assert login.post(user).status == 200  # created, and remembered
    flaky = Unreadable(login.store, failing)
    login.adapters.store_for = lambda _: flaky  # type: ignore[assignment,return-value]
    again = login.post(user)
    assert again.status == 200 and "token" in again.body
    assert users_api.creates == (2 if failing == "read" else 1)  # a failed read asks Vonage: "exists"
    newcomer = new_user()
    assert login.post(newcomer).status == 200 and newcomer in users_api.users
    assert login.store.vonage_user_known(newcomer) == (failing == "read")


def test_a_users_api_that_cuts_its_answer_short_gets_503_not_500(login: Login) -> None:
    """A reply cut off mid-body (http.client's IncompleteRead) is Vonage unreachable."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        )
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        login.settings = dataclasses.replace(
            login.settings, vonage_api_url=f"http://127.0.0.1:{server.getsockname()[1]}"
        )
        reply = login.post(new_user())
    finally:
        server.close()
    assert reply.status == 503 and reply.headers["Retry-After"] == "5"


def test_a_login_out_of_time_does_not_ask_vonage(login: Login, users_api: LocalUsersApi, monkeypatch) -> None:
    monkeypatch.setattr(token, "LOGIN_BUDGET_S", 0.1)  # the JWKS and the table took the rest
    reply = login.post(new_user())
    assert reply.status == 503 and users_api.creates == 0
