"""The bench's own way into the routes: chalicelib's route functions over a real CallStore.

No Chalice and no tests code: the routes (chalicelib/routes/) are called with `Request`s, as
app.py calls them, over a CallStore on whatever DynamoDB client the bench gives (a metering
wrapper, or the plain client), with the local stage's settings (.chalice/config.json, as
`lambda_invoke.stage_environment` gives them) but rate limits too high to trip, and a clock
fixed at the moment the harness was made: one run's items all expire (TTL) days after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bench.lambda_invoke import stage_environment
from chalicelib import settings
from chalicelib.routes import answer, event, history
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply, Request
from chalicelib.storage.call_store import CallStore

# Every answer is a new call from the same few users, at the same fixed moment: no limit may trip.
UNLIMITED = dict.fromkeys(
    ("MAX_CALLS_PER_MINUTE", "MAX_CALLS_PER_USER_PER_HOUR", "MAX_CALLS_PER_USER_PER_DAY"), "100000"
)
# Where Vonage reaches the service, for the URLs callgate puts in a connect's NCCO (stored with
# the answer, so it counts in the item sizes): the same as the bench has always used.
BASE_URL = "https://calls.example.com/api"
CALLEE = "14155550101"
JSON = "application/json"


class RouteError(RuntimeError):
    """A route answered what the bench did not ask for: the figures would measure another path."""


class Routes:
    """GET /answer, POST /event, GET /calls/{id} and GET /calls, over a CallStore on `client`."""

    def __init__(self, client: Any, table: str, endpoint: str, now: datetime | None = None) -> None:
        environment = {**stage_environment(endpoint), "CALLS_TABLE": table, **UNLIMITED}
        self.settings = settings.load(environment)
        self.now = now or datetime.now(UTC)
        self.store = CallStore(client, table)
        self.adapters = Adapters(
            store_for=lambda _settings: self.store,
            load_settings=lambda: self.settings,
            clock=lambda: self.now,
        )

    def answer(self, conversation: str, user: str, to: str = CALLEE) -> list[dict[str, Any]]:
        """A new call from `user` to `to`, asked as the Client SDK's serverCall makes Vonage ask
        it; the NCCO, which must connect."""
        query = {
            "from_user": user,
            "to": to,
            "conversation_uuid": conversation,
            "uuid": f"leg-{conversation}",
        }
        ncco = _ok("GET /answer", answer.answer(self.adapters, Request(query), BASE_URL))
        if not isinstance(ncco, list) or not any(action.get("action") == "connect" for action in ncco):
            raise RouteError(f"bench: the answer for {conversation} did not connect: {ncco}")
        return ncco

    def event(self, payload: Mapping[str, Any]) -> Any:
        """POST /event with `payload` as its JSON body; the reply's body."""
        request = Request(None, json.dumps(payload).encode(), JSON)
        return _ok("POST /event", event.event(self.adapters, request, BASE_URL))

    def get_call(self, conversation: str, query: Mapping[str, str] | None = None) -> Any:
        """GET /calls/{conversation}?{query}; the reply's body."""
        return _ok("GET /calls/{id}", history.get_call(self.adapters, conversation, query))

    def list_calls(self, query: Mapping[str, str]) -> Any:
        """GET /calls?{query}; the reply's body."""
        return _ok("GET /calls", history.list_calls(self.adapters, query))


def _ok(route: str, reply: Reply) -> Any:
    if reply.status != 200:
        raise RouteError(f"bench {route}: {reply.status} {str(reply.body)[:300]}")
    return reply.body
