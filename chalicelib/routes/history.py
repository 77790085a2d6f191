"""GET /calls and GET /calls/{conversation_uuid}: the call history, for the team's own tools
(IAM-authorised when deployed). 400 for a request that can never be answered, 404 for an
unknown call, 503 when the table cannot be read."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib import summary
from chalicelib.errors import BadQuery
from chalicelib.listing import parse_listing, parse_record
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.webhooks import MAX_ID_CHARS

LISTING = Route("history", "/calls")
RECORD = Route("history", "/calls/{id}")


def get_call(adapters: Adapters, conversation_uuid: str, query: Mapping[str, str] | None = None) -> Reply:
    """The call record, with one page of its events (`next` for the rest)."""
    line = RequestLine(RECORD)
    try:
        if not conversation_uuid or len(conversation_uuid) > MAX_ID_CHARS:
            raise BadQuery(f"conversation_uuid must be 1-{MAX_ID_CHARS} characters")
        line.conversation_uuid = conversation_uuid
        page = parse_record(conversation_uuid, query)
        settings = line.settings = adapters.load_settings()
        store = adapters.store_for(settings)
        with line.in_store():
            found = store.get_call(conversation_uuid, page.limit, page.start)
    except Exception as exc:
        return line.failed(exc)
    if found is None:
        line.write("not_found", 404)
        return Reply(404, {"error": f"no call with conversation_uuid {conversation_uuid!r}"})
    line.write("found")
    view = summary.record_view(
        conversation_uuid, found.summary, found.answers, found.fallbacks, found.legs, found.events, found.next
    )
    return Reply(200, view)


def list_calls(adapters: Adapters, query: Mapping[str, str] | None) -> Reply:
    """GET /calls?user=…|date=…: newest first, `next` for the following page."""
    line = RequestLine(LISTING)
    try:
        listing = parse_listing(query)
        settings = line.settings = adapters.load_settings()
        store = adapters.store_for(settings)
        with line.in_store():
            page = store.list_calls(listing)
    except Exception as exc:
        return line.failed(exc)
    line.write("listed")
    return Reply(200, {"calls": [summary.listing_view(item) for item in page.calls], "next": page.next})
