"""A local OpenID Connect issuer, for `make run` and the tests: it publishes its keys (JWKS) over
HTTP and signs ID tokens, so POST /token can be tried end to end without an identity provider.

    python -m devtools.oidc_issuer serve                 # http://127.0.0.1:8002 (PORT=…)
    python -m devtools.oidc_issuer token jane            # an ID token for jane (AUD=…, TTL=…)
    python -m devtools.oidc_issuer vonage-key            # a test Vonage application key pair

Its RSA and EC keys are kept in .run/oidc/ so a restarted issuer signs with the same keys, and
`token` (another process) signs what `serve` publishes. Never for production: anyone with the
files can sign anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parent.parent
KEYS_DIR = ROOT / ".run" / "oidc"
DEFAULT_PORT = 8002
DEFAULT_AUDIENCE = "callgate-local"
JWKS_PATH = "/.well-known/jwks.json"


def new_keys() -> dict[str, Any]:
    """A fresh RSA key (kid rsa-1) and EC P-256 key (kid ec-1)."""
    return {"rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1())}  # fmt: skip


def pem(key: Any) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(text: bytes) -> Any:
    return serialization.load_pem_private_key(text, password=None)


class LocalIssuer:
    """An issuer at http://127.0.0.1:<port> (a free port for 0) with an RSA key (RS256, kid
    "rsa-1") and an EC P-256 key (ES256, kid "ec-1"). `fetches` counts JWKS requests."""

    def __init__(self, port: int = 0, keys: dict[str, Any] | None = None) -> None:
        self.keys = keys if keys is not None else new_keys()
        self.fetches = 0
        self.failing = False  # the JWKS answers 500 (an issuer that is down)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == JWKS_PATH:
                    issuer.fetches += 1
                    status, body = (500, {"error": "down"}) if issuer.failing else (200, issuer.jwks())
                elif self.path == "/.well-known/openid-configuration":
                    status, body = (
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": issuer.url + JWKS_PATH,
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                        },
                    )
                else:
                    status, body = 404, {"error": "not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet: the tests read their own output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> LocalIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: only once it runs
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (`python -m devtools.oidc_issuer serve`)."""
        self._server.serve_forever()

    def jwks(self) -> dict[str, Any]:
        published = []
        for kid, key in self.keys.items():
            algorithm = jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else jwt.algorithms.ECAlgorithm
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            alg = "RS256" if kid.startswith("rsa") else "ES256"
            published.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": published}

    def rotate(self) -> str:
        """A new RSA key (the old ones stay published); its kid."""
        kid = f"rsa-{len(self.keys) + 1}"
        self.keys[kid] = new_keys()["rsa-1"]
        return kid

    def id_token(
        self,
        sub: str = "jane",
        audience: str = DEFAULT_AUDIENCE,
        *,
        kid: str = "rsa-1",
        issuer: str | None = None,
        ttl: int = 300,
        issued_at: float | None = None,
        **claims: Any,
    ) -> str:
        """An ID token as the issuer signs one: RS256 with an rsa-* kid, ES256 with ec-*."""
        now = time.time() if issued_at is None else issued_at
        body = {"iss": issuer or self.url, "aud": audience, "sub": sub, "iat": int(now),
                "exp": int(now) + ttl, "jti": str(uuid.uuid4()), **claims}  # fmt: skip
        algorithm = "RS256" if kid.startswith("rsa") else "ES256"
        return jwt.encode(body, self.keys[kid], algorithm=algorithm, headers={"kid": kid})


def stored_keys() -> dict[str, Any]:
    """The keys in .run/oidc/, made on first use."""
    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    files = {kid: KEYS_DIR / f"{kid}.pem" for kid in ("rsa-1", "ec-1")}
    if not all(path.exists() for path in files.values()):
        for kid, key in new_keys().items():
            files[kid].write_bytes(pem(key))
            os.chmod(files[kid], 0o600)
    return {kid: _load(path.read_bytes()) for kid, path in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.oidc_issuer",
        description="A local OpenID Connect issuer (never for production).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="publish the JWKS at http://127.0.0.1:PORT")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    token = commands.add_parser("token", help="print an ID token for a user")
    token.add_argument("sub")
    token.add_argument("--audience", default=os.environ.get("AUD", DEFAULT_AUDIENCE))
    token.add_argument("--issuer", default=os.environ.get("ISSUER", f"http://127.0.0.1:{DEFAULT_PORT}"))
    token.add_argument("--ttl", type=int, default=int(os.environ.get("TTL", "300")))
    commands.add_parser("vonage-key", help="write a test Vonage application key pair to .run/oidc/")
    args = parser.parse_args(argv)
    if args.command == "serve":
        issuer = LocalIssuer(args.port, stored_keys())
        print(f"local OIDC issuer at {issuer.url} (JWKS {issuer.url}{JWKS_PATH}); Ctrl-C stops it")
        sys.stdout.flush()
        try:
            issuer.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "token":
        signer = LocalIssuer(0, stored_keys())  # signs only: its server never serves
        try:
            signer.url = args.issuer.rstrip("/")
            print(signer.id_token(args.sub, args.audience, ttl=args.ttl))
        finally:
            signer.stop()
        return 0
    key = new_keys()["rsa-1"]
    private, public = KEYS_DIR / "vonage-private.pem", KEYS_DIR / "vonage-public.pem"
    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    private.write_bytes(pem(key))
    os.chmod(private, 0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"{private.relative_to(ROOT)} (VONAGE_PRIVATE_KEY); {public.relative_to(ROOT)} verifies its tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
