"""POST /token: an ID token from the team's issuer in, a Vonage Client SDK JWT out.

The token route over a local issuer (devtools/oidc_issuer.py) on a free port of this machine:
its JWKS is fetched over HTTP as a real issuer's is. tests/integration/test_token.py goes through
the app as Chalice serves it.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest

from chalicelib import tokens
from chalicelib.errors import ConfigError, SecretUnavailable
from chalicelib.routes import token
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply
from devtools.oidc_issuer import LocalIssuer, new_keys, pem
from tests.support import ROOT, answer_lines_of_this_thread, stage_settings


@contextmanager
def all_lines() -> Iterator[list[str]]:
    """Every line logged meanwhile ("callgate" logger), whatever it is."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log, handler = logging.getLogger("callgate"), Collect()
    log.addHandler(handler)
    try:
        yield lines
    finally:
        log.removeHandler(handler)


APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
AUDIENCE = "callgate-test"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def vonage_key() -> Any:
    return new_keys()["rsa-1"]


@pytest.fixture(autouse=True)
def fresh_issuer_keys() -> Iterator[None]:
    """Each test starts with no issuer keys kept (one IssuerKeys per JWKS URL and container)."""
    tokens.issuer_keys.cache_clear()
    yield
    tokens.issuer_keys.cache_clear()


class KnownUsers:
    """A store in which every user's Vonage user is known to exist."""

    def vonage_user_known(self, user: str) -> bool:
        return True


class Route:
    """POST /token with these settings (the issuer's JWKS fetched over HTTP)."""

    def __init__(self, issuer: LocalIssuer, vonage_key: Any, **settings: str | None) -> None:
        self.issuer = issuer
        env = {"TOKEN_ISSUER": issuer.url, "TOKEN_AUDIENCE": AUDIENCE,
               "VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": pem(vonage_key).decode(),
               **settings}  # fmt: skip
        self.settings = stage_settings(**env)
        # every user's Vonage user exists already: these tests are about the ID token
        # (tests/integration/test_first_login.py creates them)
        self.adapters = Adapters(store_for=lambda _: KnownUsers(), load_settings=lambda: self.settings)  # type: ignore[arg-type,return-value]
        self.fetched_before = issuer.fetches

    @property
    def fetched(self) -> int:
        """JWKS fetches since this route was made."""
        return self.issuer.fetches - self.fetched_before

    def post(self, id_token: str | None, scheme: str = "Bearer") -> Reply:
        return token.token(self.adapters, None if id_token is None else f"{scheme} {id_token}")


def claims_of(token: str, public_key: Any) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    return jwt.decode(token, public_key, algorithms=["RS256"])  # type: ignore[no-any-return]


def test_a_valid_id_token_gets_a_vonage_jwt_that_verifies_with_the_applications_public_key(
    issuer: LocalIssuer, vonage_key: Any
) -> None:
    route = Route(issuer, vonage_key)
    before = int(time.time())
    reply = route.post(issuer.id_token("jane", AUDIENCE))
    assert reply.status == 200, reply.body
    assert set(reply.body) == {"token", "user", "expires_at"} and reply.body["user"] == "jane"
    assert reply.headers == {"Cache-Control": "no-store"}
    claims = claims_of(reply.body["token"], vonage_key.public_key())
    assert claims["sub"] == "jane" and claims["application_id"] == APPLICATION_ID
    assert (
        claims["exp"] - claims["iat"] == 900 and before <= claims["iat"] <= time.time()
    )  # TOKEN_TTL_SECONDS
    assert claims["acl"]["paths"]["/*/knocking/**"] == {}  # a Client SDK user may start calls
    assert reply.body["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    again = claims_of(route.post(issuer.id_token("jane", AUDIENCE)).body["token"], vonage_key.public_key())
    assert again["jti"] != claims["jti"]  # a fresh jti every time
    assert route.fetched == 1  # the JWKS fetched once, then kept


def test_es256_id_tokens_and_the_ttl_setting(issuer: LocalIssuer, vonage_key: Any) -> None:
    route = Route(issuer, vonage_key, TOKEN_TTL_SECONDS="60")
    reply = route.post(issuer.id_token("omar", AUDIENCE, kid="ec-1"))
    assert reply.status == 200, reply.body
    claims = claims_of(reply.body["token"], vonage_key.public_key())
    assert (claims["sub"], claims["exp"] - claims["iat"]) == ("omar", 60)


def _unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    none = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    return f"{none}.{payload}."


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _hs256_with_the_public_key(issuer: LocalIssuer) -> str:
    """The old algorithm-confusion attack: HS256 keyed with the issuer's public key."""
    import hashlib
    import hmac

    public = issuer.jwks()["keys"][0]["n"].encode()
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(b"=")
    payload = _tampered(issuer.id_token("jane", AUDIENCE)).split(".")[1].encode()
    mac = base64.urlsafe_b64encode(hmac.new(public, header + b"." + payload, hashlib.sha256).digest()).rstrip(
        b"="
    )
    return b".".join((header, payload, mac)).decode()


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda i: i.id_token("jane", AUDIENCE, ttl=-120), "expired"),
        (lambda i: i.id_token("jane", "someone-else"), "audience"),
        (lambda i: i.id_token("jane", AUDIENCE, issuer="https://login.example.com"), "issuer"),
        (lambda i: _unsigned(i.id_token("jane", AUDIENCE)), "alg must be RS256 or ES256, not 'none'"),
        (lambda i: _tampered(i.id_token("jane", AUDIENCE)), "signature"),
        (lambda i: _hs256_with_the_public_key(i), "not 'HS256'"),
        (lambda i: i.id_token("jane", AUDIENCE, issued_at=time.time() + 600), "not valid yet"),
        (lambda i: i.id_token("jane", AUDIENCE, nbf=int(time.time()) + 600), "not valid yet"),
        (lambda i: "not.a.jwt", "not a JWT"),
        (lambda i: "x" * 9000, "longer than"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "unsigned", "tampered", "hs256-confusion",
         "issued-in-the-future", "not-before", "garbage", "oversized"],
)  # fmt: skip
def test_a_bad_id_token_gets_401_and_no_jwt(
    issuer: LocalIssuer, vonage_key: Any, make: Any, why: str
) -> None:
    reply = Route(issuer, vonage_key).post(make(issuer))
    assert reply.status == 401 and "token" not in reply.body
    assert why in reply.body["error"], reply.body
    assert reply.headers is not None and reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_token_just_past_its_expiry_is_within_the_leeway(issuer: LocalIssuer, vonage_key: Any) -> None:
    assert Route(issuer, vonage_key).post(issuer.id_token("jane", AUDIENCE, ttl=-10)).status == 200
    assert Route(issuer, vonage_key).post(issuer.id_token("jane", AUDIENCE, ttl=-40)).status == 401


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic amFuZTpzZWNyZXQ=", "Token abc"])
def test_no_bearer_token_is_401(issuer: LocalIssuer, vonage_key: Any, header: str | None) -> None:
    reply = token.token(Route(issuer, vonage_key).adapters, header)
    assert reply.status == 401 and "Authorization: Bearer" in reply.body["error"]


def test_a_token_signed_by_another_key_with_a_known_kid_is_401(issuer: LocalIssuer, vonage_key: Any) -> None:
    impostor = LocalIssuer()
    try:
        forged = impostor.id_token("jane", AUDIENCE, issuer=issuer.url)  # kid rsa-1, another key
    finally:
        impostor.stop()
    reply = Route(issuer, vonage_key).post(forged)
    assert reply.status == 401 and "signature" in reply.body["error"]


def test_an_unknown_kid_does_not_hammer_the_issuer(vonage_key: Any) -> None:
    """Within JWKS_REFRESH_MIN_S of a fetch, an unknown kid (a rotation, or a forger's) is refused
    without fetching the JWKS again."""
    issuer = LocalIssuer().start()
    try:
        route = Route(issuer, vonage_key)
        assert route.post(issuer.id_token("jane", AUDIENCE)).status == 200
        rotated = issuer.id_token("jane", AUDIENCE, kid=issuer.rotate())
        assert route.post(rotated).status == 401  # fetched a moment ago: not again yet
        stranger = jwt.encode({"sub": "jane"}, issuer.keys["rsa-1"], algorithm="RS256",
                              headers={"alg": "RS256", "kid": "nobody"})  # fmt: skip
        for _ in range(5):
            reply = route.post(stranger)
            assert reply.status == 401 and "kid" in reply.body["error"]
        assert route.fetched == 1
    finally:
        issuer.stop()


def test_a_rotated_key_is_fetched_for_its_unknown_kid(
    vonage_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the refresh interval has passed (here: none), a new kid fetches the JWKS again, once."""
    issuer = LocalIssuer().start()
    try:
        route = Route(issuer, vonage_key)
        keys = tokens.IssuerKeys(route.settings.token_jwks_url or "", refresh_min_s=0)
        monkeypatch.setattr(tokens, "issuer_keys", lambda url: keys)
        assert route.post(issuer.id_token("jane", AUDIENCE)).status == 200
        rotated = issuer.id_token("jane", AUDIENCE, kid=issuer.rotate())
        assert route.post(rotated).status == 200 and route.fetched == 2
        assert route.post(rotated).status == 200 and route.fetched == 2  # kept
    finally:
        issuer.stop()


def test_users_outside_allowed_users_or_with_no_usable_name_get_403(
    issuer: LocalIssuer, vonage_key: Any
) -> None:
    route = Route(issuer, vonage_key, ALLOWED_USERS="omar,desk")
    reply = route.post(issuer.id_token("jane", AUDIENCE))
    assert reply.status == 403 and "ALLOWED_USERS" in reply.body["error"] and "token" not in reply.body
    assert route.post(issuer.id_token("omar", AUDIENCE)).status == 200
    for bad in ("jane doe", "a,b", "", "x" * 101):
        reply = Route(issuer, vonage_key).post(issuer.id_token(bad, AUDIENCE))
        assert reply.status == 403 and "not a Vonage user name" in reply.body["error"]
    no_name = Route(issuer, vonage_key, TOKEN_USER_CLAIM="preferred_username")
    assert no_name.post(issuer.id_token("jane", AUDIENCE)).status == 403  # the claim is missing


def test_an_issuer_written_with_a_trailing_slash_must_match_iss_exactly(vonage_key: Any) -> None:
    """Auth0's `iss` is "https://<tenant>.auth0.com/": TOKEN_ISSUER is compared as written."""
    issuer = LocalIssuer().start()
    try:
        route = Route(issuer, vonage_key, TOKEN_ISSUER=issuer.url + "/")
        assert route.post(issuer.id_token("jane", AUDIENCE, issuer=issuer.url + "/")).status == 200
        assert route.post(issuer.id_token("jane", AUDIENCE)).status == 401  # no slash: another issuer
    finally:
        issuer.stop()


def test_the_user_claim_setting(issuer: LocalIssuer, vonage_key: Any) -> None:
    route = Route(issuer, vonage_key, TOKEN_USER_CLAIM="preferred_username")
    reply = route.post(issuer.id_token("0f3c-uuid-like-sub", AUDIENCE, preferred_username="jane"))
    assert reply.status == 200 and reply.body["user"] == "jane"


def test_an_issuer_that_cannot_be_reached_is_503_and_nothing_is_minted(
    issuer: LocalIssuer, vonage_key: Any
) -> None:
    route = Route(issuer, vonage_key)
    issuer.failing = True
    try:
        for _ in range(3):
            reply = route.post(issuer.id_token("jane", AUDIENCE))
            assert reply.status == 503 and "token" not in reply.body
            assert reply.body == {"error": "the identity provider's keys are unavailable, retry later"}
    finally:
        issuer.failing = False
    assert route.fetched == 1  # the failure is kept a few seconds: no fetch per request


def test_no_token_issuer_means_no_route(vonage_key: Any) -> None:
    adapters = Adapters(store_for=lambda _: None, load_settings=stage_settings)  # type: ignore[arg-type,return-value]
    reply = token.token(adapters, "Bearer anything")
    assert reply.status == 404 and reply.body == {"error": "not found"}


def test_the_private_key_from_its_ssm_parameter_is_read_once(issuer: LocalIssuer, vonage_key: Any) -> None:
    reads: list[str] = []

    def read(name: str) -> str:
        reads.append(name)
        return pem(vonage_key).decode()

    route = Route(
        issuer, vonage_key, VONAGE_PRIVATE_KEY=None, VONAGE_PRIVATE_KEY_PARAM="/callgate/test/vonage-key"
    )
    route.adapters.read_private_key = read
    assert route.post(issuer.id_token("jane", AUDIENCE)).status == 200
    assert reads == ["/callgate/test/vonage-key"]  # ParameterStore caches it per container


def test_an_unreadable_private_key_is_503(issuer: LocalIssuer, vonage_key: Any) -> None:
    def unavailable(name: str) -> str:
        raise SecretUnavailable("SSM parameter could not be read: ThrottlingException")

    route = Route(issuer, vonage_key, VONAGE_PRIVATE_KEY=None, VONAGE_PRIVATE_KEY_PARAM="/callgate/test/k")
    route.adapters.read_private_key = unavailable
    reply = route.post(issuer.id_token("jane", AUDIENCE))
    assert (reply.status, reply.body) == (503, {"error": "a secret cannot be read now, retry later"})
    ec_key = pem(new_keys()["ec-1"]).decode()  # a private key, but not one RS256 signs with
    reply = Route(issuer, vonage_key, VONAGE_PRIVATE_KEY=ec_key).post(issuer.id_token("jane", AUDIENCE))
    assert (reply.status, reply.body) == (
        503, {"error": "service misconfigured: the application's private key is not an RSA key (RS256)"},
    )  # fmt: skip


def test_each_mint_is_logged_without_the_token(issuer: LocalIssuer, vonage_key: Any) -> None:
    with answer_lines_of_this_thread("token") as lines, all_lines() as out:
        reply = Route(issuer, vonage_key).post(issuer.id_token("jane", AUDIENCE))
    (line,) = lines
    claims = claims_of(reply.body["token"], vonage_key.public_key())
    assert (line["outcome"], line["user"], line["jti"], line["expires_at"]) == (
        "minted", "jane", claims["jti"], reply.body["expires_at"],
    )  # fmt: skip
    assert line["TokensMinted"] == 1
    assert out and not any(reply.body["token"].split(".")[2] in text for text in out)  # nor its signature


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TOKEN_AUDIENCE": None}, "TOKEN_AUDIENCE"),
        ({"VONAGE_APPLICATION_ID": None}, "VONAGE_APPLICATION_ID"),
        ({"VONAGE_PRIVATE_KEY": None}, "VONAGE_PRIVATE_KEY_PARAM"),
        ({"VONAGE_APPLICATION_ID": "my-app"}, "VONAGE_APPLICATION_ID"),
        ({"TOKEN_TTL_SECONDS": "86401"}, "TOKEN_TTL_SECONDS"),
        ({"TOKEN_ISSUER": "http://login.example.com"}, "TOKEN_ISSUER"),
        ({"TOKEN_ISSUER": None, "TOKEN_TTL_SECONDS": "0"}, "TOKEN_TTL_SECONDS"),  # the route stays off
        ({"TOKEN_JWKS_URL": "ftp://login.example.com/keys"}, "TOKEN_JWKS_URL"),
        ({"VONAGE_PRIVATE_KEY_PARAM": "/callgate/k"}, "not both"),
        ({"VONAGE_PRIVATE_KEY": "hunter2"}, "VONAGE_PRIVATE_KEY"),
        ({"TOKEN_USER_CLAIM": "a claim"}, "TOKEN_USER_CLAIM"),
    ],
)
def test_a_half_configured_token_route_answers_503_by_name_and_the_calls_go_on(
    env: dict[str, str | None], named: str
) -> None:
    base = {"TOKEN_ISSUER": "https://login.example.com/", "TOKEN_AUDIENCE": AUDIENCE,
            "VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nx\n"
            "-----END PRIVATE KEY-----"}  # fmt: skip
    loaded = stage_settings(**base)
    # the issuer kept exactly as `iss` must be (Auth0's ends in "/"); the JWKS beside it
    assert (loaded.token_issuer, loaded.token_jwks_url, loaded.token_problem) == (
        "https://login.example.com/", "https://login.example.com/.well-known/jwks.json", None,
    )  # fmt: skip
    assert "PRIVATE KEY" not in repr(loaded)  # never in a log line or a traceback
    broken = stage_settings(**{**base, **env})  # no ConfigError: the answer URL still answers
    assert broken.token_problem is not None and named in broken.token_problem
    assert broken.vonage_private_key is None and "PRIVATE KEY" not in repr(broken)
    adapters = Adapters(store_for=lambda _: None, load_settings=lambda: broken)  # type: ignore[arg-type,return-value]
    with all_lines() as out:
        reply = token.token(adapters, "Bearer x")
    if broken.token_issuer is None:
        assert reply.status == 404
    else:
        assert reply.status == 503 and reply.body["error"].startswith("service misconfigured: ")
        assert named in reply.body["error"]  # the setting's name, never its value
        assert "hunter2" not in reply.body["error"] and "BEGIN" not in reply.body["error"]
        assert any(named in line for line in out)
    with pytest.raises(ConfigError):  # any other bad setting is still the whole stage's
        stage_settings(**base, CONNECT_TIMEOUT="0")


def test_a_pem_written_on_one_line_with_backslash_n_is_accepted(vonage_key: Any) -> None:
    one_line = pem(vonage_key).decode().replace("\n", "\\n")
    loaded = stage_settings(TOKEN_ISSUER="https://login.example.com", TOKEN_AUDIENCE="a",
                            VONAGE_APPLICATION_ID=APPLICATION_ID, VONAGE_PRIVATE_KEY=one_line)  # fmt: skip
    assert loaded.vonage_private_key == pem(vonage_key).decode().strip()


def test_the_webhooks_never_import_pyjwt_and_the_token_route_imports_one_copy() -> None:
    """`import app` and the webhooks load neither PyJWT nor cryptography (their cold start); the
    token route imports PyJWT once, plainly: one copy, loaded from its own package files."""
    probe = (
        "import sys, json, app\n"
        "before = sorted(m for m in ('jwt', 'cryptography') if m in sys.modules)\n"
        "from chalicelib import tokens\n"
        "import jwt\n"
        "names = sorted(name for name, module in list(sys.modules.items())\n"
        "               if getattr(module, '__file__', None) == jwt.__file__)\n"
        "print(json.dumps({'before': before, 'names': names, 'crypto': jwt.algorithms.has_crypto}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found == {"before": [], "names": ["jwt"], "crypto": True}


def test_the_private_key_parameter_is_read_once_per_container_and_must_be_a_pem(vonage_key: Any) -> None:
    """ParameterStore.private_key, the adapter app.py hands the handlers (a stubbed SSM client)."""
    from chalicelib.secrets import SecretMisconfigured
    from tests.unit.test_signature import ssm_stub

    text = pem(vonage_key).decode()
    store, stubber = ssm_stub(text + "\n")
    assert store.private_key("/callgate/test/secret") == text.strip()
    assert store.private_key("/callgate/test/secret") == text.strip()  # cached: one call queued
    stubber.assert_no_pending_responses()
    store, _ = ssm_stub("not a key")
    with pytest.raises(SecretMisconfigured, match="private key in PEM"):
        store.private_key("/callgate/test/secret")


def test_an_email_names_a_user_only_once_the_issuer_verified_it(issuer: LocalIssuer, vonage_key: Any) -> None:
    """Many issuers put an address the user typed, never proven, in `email`."""
    route = Route(issuer, vonage_key, TOKEN_USER_CLAIM="email")
    claimed = issuer.id_token("attacker", AUDIENCE, email="ceo@corp.example", email_verified=False)
    reply = route.post(claimed)
    assert reply.status == 403 and "email_verified" in reply.body["error"]
    assert route.post(issuer.id_token("x", AUDIENCE, email="ceo@corp.example")).status == 403  # absent
    reply = route.post(issuer.id_token("x", AUDIENCE, email="jane@corp.example", email_verified=True))
    assert (reply.status, reply.body["user"]) == (200, "jane@corp.example")


def test_a_key_the_issuer_withdraws_stops_working_once_the_keys_are_fetched_again(
    vonage_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JWKS is kept for JWKS_MAX_AGE_S (here: a moment), then fetched again: a key the issuer
    withdrew no longer verifies anything."""
    issuer = LocalIssuer().start()
    try:
        route = Route(issuer, vonage_key)
        keys = tokens.IssuerKeys(route.settings.token_jwks_url or "", max_age_s=0.05)
        monkeypatch.setattr(tokens, "issuer_keys", lambda url: keys)
        signed = issuer.id_token("jane", AUDIENCE, kid="ec-1", ttl=3 * 3600)
        assert route.post(signed).status == 200
        del issuer.keys["ec-1"]  # the issuer withdraws the key
        time.sleep(0.1)  # past the keys' age: a lower bound, whatever else the machine is doing
        reply = route.post(signed)
        assert reply.status == 401 and "kid" in reply.body["error"] and route.fetched == 2
    finally:
        issuer.stop()


def test_a_private_key_parameter_stored_on_one_line_is_read(vonage_key: Any) -> None:
    from tests.unit.test_signature import ssm_stub

    text = pem(vonage_key).decode().strip()
    store, _ = ssm_stub(text.replace("\n", "\\n"))
    assert store.private_key("/callgate/test/secret") == text
