"""The HS256 check written with the standard library (chalicelib/signature.py) against PyJWT.

Tokens PyJWT makes verify here and tokens `sign` makes decode with PyJWT (byte for byte the
token PyJWT would make); every way a token can be bent (a segment tampered, another secret,
another algorithm, padding, characters outside base64url, a segment too many, JSON that is not
an object, bytes that are not UTF-8) is refused with its reason, and PyJWT refuses it too,
except where this check is deliberately stricter (marked). A hand-written mistake (the MAC over
the wrong bytes, a lenient base64 decoder, the claims trusted before the signature) fails here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.signature import MAX_TOKEN_CHARS, SignatureError, sign, verify
from tests.support import PREVIOUS_SECRET, SECRET

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_000_000
QUERY = {
    "to": "14155550101",
    "from": "14155550100",
    "from_user": "jane",
    "conversation_uuid": "CON-3f1a6c1e-8a2b-4b1c-9d0e-1f2a3b4c5d6e",
    "uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356",
}
PAYLOAD_HASH = hashlib.sha256(json.dumps(QUERY, separators=(",", ":")).encode()).hexdigest()
CLAIMS = {  # what Vonage puts in a token for a GET answer request
    "iat": NOW,
    "jti": "7f3c3f1e-2b1a-4c5d-9e8f-0a1b2c3d4e5f",
    "iss": "Vonage",
    "api_key": "abcd1234",
    "application_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "payload_hash": PAYLOAD_HASH,
}
LONG_SECRET = "k" * 64  # long enough for HS384 and HS512 (RFC 7518 §3.2), and accepted here too
# PyJWT would check the times against the real clock; verify checks them against NOW
PYJWT_OPTIONS: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}
MALFORMED = "malformed token"
ALGORITHM = "token algorithm must be HS256"
MISMATCH = "signature does not match"


def check(token: str, secrets: tuple[str, ...] = (SECRET,), query: dict[str, str] | None = QUERY) -> dict:
    return verify("Bearer " + token, secrets, NOW, 300, query)


def refused(token: str, secrets: tuple[str, ...] = (SECRET,)) -> str:
    """The reason verify gives (it must give one: SignatureError, never another exception)."""
    with pytest.raises(SignatureError) as caught:
        check(token, secrets)
    return str(caught.value)


def pyjwt_decodes(token: str, secret: str = SECRET) -> bool:
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options=PYJWT_OPTIONS)
    except (jwt.PyJWTError, UnicodeEncodeError):  # PyJWT encodes a str token to UTF-8 first
        return False
    return True


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mac(data: bytes, secret: str = SECRET) -> str:
    """HMAC-SHA256 (RFC 7518 §3.2), base64url."""
    return b64(hmac.new(secret.encode(), data, hashlib.sha256).digest())


def segment(value: Any) -> str:
    """A segment of raw bytes, or of a value as compact JSON (as PyJWT writes it)."""
    return b64(value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode())


def hs256(header: Any, payload: Any, secret: str = SECRET) -> str:
    """A token with any header and payload, HMAC-signed over its first two segments (RFC 7515
    §5.1): for the headers PyJWT will not write. Checked against PyJWT below."""
    return signed(segment(header), segment(payload), secret)


def signed(header_segment: str, payload_segment: str, secret: str = SECRET) -> str:
    """Two segments as given (not necessarily base64url), with the MAC over them."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{mac(signing_input.encode('utf-8', 'surrogatepass'), secret)}"


def pyjws(payload: bytes, secret: str = SECRET) -> str:
    """A token PyJWT signs over payload bytes that need not be JSON."""
    return jwt.PyJWS().encode(payload, secret, algorithm="HS256")


TOKEN = jwt.encode(CLAIMS, SECRET, algorithm="HS256")
HEADER_SEGMENT, PAYLOAD_SEGMENT, SIGNATURE_SEGMENT = TOKEN.split(".")


def test_the_test_helpers_make_the_tokens_pyjwt_makes() -> None:
    assert hs256({"alg": "HS256", "typ": "JWT"}, CLAIMS) == TOKEN
    assert pyjws(json.dumps(CLAIMS, separators=(",", ":")).encode()) == TOKEN


# --- tokens that must verify ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "headers"),
    [
        (CLAIMS, None),
        ({**CLAIMS, "sub": "jane", "nbf": NOW - 5}, None),
        ({**CLAIMS, "from_user": "zo\u00eb \u65e5\u672c \U0001f600"}, None),  # PyJWT escapes non-ASCII
        (CLAIMS, {"kid": "signature-secret-1"}),
        (CLAIMS, {"typ": "at+jwt", "cty": "json"}),
        ({"iat": NOW, "payload_hash": PAYLOAD_HASH}, None),
        ({"iat": NOW + 0.5, "exp": NOW + 60, "payload_hash": PAYLOAD_HASH}, None),
    ]
    # one to four characters more: the payload segment ends in every length mod 4 there is
    + [({**CLAIMS, "pad": "x" * n}, None) for n in range(4)],
)
def test_tokens_pyjwt_makes_verify_with_the_claims_pyjwt_reads(claims: dict, headers: dict | None) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers=headers)
    assert check(token) == jwt.decode(token, SECRET, algorithms=["HS256"], options=PYJWT_OPTIONS) == claims


def test_the_payload_segment_lengths_cover_every_remainder() -> None:
    """The padding arithmetic: payload segments of 4n, 4n+2 and 4n+3 characters all verify."""
    tokens = [jwt.encode({**CLAIMS, "pad": "x" * n}, SECRET, algorithm="HS256") for n in range(4)]
    assert {len(token.split(".")[1]) % 4 for token in tokens} == {0, 2, 3}
    assert all(check(token)["pad"] is not None for token in tokens)


def test_raw_utf8_claims_verify() -> None:
    """PyJWT escapes non-ASCII; Vonage's own libraries may not. RFC 7519 §7.2: UTF-8 JSON."""
    claims = {**CLAIMS, "from_user": "zo\u00eb"}
    token = pyjws(json.dumps(claims, ensure_ascii=False).encode("utf-8"))
    assert check(token) == claims


def test_rotation_with_tokens_pyjwt_makes() -> None:
    old = jwt.encode(CLAIMS, PREVIOUS_SECRET, algorithm="HS256")
    assert check(old, (SECRET, PREVIOUS_SECRET)) == CLAIMS
    assert check(TOKEN, (SECRET, PREVIOUS_SECRET)) == CLAIMS
    assert refused(old, (SECRET,)) == MISMATCH
    assert refused(TOKEN, (PREVIOUS_SECRET,)) == MISMATCH
    assert refused(TOKEN, ()) == MISMATCH


def test_duplicate_claim_names_take_the_last_as_pyjwt_does() -> None:
    """RFC 7519 §4 allows a parser that keeps the lexically last member; the MAC covers both."""
    token = pyjws(f'{{"iat":{NOW},"iss":"Mallory","iss":"Vonage","payload_hash":"{PAYLOAD_HASH}"}}'.encode())
    assert check(token)["iss"] == "Vonage"
    assert jwt.decode(token, SECRET, algorithms=["HS256"], options=PYJWT_OPTIONS)["iss"] == "Vonage"


# --- tokens sign makes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "body", "extra"),
    [
        (QUERY, None, {k: v for k, v in CLAIMS.items() if k in ("jti", "api_key", "application_id")}),
        (None, b'{"status": "answered", "uuid": "u"}', {}),
        ({"to": "\u00e9"}, None, {"from_user": "zo\u00eb \U0001f600", "n": 1.5, "nested": {"a": [1, None]}}),
    ],
)
def test_tokens_sign_makes_are_the_tokens_pyjwt_makes(query: Any, body: Any, extra: dict) -> None:
    token = sign(SECRET, NOW + 0.9, query, body, **extra)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options=PYJWT_OPTIONS)
    assert claims["iat"] == NOW and claims["iss"] == "Vonage" and claims.items() >= extra.items()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert token == jwt.encode(claims, SECRET, algorithm="HS256")  # byte for byte
    assert verify("Bearer " + token, (SECRET,), NOW, 300, query, body) == claims
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, PREVIOUS_SECRET, algorithms=["HS256"], options=PYJWT_OPTIONS)


def test_a_token_sign_makes_with_the_previous_secret_is_that_secrets() -> None:
    token = sign(PREVIOUS_SECRET, NOW, QUERY)
    assert jwt.decode(token, PREVIOUS_SECRET, algorithms=["HS256"], options=PYJWT_OPTIONS)["iat"] == NOW
    assert check(token, (SECRET, PREVIOUS_SECRET))["iat"] == NOW


_KWARGS = {"secret", "issued_at", "query", "body", "own_keys"}
_RESERVED = {"iat", "iss", "payload_hash", "sub", "jti", "exp"}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    extra=st.dictionaries(st.text().filter(lambda k: k not in _KWARGS | _RESERVED), _json, max_size=5),
    secret=st.text(min_size=32),
)
def test_any_claims_go_both_ways_with_pyjwt(extra: dict, secret: str) -> None:
    """Whatever JSON claims and whatever secret (non-ASCII included): ours and PyJWT's agree."""
    ours = sign(secret, NOW, QUERY, **extra)
    claims = {"iat": NOW, "iss": "Vonage", "payload_hash": PAYLOAD_HASH, **extra}
    assert ours == jwt.encode(claims, secret, algorithm="HS256")
    assert check(ours, (secret,)) == jwt.decode(ours, secret, algorithms=["HS256"], options=PYJWT_OPTIONS)


# --- tokens that must be refused, and their reasons ---------------------------------------------------


class Case(NamedTuple):
    token: str
    reason: str
    pyjwt_accepts: bool = False  # True only where this check is deliberately stricter than PyJWT


def _with_segment(index: int, value: str, token: str = TOKEN) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def _last_char_bits_set(seg: str) -> str:
    """The same bytes with the unused low bits of the last character set: a non-canonical
    encoding a lenient decoder reads as the same bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(seg) % 4 in (2, 3)
    return seg[:-1] + alphabet[alphabet.index(seg[-1]) | 1]


def _rs256() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(CLAIMS, key, algorithm="RS256")


def _es256() -> str:
    return jwt.encode(CLAIMS, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def _payload_segment_of_length_2_mod_4() -> str:
    for n in range(4):
        if len(candidate := segment({**CLAIMS, "pad": "x" * n})) % 4 == 2:
            return candidate
    raise AssertionError("one of four consecutive lengths is 2 mod 4")


def _claims(**changed: Any) -> str:
    """A token PyJWT signs for CLAIMS with some changed (any JSON, a lone surrogate escaped)."""
    return jwt.encode({**CLAIMS, **changed}, SECRET, algorithm="HS256")


HS256 = {"alg": "HS256", "typ": "JWT"}
PAYLOAD = "payload does not match payload_hash"
ODD_PAYLOAD = _payload_segment_of_length_2_mod_4()
MAC = base64.urlsafe_b64decode(SIGNATURE_SEGMENT + "=")
CASES: dict[str, Case] = {
    # the signature covers the header and the payload as received, with our secret only
    "header tampered": Case(_with_segment(0, segment({**HS256, "kid": "x"})), MISMATCH),
    "header re-ordered": Case(_with_segment(0, segment({"typ": "JWT", "alg": "HS256"})), MISMATCH),
    "payload tampered": Case(_with_segment(1, segment({**CLAIMS, "iat": NOW + 1})), MISMATCH),
    "payload of another token": Case(_with_segment(1, segment({**CLAIMS, "api_key": "other"})), MISMATCH),
    "signature tampered": Case(_with_segment(2, b64(bytes([MAC[0] ^ 1]) + MAC[1:])), MISMATCH),
    "signature truncated": Case(_with_segment(2, b64(MAC[:31])), MISMATCH),
    "signature extended": Case(_with_segment(2, b64(MAC + b"\0")), MISMATCH),
    "signature empty": Case(_with_segment(2, ""), MISMATCH),
    "signature of the header only": Case(_with_segment(2, mac(HEADER_SEGMENT.encode())), MISMATCH),
    "signature of the payload only": Case(_with_segment(2, mac(PAYLOAD_SEGMENT.encode())), MISMATCH),
    "signature over the decoded JSON": Case(
        _with_segment(2, mac(b'{"alg":"HS256","typ":"JWT"}.' + json.dumps(CLAIMS).encode())), MISMATCH
    ),
    "another secret": Case(jwt.encode(CLAIMS, PREVIOUS_SECRET, algorithm="HS256"), MISMATCH),
    "signature non-canonical": Case(_with_segment(2, _last_char_bits_set(SIGNATURE_SEGMENT)), MALFORMED),
    "payload non-canonical": Case(signed(HEADER_SEGMENT, _last_char_bits_set(ODD_PAYLOAD)), MALFORMED),
    # the algorithm is ours to fix (RFC 8725 §3.1), whatever the token says
    "alg none": Case(jwt.encode(CLAIMS, None, algorithm="none"), ALGORITHM),
    "alg none with an HS256 MAC": Case(hs256({"alg": "none"}, CLAIMS), ALGORITHM),
    "alg hs256": Case(hs256({"alg": "hs256"}, CLAIMS), ALGORITHM),
    "alg HS256 and a space": Case(hs256({"alg": "HS256 "}, CLAIMS), ALGORITHM),
    "alg in a list": Case(hs256({"alg": ["HS256"]}, CLAIMS), ALGORITHM),
    "alg null": Case(hs256({"alg": None}, CLAIMS), ALGORITHM),
    "no alg": Case(hs256({"typ": "JWT"}, CLAIMS), ALGORITHM),
    "alg HS384": Case(jwt.encode(CLAIMS, LONG_SECRET, algorithm="HS384"), ALGORITHM),
    "alg HS512": Case(jwt.encode(CLAIMS, LONG_SECRET, algorithm="HS512"), ALGORITHM),
    "alg RS256": Case(_rs256(), ALGORITHM),
    "alg ES256": Case(_es256(), ALGORITHM),
    "alg HS384, junk signature": Case(
        _with_segment(2, "AAAA", jwt.encode(CLAIMS, LONG_SECRET, algorithm="HS384")), ALGORITHM
    ),
    # order: a bad signature is that, whatever the payload holds; a bad header is malformed
    "junk payload, bad signature": Case(_with_segment(1, segment(b"not json")), MISMATCH),
    "array payload, bad signature": Case(_with_segment(1, segment([CLAIMS])), MISMATCH),
    "non-UTF-8 payload, bad signature": Case(_with_segment(1, segment(b"\xff\xfe")), MISMATCH),
    "junk header, bad signature": Case(_with_segment(0, segment(b"not json")), MALFORMED),
    "undecodable payload, alg HS384": Case(
        _with_segment(1, "!", jwt.encode(CLAIMS, LONG_SECRET, algorithm="HS384")), MALFORMED
    ),
    # compact serialisation: three segments of base64url, no padding
    "two segments": Case(f"{HEADER_SEGMENT}.{PAYLOAD_SEGMENT}", MALFORMED),
    "one segment": Case(PAYLOAD_SEGMENT, MALFORMED),
    "a trailing dot": Case(TOKEN + ".", MALFORMED),
    "four segments": Case(TOKEN + "." + SIGNATURE_SEGMENT, MALFORMED),
    "five segments (a JWE)": Case(f"{HEADER_SEGMENT}..{PAYLOAD_SEGMENT}.{SIGNATURE_SEGMENT}.AAAA", MALFORMED),
    "only dots": Case("..", MALFORMED),
    "padded payload": Case(signed(HEADER_SEGMENT, ODD_PAYLOAD + "=="), MALFORMED, pyjwt_accepts=True),
    "padded signature": Case(TOKEN + "=", MALFORMED, pyjwt_accepts=True),
    "padding mid-segment": Case(TOKEN[:-20] + "=" + TOKEN[-20:], MALFORMED),
    "three '=' of padding": Case(signed(HEADER_SEGMENT, ODD_PAYLOAD + "==="), MALFORMED),
    "header of length 1 mod 4": Case(_with_segment(0, HEADER_SEGMENT + "A"), MALFORMED),
    "standard base64 '+'": Case(_with_segment(2, "+" + SIGNATURE_SEGMENT[1:]), MALFORMED),
    "standard base64 '/'": Case(_with_segment(2, "/" + SIGNATURE_SEGMENT[1:]), MALFORMED),
    "a space inside": Case(_with_segment(1, PAYLOAD_SEGMENT[:8] + " " + PAYLOAD_SEGMENT[8:]), MALFORMED),
    "a NUL inside": Case(_with_segment(0, HEADER_SEGMENT + "\x00"), MALFORMED),
    "a '!' inside": Case(_with_segment(2, SIGNATURE_SEGMENT[:-1] + "!"), MALFORMED),
    "a percent-encoded '='": Case(TOKEN + "%3D", MALFORMED),
    "a non-ASCII letter": Case(_with_segment(1, PAYLOAD_SEGMENT[:-1] + "\u00e9"), MALFORMED),
    "a fullwidth letter": Case(_with_segment(0, HEADER_SEGMENT[:-1] + "\uff21"), MALFORMED),
    "an Arabic-Indic digit": Case(_with_segment(2, SIGNATURE_SEGMENT[:-1] + "\u0663"), MALFORMED),
    "a lone surrogate in the header": Case(_with_segment(0, HEADER_SEGMENT[:-1] + "\ud800"), MALFORMED),
    "a lone surrogate in the payload": Case(_with_segment(1, "\udcff" + PAYLOAD_SEGMENT[1:]), MALFORMED),
    "a lone surrogate in the signature": Case(_with_segment(2, SIGNATURE_SEGMENT[:-1] + "\udfff"), MALFORMED),
    "a lone surrogate, signed": Case(signed(HEADER_SEGMENT, PAYLOAD_SEGMENT[:-1] + "\ud800"), MALFORMED),
    # the header: a JSON object in UTF-8, with no extension we do not implement
    "header a JSON array": Case(hs256([HS256], CLAIMS), MALFORMED),
    "header a JSON string": Case(hs256("HS256", CLAIMS), MALFORMED),
    "header null": Case(hs256(None, CLAIMS), MALFORMED),
    "header empty": Case(hs256(b"", CLAIMS), MALFORMED),
    "header not JSON": Case(hs256(b"alg=HS256", CLAIMS), MALFORMED),
    "header not UTF-8": Case(hs256(b'{"alg":"HS256","x":"\xff"}', CLAIMS), MALFORMED),
    "header UTF-16": Case(hs256(json.dumps(HS256).encode("utf-16-le"), CLAIMS), MALFORMED, True),
    "header with a BOM": Case(
        hs256(b"\xef\xbb\xbf" + json.dumps(HS256).encode(), CLAIMS), MALFORMED, pyjwt_accepts=True
    ),
    "header crit": Case(hs256({**HS256, "crit": ["exp"], "exp": 1}, CLAIMS), MALFORMED),
    "header b64 false": Case(hs256({**HS256, "b64": False, "crit": ["b64"]}, CLAIMS), MALFORMED),
    "header crit b64 true": Case(
        hs256({**HS256, "b64": True, "crit": ["b64"]}, CLAIMS), MALFORMED, pyjwt_accepts=True
    ),
    "header kid a number": Case(hs256({**HS256, "kid": 5}, CLAIMS), MALFORMED),
    # the payload, once the signature holds: a JSON object (the claims) in UTF-8
    "payload not JSON": Case(pyjws(b"not json"), MALFORMED),
    "payload empty": Case(pyjws(b""), MALFORMED),
    "payload a JSON array": Case(pyjws(json.dumps([CLAIMS]).encode()), MALFORMED),
    "payload null": Case(pyjws(b"null"), MALFORMED),
    "payload a number": Case(pyjws(str(NOW).encode()), MALFORMED),
    "payload not UTF-8": Case(pyjws(f'{{"iat":{NOW},"x":"'.encode() + b'\xc3\x28"}'), MALFORMED),
    # a surrogate encoded as if it were a character: not UTF-8 (RFC 3629 §3); json.loads(bytes) takes it
    "payload an encoded surrogate": Case(pyjws(b'{"iat":1,"x":"\xed\xa0\x80"}'), MALFORMED, True),
    "payload UTF-16": Case(pyjws(json.dumps(CLAIMS).encode("utf-16")), MALFORMED, pyjwt_accepts=True),
    "payload NaN": Case(pyjws(b'{"iat":NaN}'), MALFORMED, pyjwt_accepts=True),
    "payload -Infinity": Case(pyjws(b'{"iat":-Infinity}'), MALFORMED, pyjwt_accepts=True),
    "payload too deep": Case(pyjws(b'{"a":' + b"[" * 2900 + b"]" * 2900 + b"}"), MALFORMED),
    "payload a 4301-digit number": Case(pyjws(b'{"a":' + b"7" * 4301 + b"}"), MALFORMED),
    "jti a number": Case(_claims(jti=5), MALFORMED),
    "sub a list": Case(_claims(sub=["jane"]), MALFORMED),
    # the claims, once they parse (PyJWT was told not to check these: it accepts them)
    "iss a lone surrogate escape": Case(_claims(iss="\ud800"), "token issuer is not Vonage", True),
    "payload_hash non-ASCII": Case(_claims(payload_hash="\u00e9" * 64), PAYLOAD, True),
    "payload_hash a lone surrogate escape": Case(_claims(payload_hash="\ud800"), PAYLOAD, True),
    "payload_hash a number": Case(_claims(payload_hash=0), PAYLOAD, True),
    "iat a string": Case(_claims(iat=str(NOW)), "token has no iat", True),
    "iat true": Case(_claims(iat=True), "token has no iat", True),
    "iat 1e999 (infinity)": Case(pyjws(b'{"iat":1e999}'), "token is issued in the future", True),
    "iat -1e999": Case(pyjws(b'{"iat":-1e999}'), "token is too old", True),
}


@pytest.mark.parametrize("name", CASES)
def test_a_bent_token_is_refused_with_its_reason(name: str) -> None:
    token, reason, _ = CASES[name]
    assert len(token) <= MAX_TOKEN_CHARS, "the case must reach the parser"
    assert refused(token) == reason


@pytest.mark.parametrize("name", CASES)
def test_pyjwt_refuses_the_same_tokens_except_where_we_are_stricter(name: str) -> None:
    """A check laxer than PyJWT on any of these would be a mistake; where PyJWT accepts, the
    token is refused here on purpose ('=' padding, UTF-16, a BOM or an encoded surrogate, NaN,
    a `crit` we do not implement) or by the claims checks PyJWT was told to skip."""
    token, _, pyjwt_accepts = CASES[name]
    assert pyjwt_decodes(token) is pyjwt_accepts


def test_an_empty_secret_verifies_nothing() -> None:
    """An empty HMAC key is no secret (PyJWT refuses to use one): skipped, never matched."""
    token = hs256(HS256, CLAIMS, secret="")
    assert refused(token, ("",)) == MISMATCH
    assert check(hs256(HS256, CLAIMS), ("", SECRET)) == CLAIMS
    assert not pyjwt_decodes(token, "")


def test_json_escapes_of_lone_surrogates_parse_without_crashing() -> None:
    """Escaped, a lone surrogate is valid JSON (RFC 8259 §8.2): it parses, and is only data."""
    assert check(hs256({**HS256, "kid": "\ud800"}, CLAIMS)) == CLAIMS
    assert check(_claims(api_key="\udfff"))["api_key"] == "\udfff"


def test_no_single_character_change_or_deletion_verifies() -> None:
    """Every character of the token matters: any one replaced or removed is refused (not
    accepted, not crashed) with a signature, format or algorithm ("alg" spelt otherwise) reason."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = sign(SECRET, NOW, QUERY)
    assert check(token)
    for i, char in enumerate(token):
        replacement = "." if char != "." else "A"
        if char != ".":
            replacement = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        for changed in (token[:i] + replacement + token[i + 1 :], token[:i] + token[i + 1 :]):
            assert refused(changed) in (MISMATCH, MALFORMED, ALGORITHM), (i, changed)


def test_the_payload_hash_is_checked_only_once_the_token_parses() -> None:
    """A token for another request: signed, so it parses; its payload_hash is refused."""
    assert refused(jwt.encode({**CLAIMS, "payload_hash": "0" * 64}, SECRET, algorithm="HS256")) == (
        "payload does not match payload_hash"
    )


def test_the_webhook_check_never_imports_pyjwt_nor_cryptography() -> None:
    """Not when imported, and not when it signs, verifies or refuses a token."""
    probe = (
        "import sys, chalicelib.signature as s\n"
        "imported = ('jwt' in sys.modules, 'cryptography' in sys.modules)\n"
        "t = s.sign('x' * 40, 100, {'a': 'b'}); s.verify('Bearer ' + t, ('x' * 40,), 100, 300, {'a': 'b'})\n"
        "for bad in ('Bearer a.b.c', 'Bearer ' + t + 'A', 'Bearer ' + t[:-2]):\n"
        "    try: s.verify(bad, ('x' * 40,), 100, 300, {'a': 'b'})\n"
        "    except s.SignatureError: pass\n"
        "print(*imported, 'jwt' in sys.modules, 'cryptography' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"] * 4
    plain = "import chalicelib.signature, sys; print('jwt' in sys.modules, 'cryptography' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", plain], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"
