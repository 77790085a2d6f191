"""Signature checks on their own: clock edges, payload hashes, rotation, and the SSM secret."""

from __future__ import annotations

import hashlib
import json

import boto3
import jwt
import pytest
from botocore.stub import Stubber

from chalicelib.secrets import ParameterStore, SecretMisconfigured, SecretUnavailable
from chalicelib.signature import FUTURE_LEEWAY_S, SignatureError, payload_candidates, sign, verify
from tests.support import PREVIOUS_SECRET, SECRET

NOW = 1_795_000_000.0
QUERY = {"to": "14155550101", "from_user": "jane", "conversation_uuid": "CON-1", "uuid": "u"}


def check(token: str, secrets: tuple[str, ...] = (SECRET,), query=QUERY, body=None, now=NOW) -> dict:
    return verify("Bearer " + token, secrets, now, 300, query, body, own_keys=frozenset({"failover"}))


def test_iat_edges() -> None:
    assert check(sign(SECRET, NOW - 300, QUERY))["iss"] == "Vonage"
    with pytest.raises(SignatureError, match="too old"):
        check(sign(SECRET, NOW - 301, QUERY))
    assert check(sign(SECRET, NOW + FUTURE_LEEWAY_S, QUERY))
    with pytest.raises(SignatureError, match="in the future"):
        check(sign(SECRET, NOW + FUTURE_LEEWAY_S + 1, QUERY))
    no_iat = jwt.encode({"iss": "Vonage"}, SECRET, algorithm="HS256")
    with pytest.raises(SignatureError, match="no iat"):
        check(no_iat)


def test_rotation_accepts_the_previous_secret_only_when_configured() -> None:
    old = sign(PREVIOUS_SECRET, NOW, QUERY)
    assert check(old, (SECRET, PREVIOUS_SECRET))
    with pytest.raises(SignatureError, match="signature does not match"):
        check(old, (SECRET,))


def test_get_payload_is_the_query_in_received_order() -> None:
    token = sign(SECRET, NOW, QUERY)
    reordered = dict(reversed(list(QUERY.items())))
    with pytest.raises(SignatureError, match="payload"):
        check(token, query=reordered)
    with pytest.raises(SignatureError, match="payload"):
        check(token, query={**QUERY, "to": "447700900000"})


def test_post_payload_is_the_raw_body_or_its_compact_form() -> None:
    body = b'{"status": "started",  "uuid": "u", "conversation_uuid": "CON-1"}'
    raw = hashlib.sha256(body).hexdigest()
    compact = hashlib.sha256(json.dumps(json.loads(body), separators=(",", ":")).encode()).hexdigest()
    merged = hashlib.sha256(
        b'{"failover":"1","status":"started","uuid":"u","conversation_uuid":"CON-1"}'
    ).hexdigest()
    for digest in (raw, compact, merged):
        token = jwt.encode({"iat": int(NOW), "payload_hash": digest}, SECRET, algorithm="HS256")
        assert check(token, query={"failover": "1"}, body=body)
    assert payload_candidates(None, b"not json") == [b"not json"]
    tampered = jwt.encode({"iat": int(NOW), "payload_hash": raw}, SECRET, algorithm="HS256")
    with pytest.raises(SignatureError, match="payload"):
        check(tampered, query=None, body=body.replace(b"started", b"completed"))


def test_a_token_without_payload_hash_is_refused_for_any_body() -> None:
    """Vonage's token always has one: without it, a token signed for one request vouches for none."""
    token = jwt.encode({"iat": int(NOW), "iss": "Vonage"}, SECRET, algorithm="HS256")
    for query, body in (({"any": "thing"}, None), (None, b'{"status":"answered"}'), (None, None)):
        with pytest.raises(SignatureError, match="token has no payload_hash"):
            check(token, query=query, body=body)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing Authorization"),
        ("", "missing Authorization"),
        ("Bearer", "not a Bearer token"),
        ("Token abc", "not a Bearer token"),
        ("Bearer " + "a" * 9000, "too long"),
        ("Bearer a.b", "malformed"),
        ("Bearer \u00e9\u00e9.\u00e9.\u00e9", "malformed"),
    ],
)
def test_malformed_authorization(authorization: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(authorization, (SECRET,), NOW, 300, QUERY)


def ssm_stub(value: str | None = None, error: str | None = None) -> tuple[ParameterStore, Stubber]:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    client = session.client("ssm", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    expected = {"Name": "/callgate/test/secret", "WithDecryption": True}
    if error:
        stubber.add_client_error("get_parameter", error, "no", expected_params=expected)
    else:
        parameter = {"Name": "/callgate/test/secret", "Type": "SecureString", "Value": value}
        stubber.add_response("get_parameter", {"Parameter": parameter}, expected)
    stubber.activate()
    return ParameterStore(client), stubber


def test_the_ssm_secret_is_read_once_per_container() -> None:
    store, stubber = ssm_stub(f"{SECRET}\n{PREVIOUS_SECRET}\n")
    assert store.secrets("/callgate/test/secret") == (SECRET, PREVIOUS_SECRET)
    assert store.secrets("/callgate/test/secret") == (SECRET, PREVIOUS_SECRET)  # cached: one call queued
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("value", "error", "raised"),
    [
        (None, "ParameterNotFound", SecretMisconfigured),
        (None, "ThrottlingException", SecretUnavailable),
        (None, "AccessDeniedException", SecretUnavailable),
        ("short", None, SecretMisconfigured),
        (f"{SECRET}\n{SECRET}\n{SECRET}", None, SecretMisconfigured),
    ],
)
def test_an_unusable_ssm_secret(value: str | None, error: str | None, raised: type) -> None:
    store, _ = ssm_stub(value, error)
    with pytest.raises(raised) as caught:
        store.secrets("/callgate/test/secret")
    assert "short" not in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({"to": "\ud800"}, None),  # a lone surrogate: no UTF-8 JSON for it
        (None, b'{"to": "\\ud800"}'),
        (None, b"[" * 5000 + b"]" * 5000),  # deeper than json can write back
        ({"failover": "1"}, b'{"a": ' * 3000 + b"1" + b"}" * 3000),
    ],
)
def test_payloads_that_cannot_be_rewritten_are_refused_not_crashed(query, body) -> None:
    token = jwt.encode({"iat": int(NOW), "payload_hash": "0" * 64}, SECRET, algorithm="HS256")
    with pytest.raises(SignatureError, match="payload"):
        check(token, query=query, body=body)


def test_a_token_for_a_body_does_not_cover_query_keys_added_to_it() -> None:
    """The handlers read query and body merged: a token signed for a body alone must not carry
    a caller, a destination or a status someone put in the query (one token, any call)."""
    body = b'{"conversation_uuid": "CON-1", "recording_url": "https://x/r", "recording_uuid": "r"}'
    token = sign(SECRET, NOW, None, body)
    assert check(token, query=None, body=body)
    assert check(token, query={"failover": "1"}, body=body)  # our own mark on our eventUrl
    for added in ({"from_user": "mallory", "to": "442079460123", "uuid": "leg-x"}, {"status": "busy"}):
        with pytest.raises(SignatureError, match="payload"):
            check(token, query=added, body=body)
        with pytest.raises(SignatureError, match="payload"):
            check(token, query={**added, "failover": "1"}, body=body)
    merged = sign(
        SECRET, NOW, None, json.dumps({"status": "busy", **json.loads(body)}, separators=(",", ":")).encode()
    )
    assert check(merged, query={"status": "busy"}, body=body)  # Vonage's Node.js form: query merged in


def test_a_lone_surrogate_in_the_header_is_a_401_reason_not_a_crash() -> None:
    with pytest.raises(SignatureError, match="malformed"):
        verify("Bearer \ud800.e30.e30", (SECRET,), NOW, 300, QUERY)
