"""Vonage's Users API: the Client SDK user an app user logs in as must exist before they log in
or are rung ("a person who will communicate via a Conversation must first have a User object
created": developer.vonage.com, Client SDK, "Create your application").

`POST {VONAGE_API_URL}/v1/users` with `name`, `display_name`, `image_url`, authenticated with an
application JWT (RS256 with the application's private key, no `sub`), as Vonage's reference
backend for Client SDK apps creates the user on sign-up. A name that already exists is refused
with the error code `user:error:duplicate-name` (HTTP 409; some accounts' samples saw 400): the
user exists, which is what the login needs. Anything else is UsersApiUnavailable. Standard
library only (urllib), no redirect followed: a 3xx is an answer, not a place to send the JWT.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any, NamedTuple

from chalicelib.errors import UsersApiUnavailable

USERS_PATH = "/v1/users"
TIMEOUT_S = 2.0  # for each of connecting and reading, at most: the caller passes what its budget has left
DUPLICATE_NAME = "user:error:duplicate-name"
MAX_DISPLAY_NAME_CHARS = 200
MAX_IMAGE_URL_CHARS = 2048


class Created(NamedTuple):
    created: bool  # False: Vonage already had a user of that name
    vonage_id: str | None  # "USR-…" when Vonage said it


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx itself is raised as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)


def profile(name: str, display_name: Any, image_url: Any) -> dict[str, str]:
    """The user as the Users API takes it: the name, and the ID token's `name` and `picture` when
    they are text Vonage can keep (a display name up to 200 characters, an http(s) picture URL)."""
    body = {"name": name}
    if isinstance(display_name, str) and display_name.strip():
        body["display_name"] = display_name.strip()[:MAX_DISPLAY_NAME_CHARS]
    if (
        isinstance(image_url, str)
        and image_url.startswith(("https://", "http://"))
        and len(image_url) <= MAX_IMAGE_URL_CHARS
    ):
        body["image_url"] = image_url
    return body


def create_user(
    api_url: str, application_jwt: str, user: dict[str, str], timeout_s: float = TIMEOUT_S
) -> Created:
    """Create the Vonage user `user` (profile()); Created(False, …) when the name exists already.
    `timeout_s` bounds connecting and each read (not the name's DNS lookup, which the system does)."""
    request = urllib.request.Request(
        api_url + USERS_PATH,
        data=json.dumps(user).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {application_jwt}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "callgate",
        },
    )
    try:
        try:
            with _OPENER.open(request, timeout=timeout_s) as reply:
                status, body = reply.status, _json(reply.read())
        except urllib.error.HTTPError as exc:  # an answer all the same: its status and body
            status, body = exc.code, _json(exc.read())
    except (OSError, ValueError, http.client.HTTPException) as exc:  # unreachable, timed out, cut off
        raise UsersApiUnavailable(f"Vonage's Users API at {api_url} is unreachable: {exc}") from exc
    if status in (200, 201):
        found = body.get("id")
        return Created(True, found if isinstance(found, str) else None)
    if body.get("code") == DUPLICATE_NAME:
        return Created(False, None)
    if status in (401, 403):
        raise UsersApiUnavailable(
            f"Vonage's Users API refused the application JWT ({status}): VONAGE_APPLICATION_ID and "
            "the private key must be the same application's"
        )
    code = body.get("code") or body.get("title") or "no error code"
    raise UsersApiUnavailable(f"Vonage's Users API answered {status} ({str(code)[:100]})")


def _json(data: bytes) -> dict[str, Any]:
    """A reply's JSON object, or {} for anything else (an HTML error page, nothing)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
