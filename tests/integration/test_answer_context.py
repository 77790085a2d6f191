"""What the app and Vonage say about a call besides who calls whom: custom_data (the app's
serverCall context), endpoint_type and region_url are kept with the answer and shown in the record."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.answer_request import CUSTOM_DATA_MAX_CHARS
from chalicelib.routes import answer
from chalicelib.routes.http import Request
from tests.support import BASE_URL, UNLIMITED

JSON = "application/json"
REGION_URL = "https://api-us-3.vonage.com"


def _post_answer(h: Any, **fields: Any) -> tuple[str, list[dict[str, Any]]]:
    """POST /answer as Vonage sends it for the Client SDK's serverCall; the conversation, the NCCO."""
    conversation = f"CON-{uuid.uuid4()}"
    body = {"from_user": "jane", "to": "14155550101", "conversation_uuid": conversation,
            "uuid": f"leg-{conversation}", "endpoint_type": "app", "region_url": REGION_URL,
            **fields}  # fmt: skip
    reply = answer.answer(h.adapters, Request(None, json.dumps(body).encode(), JSON), BASE_URL)
    assert reply.status == 200
    return conversation, reply.body


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"ticket": "T-42", "priority": 2}, {"ticket": "T-42", "priority": 2}),  # an object
        ('{"ticket":"T-42","tags":["vip"]}', {"ticket": "T-42", "tags": ["vip"]}),  # a JSON string, decoded
        ("call me back", "call me back"),  # text that is no JSON: kept as text
        ('{"ratio": NaN}', '{"ratio": NaN}'),  # not JSON as JSON can carry back: kept as text
        (None, None),
    ],
)
def test_the_apps_custom_data_is_in_the_call_record(make_harness, sent: Any, kept: Any) -> None:
    h = make_harness(**UNLIMITED)
    conversation, ncco = _post_answer(h, custom_data=sent)
    assert ncco[-1]["action"] == "connect"
    (stored,) = h.record(conversation)["answers"]
    assert stored["custom_data"] == kept
    assert (stored["endpoint_type"], stored["region_url"]) == ("app", REGION_URL)


def test_custom_data_too_large_is_kept_clipped_and_the_call_still_connects(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    conversation, ncco = _post_answer(h, custom_data={"note": "x" * 10_000})
    assert ncco[-1]["action"] == "connect"
    (stored,) = h.record(conversation)["answers"]
    assert isinstance(stored["custom_data"], str) and stored["custom_data"].startswith('{"note":"xxx')
    assert len(stored["custom_data"]) == CUSTOM_DATA_MAX_CHARS + 1  # clipped, marked with …


def test_a_refusal_keeps_them_too(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    conversation, ncco = _post_answer(h, to="19005550100", custom_data='{"ticket":"T-7"}')  # premium rate
    assert all(action["action"] != "connect" for action in ncco)
    (stored,) = h.record(conversation)["answers"]
    assert stored["decision"] == "refuse" and stored["custom_data"] == {"ticket": "T-7"}
    assert stored["endpoint_type"] == "app"


def test_a_get_answer_request_without_them_stores_nulls(make_harness) -> None:
    h = make_harness(**UNLIMITED)
    conversation = f"CON-{uuid.uuid4()}"
    h.answer(conversation)
    (stored,) = h.record(conversation)["answers"]
    assert (stored["custom_data"], stored["endpoint_type"], stored["region_url"]) == (None, None, None)
