"""The I/O the routes use, passed in: app.py wires the real ones (DynamoDB, SSM, the system
clock); tests wire fakes, a DynamoDB Local client or a clock they set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.settings import Settings, load
from chalicelib.storage.timing import ANSWER_BUDGET_S, EVENT_BUDGET_S

if TYPE_CHECKING:
    from chalicelib.storage.call_store import CallStore


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Adapters:
    store_for: Callable[[Settings], CallStore]  # the calls table of these settings
    load_settings: Callable[[], Settings] = load
    clock: Callable[[], datetime] = field(default=system_clock)
    answer_budget_s: float = ANSWER_BUDGET_S  # what the answer (and fallback) URL's storage may use
    event_budget_s: float = EVENT_BUDGET_S  # and the event URL's
    # the signature secrets in an SSM parameter (secrets.ParameterStore.secrets in app.py)
    read_secret: Callable[[str], tuple[str, ...]] | None = None
    # POST /token: the application's private key in an SSM parameter (ParameterStore.private_key)
    read_private_key: Callable[[str], str] | None = None
