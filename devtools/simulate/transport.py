"""Sending the simulated Vonage requests to callgate over HTTP, signed as Vonage signs them.

Every failure becomes a StepError that names the step and says what came back, so `make simulate`
fails with one readable line (connection refused, a 401 for a missing secret, a body that is not
JSON) instead of a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib import error, parse, request

from chalicelib import signature

TIMEOUT_S = 5.0


class StepError(Exception):
    """A step went wrong; main() prints `simulate: step <name>: <what happened>` and exits 1."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step {step}: {message}")
        self.step = step


@dataclass(frozen=True)
class Reply:
    method: str
    url: str
    status: int
    content_type: str
    body: bytes

    def where(self) -> str:
        return f"{self.method} {self.url} answered {self.status}"


def excerpt(body: bytes, limit: int = 300) -> str:
    """The start of a body, for an error message: enough to recognise it, never a whole page."""
    text = body.decode("utf-8", "replace").strip()
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"


def _opener(url: str) -> request.OpenerDirector:
    """No proxy for a local server: an http_proxy meant for the internet must not catch it."""
    if parse.urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1"):
        return request.build_opener(request.ProxyHandler({}))
    return request.build_opener()


def send(step: str, url: str, payload: dict[str, Any] | None = None) -> Reply:
    """One request (a GET, or a POST of `payload` as JSON); any answer but a 200 is a StepError
    that says what came back."""
    method = "GET" if payload is None else "POST"
    headers = {"Accept": "application/json"}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode("utf-8")
        headers["Content-Type"] = "application/json"
    secret = os.environ.get("VONAGE_SIGNATURE_SECRET", "").strip()
    if secret:  # sign as Vonage does: a JWT over the query (GET) or the body (POST)
        query = dict(parse.parse_qsl(parse.urlsplit(url).query, keep_blank_values=True))
        token = signature.sign(secret, time.time(), None if data else query, data)
        headers["Authorization"] = f"Bearer {token}"
    req = request.Request(url, data=data, headers=headers, method=method)
    try:
        with _opener(url).open(req, timeout=TIMEOUT_S) as response:
            reply = Reply(method, url, response.status, response.headers.get_content_type(), response.read())
    except error.HTTPError as exc:
        hint = ""
        if exc.code == 401:
            hint = " (the service checks signatures: set VONAGE_SIGNATURE_SECRET to its secret here too)"
        raise StepError(step, f"{method} {url} answered {exc.code}: {excerpt(exc.read())}{hint}") from None
    except error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise StepError(
                step, f"{method} {url}: connection refused; start the service first with `make run`"
            ) from None
        if isinstance(exc.reason, TimeoutError):
            raise StepError(step, f"{method} {url}: no answer within {TIMEOUT_S:g} s") from None
        raise StepError(step, f"{method} {url}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise StepError(step, f"{method} {url}: no answer within {TIMEOUT_S:g} s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise StepError(step, f"{method} {url}: the connection failed ({exc!r})") from None
    if reply.status != 200:
        raise StepError(step, f"{reply.where()} (expected 200): {excerpt(reply.body)}")
    return reply


def json_of(step: str, reply: Reply) -> Any:
    """The reply's body as JSON; a body that is not JSON is a StepError of `step`."""
    try:
        return json.loads(reply.body)
    except ValueError:
        raise StepError(
            step, f"{reply.where()} with a body that is not JSON: {excerpt(reply.body)}"
        ) from None
