"""GET /health: can this stage take calls? Its settings, its signature secret and its table.

200 {"status": "ok"}; 503 {"status": "misconfigured" | "unavailable", "error": …} naming what
an operator must look at. The table's state is kept briefly by the store, so pollers cannot
starve the webhooks of DynamoDB.
"""

from __future__ import annotations

from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Reply
from chalicelib.routes.outcomes import RequestLine, Route
from chalicelib.routes.signed import signature_secrets

ROUTE = Route("health", "/health")


def health(adapters: Adapters) -> Reply:
    line = RequestLine(ROUTE)
    try:
        settings = line.settings = adapters.load_settings()
        signature_secrets(adapters, settings)  # it can be read
        store = adapters.store_for(settings)
        if store.kept():  # the store's kept result: no DynamoDB call, no storage latency
            store.check()
        else:
            with line.in_store():
                store.check()
    except Exception as exc:
        return line.failed(exc, health=True)
    line.write("ok")
    return Reply(200, {"status": "ok"})
