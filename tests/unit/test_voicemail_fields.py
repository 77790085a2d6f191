"""What a call record and listing keep of a voicemail: Vonage's `record` event, read strictly."""

from __future__ import annotations

import re

import pytest

from chalicelib import summary
from chalicelib.errors import WebhookError

RECORD = {
    "start_time": "2020-01-01T12:00:01.000Z", "end_time": "2020-01-01T12:00:15.400Z",
    "recording_url": "https://api.nexmo.com/v1/files/aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    "size": 28204, "recording_uuid": "rec-0001", "conversation_uuid": "CON-1",
    "timestamp": "2020-01-01T12:00:15.500Z",
}  # fmt: skip


def test_a_voicemail_keeps_the_recording_its_times_and_a_duration_from_them() -> None:
    assert summary.voicemail_fields(RECORD) == {
        "recording_url": RECORD["recording_url"], "recording_uuid": "rec-0001",
        "start_time": "2020-01-01T12:00:01.000Z", "end_time": "2020-01-01T12:00:15.400Z",
        "duration": 14, "size": 28204,
    }  # fmt: skip
    # an offset is moved to UTC; a time without one is read as UTC
    shifted = {**RECORD, "start_time": "2020-01-01T13:00:01+01:00", "end_time": "2020-01-01T12:01:01"}
    kept = summary.voicemail_fields(shifted)
    assert kept is not None
    assert (kept["start_time"], kept["end_time"], kept["duration"]) == (
        "2020-01-01T12:00:01.000Z", "2020-01-01T12:01:01.000Z", 60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "url", [None, "", 42, "ftp://files.example/x", "javascript:alert(1)", "https://x/" + "a" * 2048]
)
def test_no_voicemail_without_a_recording_url(url: object) -> None:
    assert summary.voicemail_fields({**RECORD, "recording_url": url}) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"size": True}, {"size": -1}, {"size": "28204"}, {"size": 10**18},
        {"start_time": "yesterday"}, {"end_time": None}, {"start_time": "2020-01-01T12:00:20.000Z"},
    ],
)  # fmt: skip
def test_odd_fields_become_none_not_errors(changes: dict[str, object]) -> None:
    kept = summary.voicemail_fields({**RECORD, **changes})
    assert kept is not None and kept["recording_url"] == RECORD["recording_url"]
    (name,) = changes
    assert kept["duration" if name != "size" else "size"] is None  # an end before its start: no length


def test_the_voicemail_view_names_the_user_it_was_left_for() -> None:
    kept = summary.voicemail_fields(RECORD)
    assert kept is not None
    assert summary.voicemail_view({"user": "jane", "voicemail": kept}) == {**kept, "user": "jane"}
    assert summary.voicemail_view({"user": "jane"}) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("start_time", "0001-01-01T00:00:00+14:00"), ("end_time", "9999-12-31T23:59:59-14:00")],
)
def test_a_time_that_is_no_time_in_utc_is_a_bad_request_not_a_crash(name: str, value: str) -> None:
    """Before: OverflowError moving it to UTC, a 500 (Vonage does not retry those)."""
    with pytest.raises(
        WebhookError, match=re.escape(f"{name} '{value}' is outside the years 1 to 9999 in UTC")
    ):
        summary.voicemail_fields({**RECORD, name: value})
