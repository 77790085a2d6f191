"""A local stand-in for Vonage's Users API, for `make run` and the tests: POST /token's first
login of a user creates their Vonage user here, over HTTP, as it would at api.nexmo.com.

    python -m devtools.users_api serve   # http://127.0.0.1:8003 (PORT=…): the local VONAGE_API_URL
    python -m devtools.users_api list    # the users it holds (asked with an application JWT)

It behaves as Vonage's does for what callgate uses (developer.vonage.com, Users API v1):
- `POST /v1/users` with `name` (and `display_name`, `image_url`): 201 and the user with its
  `id` ("USR-…"); 409 with the error code `user:error:duplicate-name` for a name it has;
  400 (`system:error:invalid-json` / `user:error:validation`) for a body it cannot read;
- every request needs `Authorization: Bearer <application JWT>`: RS256, signed with the
  application's private key, `application_id`, `iat`, `exp` not passed, `jti`; anything else
  is 401 (`system:error:invalid-token`);
- `GET /v1/users` lists the users (`_embedded.users`), `GET /v1/users?name=jane` finds one.

The application's public key is .run/oidc/vonage-public.pem (`python -m devtools.oidc_issuer
vonage-key` writes the pair). Users live in memory: a restarted stand-in has none. Never for
production.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_KEY = ROOT / ".run" / "oidc" / "vonage-public.pem"
PRIVATE_KEY = ROOT / ".run" / "oidc" / "vonage-private.pem"
DEFAULT_PORT = 8003
USERS = "/v1/users"


class Server(ThreadingHTTPServer):
    """Takes many logins at once, as Vonage does: a listen backlog of 5 (socketserver's default)
    would leave the 20 connections of 20 first logins waiting on SYN retries."""

    request_queue_size = 128
    daemon_threads = True


def _error(status: int, title: str, code: str, detail: str) -> tuple[int, dict[str, Any]]:
    """An error as Vonage's APIs write one (RFC 7807 problem details with Vonage's `code`)."""
    return status, {"title": title, "type": f"https://developer.vonage.com/api-errors#{code}",
                    "code": code, "detail": detail, "instance": str(uuid.uuid4())}  # fmt: skip


class LocalUsersApi:
    """The Users API at http://127.0.0.1:<port> (a free port for 0), trusting tokens that
    `public_key` verifies (an RSA public key object or PEM). `creates` counts POST /v1/users."""

    def __init__(self, public_key: Any, port: int = 0, application_id: str | None = None) -> None:
        self.public_key = public_key
        self.application_id = application_id  # when set, a token for another application is 401
        self.users: dict[str, dict[str, Any]] = {}  # name -> user
        self.creates = 0
        self.failing = False  # answer 503 to everything (Vonage having an outage)
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(*api.get(self.path, self.headers.get("Authorization")))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self._reply(*api.post(self.path, self.headers.get("Authorization"), body))

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet: the tests read their own output
                pass

        self._server = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> LocalUsersApi:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def unauthorized(self, authorization: str | None) -> tuple[int, dict[str, Any]] | None:
        """401 unless `authorization` is a Bearer application JWT of this application."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "Unauthorized", "system:error:invalid-token", "You did not provide a token.")
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"],
                                options={"require": ["application_id", "iat", "exp", "jti"]})  # fmt: skip
        except jwt.PyJWTError as exc:
            return _error(401, "Unauthorized", "system:error:invalid-token", f"Invalid token: {exc}")
        if self.application_id is not None and claims["application_id"] != self.application_id:
            return _error(401, "Unauthorized", "system:error:invalid-token", "Token for another application.")
        return None

    def post(self, path: str, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.failing:
            return _error(503, "Service Unavailable", "system:error:unavailable", "Try again later.")
        if urlsplit(path).path != USERS:
            return _error(404, "Not Found", "system:error:not-found", f"No route {path}.")
        refused = self.unauthorized(authorization)
        if refused is not None:
            return refused
        try:
            fields = json.loads(body)
        except ValueError:
            return _error(400, "Bad Request", "system:error:invalid-json", "The body is not JSON.")
        name = fields.get("name") if isinstance(fields, dict) else None
        if not isinstance(name, str) or not name:
            return _error(400, "Bad Request", "user:error:validation", "name is required.")
        with self.lock:  # two logins at once: one user, the other gets the duplicate-name error
            self.creates += 1
            if name in self.users:
                return _error(409, "Conflict", "user:error:duplicate-name", f"User {name!r} already exists.")
            user_id = f"USR-{uuid.uuid4()}"
            user = {
                "id": user_id,
                "name": name,
                "display_name": fields.get("display_name") or name,
                "image_url": fields.get("image_url"),
                "_links": {"self": {"href": f"{self.url}{USERS}/{user_id}"}},
            }
            self.users[name] = user
        return 201, user

    def get(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        if self.failing:
            return _error(503, "Service Unavailable", "system:error:unavailable", "Try again later.")
        parts = urlsplit(path)
        refused = self.unauthorized(authorization)
        if refused is not None:
            return refused
        with self.lock:
            users = list(self.users.values())
        if parts.path.startswith(USERS + "/"):
            wanted = parts.path[len(USERS) + 1 :]
            found = [user for user in users if user["id"] == wanted]
            return (
                (200, found[0])
                if found
                else _error(404, "Not Found", "user:error:not-found", "No such user.")
            )
        if parts.path != USERS:
            return _error(404, "Not Found", "system:error:not-found", f"No route {path}.")
        names = parse_qs(parts.query).get("name")
        if names:
            users = [user for user in users if user["name"] in names]
        return 200, {"page_size": len(users), "_embedded": {"users": users}, "_links": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.users_api", description="A local Vonage Users API (never for production)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve POST/GET /v1/users at http://127.0.0.1:PORT")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    serve.add_argument(
        "--public-key", type=Path, default=PUBLIC_KEY, help="the application's public key (PEM)"
    )
    serve.add_argument("--application-id", default=os.environ.get("VONAGE_APPLICATION_ID"))
    listing = commands.add_parser("list", help="print the users a Users API holds, one JSON line each")
    listing.add_argument(
        "--url", default=os.environ.get("VONAGE_API_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    listing.add_argument("--application-id", default=os.environ.get("VONAGE_APPLICATION_ID", ""))
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list(args.url.rstrip("/"), args.application_id)
    if not args.public_key.exists():
        print(f"users_api: no {args.public_key}: run `python -m devtools.oidc_issuer vonage-key` first",
              file=sys.stderr)  # fmt: skip
        return 2
    api = LocalUsersApi(args.public_key.read_bytes(), args.port, args.application_id)
    print(f"local Vonage Users API at {api.url}{USERS}; Ctrl-C stops it", flush=True)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _list(url: str, application_id: str) -> int:
    """GET /v1/users with an application JWT signed by .run/oidc/vonage-private.pem."""
    import time
    import urllib.request

    claims = {"application_id": application_id, "iat": int(time.time()), "exp": int(time.time()) + 60,
              "jti": str(uuid.uuid4())}  # fmt: skip
    token = jwt.encode(claims, PRIVATE_KEY.read_text(), algorithm="RS256")
    request = urllib.request.Request(url + USERS, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        users = json.loads(reply.read())["_embedded"]["users"]
    for user in users:
        print(json.dumps({name: user.get(name) for name in ("id", "name", "display_name", "image_url")}))
    print(f"{len(users)} user(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
