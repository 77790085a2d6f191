"""A phone call to the team's number (a callback) goes to the app user who last called that number.

The routes run over a fake store that answers the one lookup as told and records what the
answer's write is given; the integration tier checks the same over DynamoDB Local.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

from chalicelib.answer_request import parse_answer
from chalicelib.callbacks import inbound_caller
from chalicelib.errors import StoreUnavailable
from chalicelib.routes import answer as answer_route
from chalicelib.routes import event as event_route
from chalicelib.routes.adapters import Adapters
from chalicelib.routes.http import Request
from chalicelib.storage.call_store import SavedAnswer
from chalicelib.times import utc_iso
from tests.support import stage_settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TEAM = "14155550100"  # BASE_ENV's VONAGE_NUMBER
CALLER = "14155550123"


class Found(NamedTuple):
    user: str
    conversation_uuid: str
    at: str


class CallbackStore:
    """last_caller() answers `found` (or raises `fail`); save_answer() records its call."""

    def __init__(
        self, found: Found | None = None, fail: Exception | None = None, limited: bool = False
    ) -> None:
        self.found, self.fail, self.limited = found, fail, limited
        self.lookups: list[tuple[str, str]] = []
        self.saved: list[tuple[Any, dict[str, Any], Any]] = []

    def last_caller(self, digits: str, since: str, deadline: float | None = None) -> Found | None:
        self.lookups.append((digits, since))
        if self.fail is not None:
            raise self.fail
        return self.found

    def save_answer(self, call: Any, leg_key: str, answer: dict[str, Any], expires_at: int, limits: Any = (),
                    deadline: float | None = None, encoded: str | None = None) -> SavedAnswer:  # fmt: skip
        self.saved.append((call, answer, limits))
        if self.limited and limits:
            return SavedAnswer(answer, False, limits[0])  # nothing stored: the limit is reached
        return SavedAnswer(answer, True)


def answer(
    store: CallbackStore, caller: str = CALLER, to: str = TEAM, **settings: str
) -> list[dict[str, Any]]:
    adapters = Adapters(
        store_for=lambda _: store, load_settings=lambda: stage_settings(**settings), clock=lambda: NOW
    )
    query = {"from": caller, "to": to, "conversation_uuid": "CON-cb", "uuid": "leg-cb"}
    reply = answer_route.answer(adapters, Request(query), base_url="https://callgate.example")
    assert reply.status == 200
    return reply.body  # type: ignore[no-any-return]


def test_a_callback_connects_the_app_user_who_last_called_that_number() -> None:
    store = CallbackStore(Found("jane", "CON-out", "2026-11-20T09:00:00.000Z"))
    ncco = answer(store, caller="+1 415 555 0123")  # compared as E.164 digits
    assert store.lookups == [(CALLER, utc_iso(NOW - timedelta(days=30)))]  # CALLBACK_DAYS, default 30
    talk, connect = ncco
    assert talk == {"action": "talk", "text": "Connecting your call."}
    assert connect["action"] == "connect"
    assert connect["endpoint"] == [{"type": "app", "user": "jane"}]
    # no caller ID of ours: Vonage shows the app the caller (a `from` not ours would be "unknown")
    assert "from" not in connect and connect["timeout"] == 20
    # synchronous: when jane does not take it, /event offers the caller a voicemail
    assert connect["eventType"] == "synchronous"
    assert connect["eventUrl"] == ["https://callgate.example/event?failover=voicemail"]
    call, stored, limits = store.saved[0]
    assert (stored["decision"], stored["reason"], stored["direction"], stored["user"]) == (
        "connect", "callback_user", "inbound", "jane",
    )  # fmt: skip
    assert call.user == "jane"  # filed under the app user: it shows in her history
    (limit,) = limits
    assert (limit.user, limit.window, limit.limit, limit.reason) == (
        CALLER,
        "HOUR",
        20,
        "inbound_rate_limited",
    )


def test_no_known_user_goes_to_the_default_user() -> None:
    store = CallbackStore()
    _, connect = answer(store, INBOUND_DEFAULT_USER="desk", CALLBACK_TEXT="Hello.")
    assert connect["endpoint"] == [{"type": "app", "user": "desk"}]
    assert store.saved[0][1]["reason"] == "default_user"


def test_no_known_user_and_no_default_hears_the_inbound_text_and_may_leave_a_message() -> None:
    store = CallbackStore()
    ncco = answer(store, INBOUND_TEXT="Nobody is here.", VOICEMAIL_MAX_SECONDS="60")
    assert ncco == [
        {"action": "talk", "text": "Nobody is here."},
        {"action": "talk", "text": "Please leave a message after the tone."},
        {"action": "record", "endOnSilence": 3, "endOnKey": "#", "timeOut": 60, "beepStart": True,
         "eventUrl": ["https://callgate.example/event?recording=voicemail"]},
    ]  # fmt: skip
    assert answer(CallbackStore(), INBOUND_TEXT="Nobody is here.", VOICEMAIL="off") == [
        {"action": "talk", "text": "Nobody is here."}
    ]
    call, stored, limits = store.saved[0]
    assert (stored["decision"], stored["reason"], stored["user"], call.user) == (
        "refuse",
        "no_user",
        None,
        None,
    )
    assert len(limits) == 1  # a robocaller's calls count all the same


def test_an_empty_callback_text_connects_straight_away() -> None:
    ncco = answer(CallbackStore(Found("jane", "CON-out", "2026-11-20T09:00:00.000Z")), CALLBACK_TEXT="")
    assert [action["action"] for action in ncco] == ["connect"]


def test_a_lookup_that_fails_still_answers_the_call() -> None:
    store = CallbackStore(fail=StoreUnavailable("timed out"))
    _, connect = answer(store, INBOUND_DEFAULT_USER="desk")
    assert connect["endpoint"] == [{"type": "app", "user": "desk"}]


def test_the_callers_hourly_limit_refuses_with_its_own_reason() -> None:
    store = CallbackStore(Found("jane", "CON-out", "2026-11-20T09:00:00.000Z"), limited=True)
    ncco = answer(store, MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR="3")
    assert ncco == [{"action": "talk", "text": "Sorry, we cannot take more calls from this number now. "
                     "Please try again later."}]  # fmt: skip
    assert store.saved[0][2][0].limit == 3


@pytest.mark.parametrize(
    ("caller", "to", "settings"),
    [
        (CALLER, "14155550199", {}),  # not the team's number: today's rule
        ("anonymous", TEAM, {}),  # withheld: no number to call back
    ],
)
def test_other_phone_calls_keep_the_outbound_rules(caller: str, to: str, settings: dict[str, str]) -> None:
    store = CallbackStore(Found("jane", "CON-out", "2026-11-20T09:00:00.000Z"))
    answer(store, caller=caller, to=to, **settings)
    assert store.lookups == []
    assert store.saved[0][1]["reason"] == "pstn_caller_not_allowed"


def test_every_team_number_takes_callbacks() -> None:
    settings = stage_settings(CALLER_IDS="GB=442071838750", USER_CALLER_IDS="jane=14155550177")
    for number in (TEAM, "442071838750", "+1 415 555 0177"):
        request = parse_answer({"from": CALLER, "to": number, "conversation_uuid": "c", "uuid": "u"})
        assert inbound_caller(request, settings) == CALLER, number
    app_user = parse_answer({"from_user": "jane", "to": TEAM, "conversation_uuid": "c", "uuid": "u"})
    assert inbound_caller(app_user, settings) is None  # an app user calling the number: outbound


def test_the_callback_settings_are_checked() -> None:
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError, match="INBOUND_DEFAULT_USER"):
        stage_settings(INBOUND_DEFAULT_USER="two users")
    with pytest.raises(ConfigError, match="CALLBACK_DAYS"):
        stage_settings(CALLBACK_DAYS="0")
    assert stage_settings(CALLBACK_DAYS="7").callback_days == 7


def test_voicemail_off_connects_without_asking_for_events() -> None:
    found = Found("jane", "CON-out", "2026-11-20T09:00:00.000Z")
    _, connect = answer(CallbackStore(found), VOICEMAIL="off")
    assert "eventType" not in connect and "eventUrl" not in connect


def event_reply(payload: dict[str, Any], mark: str | None = "voicemail", **settings: str) -> Any:
    class Stored:
        def save_event(self, *_: Any) -> bool:
            return True

    adapters = Adapters(store_for=lambda _: Stored(), load_settings=lambda: stage_settings(**settings))
    query = {"failover": mark} if mark else None
    body = json.dumps(payload).encode()
    reply = event_route.event(adapters, Request(query, body, "application/json"), "https://callgate.example")
    assert reply.status == 200
    return reply.body


APP_LEG = {"conversation_uuid": "CON-cb", "uuid": "leg-app", "direction": "outbound",
           "timestamp": "2026-11-21T12:00:20.000Z"}  # fmt: skip


@pytest.mark.parametrize("status", ["unanswered", "timeout", "busy", "rejected", "failed"])
def test_a_callback_the_app_user_does_not_take_offers_a_voicemail(status: str) -> None:
    talk, record = event_reply({**APP_LEG, "status": status}, VOICEMAIL_MAX_SECONDS="90")
    assert talk == {"action": "talk", "text": "Please leave a message after the tone."}
    assert record == {"action": "record", "endOnSilence": 3, "endOnKey": "#", "timeOut": 90,
                      "beepStart": True,
                      "eventUrl": ["https://callgate.example/event?recording=voicemail"]}  # fmt: skip


def test_only_a_failed_app_leg_of_a_marked_callback_offers_a_voicemail() -> None:
    assert event_reply({**APP_LEG, "status": "answered"}) == {}
    assert event_reply({**APP_LEG, "status": "unanswered", "direction": "inbound"}) == {}  # the caller's leg
    assert event_reply({**APP_LEG, "status": "unanswered"}, VOICEMAIL="off") == {}
    assert event_reply({**APP_LEG, "status": "unanswered"}, mark=None) == {}
    # the outbound connect's mark still gets the outbound failover
    assert event_reply({**APP_LEG, "status": "busy"}, mark="1")[0]["text"].startswith("The number you called")


def test_every_answer_says_its_direction() -> None:
    """From the team's side: an app user's call is outbound; any phone caller's is inbound."""
    store = CallbackStore(Found("jane", "CON-out", "2026-11-20T09:00:00.000Z"))
    answer(store)  # a callback
    answer(store, to="14155550199")  # a phone caller to another number: refused, still inbound
    adapters = Adapters(store_for=lambda _: store, load_settings=stage_settings, clock=lambda: NOW)
    query = {"from_user": "jane", "to": "14155550101", "conversation_uuid": "CON-o", "uuid": "leg-o"}
    answer_route.answer(adapters, Request(query), base_url="https://callgate.example")
    assert [(saved["reason"], saved["direction"]) for _, saved, _ in store.saved] == [
        ("callback_user", "inbound"), ("pstn_caller_not_allowed", "inbound"), ("allowed", "outbound"),
    ]  # fmt: skip
