"""The answer decision, rule by rule, with real numbers from several numbering plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib import keys, prompts
from chalicelib.answer_request import parse_answer, read_answer
from chalicelib.decision import (
    Refused,
    caller_id,
    check_caller,
    check_destination,
    decide,
    limit_reached,
    rate_limits,
    refusal,
)
from chalicelib.settings import load
from tests.support import BASE_ENV as BASE

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WIDE = {**BASE, "ALLOWED_COUNTRIES": "US,CA,GB,FR,DE,ES,AU,JM,BS,TT,DO,BB,GG,IM"}


def destination_reason(to: str, **env: str) -> str:
    try:
        check_destination(to, load({**WIDE, **env}))
    except Refused as refused:
        return refused.reason
    return prompts.ALLOWED


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        # allowed: ordinary fixed and mobile numbers, and toll-free
        ("14155550101", "allowed"),  # US
        ("16135550123", "allowed"),  # CA
        ("442079460000", "allowed"),  # GB fixed
        ("447400123456", "allowed"),  # GB mobile
        ("33142345678", "allowed"),  # FR fixed
        ("61412345678", "allowed"),  # AU mobile
        ("18005550100", "allowed"),  # US toll-free
        # premium rate, in four countries
        ("19005550100", "number_type_blocked"),  # US +1 900
        ("449098790000", "number_type_blocked"),  # GB 09
        ("448719123456", "number_type_blocked"),  # GB 0871
        ("33899123456", "number_type_blocked"),  # FR 089
        ("499001234567", "number_type_blocked"),  # DE 0900
        ("34803123456", "number_type_blocked"),  # ES 803
        # shared cost, in four countries
        ("33810123456", "number_type_blocked"),  # FR 081
        ("4918012345678", "number_type_blocked"),  # DE 0180
        ("34901123456", "number_type_blocked"),  # ES 901
        ("61130012", "number_type_blocked"),  # AU 13
        # personal numbers, UAN, VoIP: classic fraud routes
        ("447024123456", "number_type_blocked"),  # GB 070 personal number
        ("15002345678", "number_type_blocked"),  # US 500 personal number
        ("4970012345678", "number_type_blocked"),  # DE 0700 personal number
        ("443001234567", "number_type_blocked"),  # GB 030 UAN
        ("445612345678", "number_type_blocked"),  # GB 056 VoIP
        ("33975123456", "number_type_blocked"),  # FR 09 VoIP
        # invalid and impossible
        ("15555550100", "invalid_number"),  # US 555 outside 01xx: not assigned
        ("4990012345678", "invalid_number"),  # DE 0900 with a digit too many
        ("1415555", "invalid_number"),  # too short for any plan
        ("14155550100123", "invalid_number"),  # too long
        ("4155550101", "invalid_number"),  # US number without its 1: read as +41
        ("1-800-FLOWERS", "invalid_number"),
        ("", "invalid_number"),
    ],
)
def test_destination_rules_in_many_countries(to: str, reason: str) -> None:
    assert destination_reason(to) == reason


@pytest.mark.parametrize(
    ("to", "region"),
    [
        ("18765550100", "JM"),  # Jamaica
        ("12423570000", "BS"),  # Bahamas
        ("18682345678", "TT"),  # Trinidad and Tobago
        ("18092345678", "DO"),  # Dominican Republic
        ("12462345678", "BB"),  # Barbados
        ("447911123456", "GG"),  # Guernsey: +44, not GB
        ("447624123456", "IM"),  # Isle of Man: +44, not GB
        ("33612345678", "FR"),
        ("80012345678", "001"),  # international freephone: no country at all
    ],
)
def test_look_alikes_are_refused_by_country(to: str, region: str) -> None:
    """+1 is not the US and +44 is not GB: the region comes from the full number."""
    with pytest.raises(Refused) as refused:
        check_destination(to, load(BASE))
    assert refused.value.reason == "country_not_allowed"
    assert refused.value.destination is not None and refused.value.destination.region == region


def test_rules_apply_in_order() -> None:
    """A premium number in a country that is not allowed is refused for the country first."""
    assert destination_reason("33899123456", ALLOWED_COUNTRIES="US") == "country_not_allowed"
    assert destination_reason("19005550100", DENIED_PREFIXES="1900") == "number_type_blocked"


def test_allowed_prefixes_override_the_type_rule_only() -> None:
    assert destination_reason("19005550100", ALLOWED_PREFIXES="+1 900 555") == "allowed"
    assert destination_reason("19005550100", ALLOWED_PREFIXES="19005550100") == "allowed"  # one number
    assert destination_reason("19005551234", ALLOWED_PREFIXES="19005550100") == "number_type_blocked"
    assert (
        destination_reason("33899123456", ALLOWED_PREFIXES="33", ALLOWED_COUNTRIES="US")
        == "country_not_allowed"
    )
    assert (
        destination_reason("19005550100", ALLOWED_PREFIXES="1900", DENIED_PREFIXES="1900") == "prefix_denied"
    )


def test_denied_prefixes() -> None:
    assert destination_reason("14155550101", DENIED_PREFIXES="1415") == "prefix_denied"
    assert destination_reason("14155550101", DENIED_PREFIXES="1416,+44") == "allowed"


def test_blocked_number_types_are_configurable() -> None:
    assert destination_reason("18005550100", BLOCKED_NUMBER_TYPES="TOLL_FREE") == "number_type_blocked"
    assert destination_reason("19005550100", BLOCKED_NUMBER_TYPES="") == "allowed"  # explicitly none


def answer(**params: str) -> object:
    return parse_answer({"to": "14155550101", "uuid": "u", "conversation_uuid": "CON-1", **params})


def caller_reason(request: object, **env: str) -> str:
    try:
        check_caller(request, load({**BASE, **env}))  # type: ignore[arg-type]
    except Refused as refused:
        return refused.reason
    return prompts.ALLOWED


def test_caller_rules() -> None:
    assert caller_reason(answer(from_user="jane")) == "allowed"
    assert (
        caller_reason(answer(**{"from": "demo"})) == "allowed"
    )  # the older SDKs' format: a user name in `from`
    assert caller_reason(answer()) == "unknown_caller"
    assert caller_reason(answer(**{"from": "447700900000"})) == "pstn_caller_not_allowed"
    assert caller_reason(answer(**{"from": "+14155550199"})) == "pstn_caller_not_allowed"
    assert caller_reason(answer(**{"from": "447700900000"}), ALLOW_PSTN_CALLERS="true") == "allowed"
    assert caller_reason(answer(from_user="jane"), ALLOWED_USERS="jane,omar") == "allowed"
    assert caller_reason(answer(from_user="mallory"), ALLOWED_USERS="jane,omar") == "user_not_allowed"


def test_caller_id_choice() -> None:
    cfg = load(
        {**WIDE, "CALLER_IDS": "GB=442079460000,CA=16135550123", "USER_CALLER_IDS": "omar=12025550123"}
    )
    us, gb, ca = (check_destination(n, cfg) for n in ("14155550101", "442079460001", "16135550124"))
    assert caller_id("jane", us, cfg) == "14155550100"  # VONAGE_NUMBER
    assert caller_id("jane", gb, cfg) == "442079460000"  # local presence
    assert caller_id("jane", ca, cfg) == "16135550123"
    assert caller_id("omar", gb, cfg) == "12025550123"  # the user's own number wins


def test_decision_connects_with_caller_id_and_length_cap() -> None:
    cfg = load({**BASE, "CALLER_IDS": "GB=442079460000", "MAX_CALL_SECONDS": "600", "TALK_LANGUAGE": "en-GB"})
    decision = decide(answer(from_user="jane", to="442079460001"), cfg, NOW)  # type: ignore[arg-type]
    assert decision.answer["ncco"] == [
        {"action": "talk", "text": "Please wait while we connect you.", "language": "en-GB"},
        {
            "action": "connect",
            "timeout": 20,
            "limit": 600,
            "from": "442079460000",
            "endpoint": [{"type": "phone", "number": "442079460001"}],
        },
    ]
    assert (decision.answer["caller_id"], decision.answer["region"]) == ("442079460000", "GB")


@pytest.mark.parametrize("reason", prompts.CONFIGURABLE)
def test_every_refusal_speaks_its_own_configurable_text(reason: str) -> None:
    default = refusal(reason, "d", load(BASE)).answer["ncco"]
    assert default == [{"action": "talk", "text": prompts.REFUSALS[reason]}]
    custom = load({**BASE, prompts.setting_name(reason): "Custom.", "TALK_LANGUAGE": "es-ES"})
    assert refusal(reason, "d", custom).answer["ncco"] == [
        {"action": "talk", "text": "Custom.", "language": "es-ES"}
    ]


def test_refusal_language_per_reason() -> None:
    cfg = load({**BASE, "TALK_LANGUAGE": "en-GB", "REFUSAL_LANGUAGE_COUNTRY_NOT_ALLOWED": "es-ES",
                "REFUSAL_TEXT_COUNTRY_NOT_ALLOWED": "Lo siento."})  # fmt: skip
    assert refusal("country_not_allowed", "d", cfg).answer["ncco"] == [
        {"action": "talk", "text": "Lo siento.", "language": "es-ES"}
    ]
    assert refusal("invalid_number", "d", cfg).answer["ncco"][0]["language"] == "en-GB"


def test_misconfigured_speaks_the_built_in_text() -> None:
    """When the settings cannot be read, neither can a text from them."""
    assert refusal("misconfigured", "d", None).answer["ncco"] == [{"action": "talk", "text": prompts.GENERIC}]
    assert "REFUSAL_TEXT_MISCONFIGURED" not in __import__("chalicelib.settings").settings.NAMES


def test_refusal_text_sets_every_reason_without_its_own() -> None:
    cfg = load({**BASE, "REFUSAL_TEXT": "No.", "REFUSAL_TEXT_COUNTRY_NOT_ALLOWED": "Not there."})
    assert cfg.refusal_text("invalid_number") == "No."
    assert cfg.refusal_text("country_not_allowed") == "Not there."


def test_caller_refusals_still_audit_the_destination() -> None:
    request = parse_answer(
        {"from": "447700900000", "to": "19005550100", "uuid": "u", "conversation_uuid": "c"}
    )
    record = decide(request, load(BASE), NOW).answer
    assert (record["reason"], record["destination"], record["number_type"]) == (
        "pstn_caller_not_allowed",
        "+19005550100",
        "PREMIUM_RATE",
    )


@pytest.mark.parametrize(
    ("from_", "is_phone"),
    [
        ("demo", False),  # a user name, as older SDKs sent it
        ("jane.doe", False),
        ("447700900000", True),
        ("+1 415 555 0199", True),
        ("12345", True),  # a short code, or an all-digit name: the stricter rule applies
        ("07700900123", True),  # national format
        ("Unknown", True),  # withheld caller IDs
        ("anonymous", True),
        ("Restricted", True),
        # withheld or missing callers as carriers and SIP trunks write them: never app users
        ("0", True),
        ("000", True),
        ("+", True),
        ("null", True),
        ("NULL", True),
        ("+44 (0)20 7946 0123", True),
        # no caller at all (blank, neither a number nor a user name): unknown_caller
        ("", False),
        (" ", False),
        ("jos\u00e9", False),
        ("a&to=1", False),
        ("Private Number", True),
        ("sip:anonymous@example.com", True),
        ("tel:+14155550199", True),
        ("1-800-FLOWERS", True),  # a number spelled with letters
    ],
)
def test_phone_callers_are_recognised(from_: str, is_phone: bool) -> None:
    assert parse_answer({"from": from_}).caller_is_number is is_phone
    assert parse_answer({"from": from_, "from_user": "jane"}).caller_is_number is False


def test_decision_record_audits_destination_on_refusals() -> None:
    record = decide(answer(from_user="jane", to="19005550100"), load(BASE), NOW).answer  # type: ignore[arg-type]
    assert {
        k: record[k] for k in ("decision", "reason", "destination", "region", "number_type", "caller")
    } == {
        "decision": "refuse",
        "reason": "number_type_blocked",
        "destination": "+19005550100",
        "region": "US",
        "number_type": "PREMIUM_RATE",
        "caller": "jane",
    }


def test_rate_limits_are_fixed_windows_with_expiry_and_their_own_refusal() -> None:
    now = datetime(2026, 11, 20, 22, 59, 59, 999000, tzinfo=UTC)
    cfg = load(
        {
            **BASE,
            "MAX_CALLS_PER_USER_PER_HOUR": "3",
            "MAX_CALLS_PER_USER_PER_DAY": "9",
            "MAX_CALLS_PER_MINUTE": "7",
        }
    )
    hour, day, minute = rate_limits("jane", now, cfg)

    def key(limit: object) -> tuple[str, str]:
        found = keys.counter_key(limit.user, limit.window, limit.period)  # type: ignore[attr-defined]
        return found["pk"], found["sk"]

    assert (*key(hour), hour.limit) == ("RATE#USER#jane", "HOUR#2026-11-20T22", 3)
    assert (*key(day), day.limit) == ("RATE#USER#jane", "DAY#2026-11-20", 9)
    assert (*key(minute), minute.limit) == ("RATE#GLOBAL", "MINUTE#2026-11-20T22:59", 7)
    assert hour.expires_at == int(datetime(2026, 11, 21, 23, 0, tzinfo=UTC).timestamp())
    assert day.expires_at == int(datetime(2026, 11, 23, 0, 0, tzinfo=UTC).timestamp())
    assert minute.expires_at == int(datetime(2026, 11, 21, 0, 0, tzinfo=UTC).timestamp())
    request = answer(from_user="jane")
    connect = decide(request, cfg, now)  # type: ignore[arg-type]
    assert connect.limits == (hour, day, minute)
    refusals = [
        limit_reached(connect, limit, request, cfg).answer  # type: ignore[arg-type]
        for limit in (hour, day, minute)
    ]
    assert [(refused["decision"], refused["reason"]) for refused in refusals] == [
        ("refuse", "user_rate_limited"),
        ("refuse", "user_rate_limited"),
        ("refuse", "global_rate_limited"),
    ]
    assert "MAX_CALLS_PER_USER_PER_HOUR" in refusals[0]["detail"]
    assert "MAX_CALLS_PER_USER_PER_DAY" in refusals[1]["detail"]
    assert refusals[2]["ncco"] == [{"action": "talk", "text": prompts.REFUSALS["global_rate_limited"]}]


def test_only_a_connect_carries_rate_limits() -> None:
    request = answer(from_user="jane")
    connect = decide(request, load(BASE), NOW)  # type: ignore[arg-type]
    refused = decide(answer(from_user="jane", to="18765550100"), load(BASE), NOW)  # type: ignore[arg-type]
    assert (connect.connects, len(connect.limits)) == (True, 3)
    assert (refused.connects, refused.limits) == (False, ())
    # a limit's refusal still audits the request and where it was headed
    reached = limit_reached(connect, connect.limits[0], request, load(BASE)).answer  # type: ignore[arg-type]
    assert {k: reached[k] for k in ("caller", "destination", "received_at")} == {
        "caller": "jane", "destination": "+14155550101", "received_at": "2026-11-20T12:00:00.000000Z"
    }  # fmt: skip
    assert (reached["uuid"], reached["region"], reached["number_type"]) == ("u", "US", "FIXED_LINE_OR_MOBILE")


def test_a_limits_refusal_speaks_the_stages_text() -> None:
    cfg = load({**BASE, "REFUSAL_TEXT_USER_RATE_LIMITED": "Zu viele Anrufe.", "TALK_LANGUAGE": "de-DE"})
    request = answer(from_user="jane")
    connect = decide(request, cfg, NOW)  # type: ignore[arg-type]
    reached = limit_reached(connect, connect.limits[0], request, cfg).answer  # type: ignore[arg-type]
    assert reached["ncco"] == [{"action": "talk", "text": "Zu viele Anrufe.", "language": "de-DE"}]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"to": "14155550101", "from_user": "jane", "uuid": "u"}, "invalid_request"),  # no conversation_uuid
        (
            {"to": "14155550101", "from_user": "j" * 251, "uuid": "u", "conversation_uuid": "c"},
            "invalid_request",
        ),
    ],
)
def test_requests_that_cannot_be_filed_are_refused(params: dict, reason: str) -> None:
    assert decide(parse_answer(params), load(BASE), NOW).answer["reason"] == reason


def test_an_unreadable_body_is_refused_without_trusting_its_query() -> None:
    """A body that cannot be read makes the whole request suspect: no destination is audited."""
    request = read_answer({"to": "19005550100", "from_user": "jane", "uuid": "u", "conversation_uuid": "c"},
                          b"{not json", "application/json")  # fmt: skip
    answer = decide(request, load(BASE), NOW).answer
    assert (answer["reason"], answer["destination"], answer["region"]) == ("invalid_request", None, None)
    assert answer["detail"].startswith("body is not valid JSON")


def test_each_call_gets_its_own_connect() -> None:
    """The greeting, the caller ID, the length cap and, with an eventUrl, a synchronous connect
    that asks /event on failure: per call, per settings."""
    plain = load(BASE)
    local = load({**BASE, "CALLER_IDS": "GB=442079460000", "GREETING_TEXT": "", "MAX_CALL_SECONDS": "60"})
    a, b = "https://a.example.com/event?failover=1", "https://b.example.com/api/event?failover=1"
    greeting = {"action": "talk", "text": "Please wait while we connect you."}

    def connect(to: str, caller: str, limit: int, event_url: str | None) -> dict:
        synchronous = {"eventType": "synchronous", "eventUrl": [event_url]} if event_url else {}
        return {"action": "connect", "timeout": 20, "limit": limit, "from": caller, **synchronous,
                "endpoint": [{"type": "phone", "number": to}]}  # fmt: skip

    cases = [
        (plain, "14155550101", a, [greeting, connect("14155550101", "14155550100", 3600, a)]),
        (plain, "14155550199", a, [greeting, connect("14155550199", "14155550100", 3600, a)]),
        (plain, "14155550101", b, [greeting, connect("14155550101", "14155550100", 3600, b)]),
        (plain, "14155550101", None, [greeting, connect("14155550101", "14155550100", 3600, None)]),
        (local, "442079460001", None, [connect("442079460001", "442079460000", 60, None)]),
        (local, "14155550101", None, [connect("14155550101", "14155550100", 60, None)]),
    ]
    for cfg, to, event_url, expected in cases * 2:  # and again, after the others
        made = decide(answer(from_user="jane", to=to), cfg, NOW, event_url)  # type: ignore[arg-type]
        assert made.answer["ncco"] == expected


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC),
        datetime(2026, 11, 21, 0, 0, 0, tzinfo=UTC),  # the next minute, hour and day
        datetime(2026, 11, 21, 5, 30, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),  # same instant
        datetime(2026, 11, 20, 23, 59, 45),  # naive: local time
    ],
)
def test_rate_limit_windows_follow_the_minute_and_its_time_zone(now: datetime) -> None:
    cfg = load(BASE)
    for _ in range(2):  # the second time from what was kept for the minute
        hour, day, minute = rate_limits("jane", now, cfg)
        start = now.replace(second=0, microsecond=0)
        assert (hour.period, day.period, minute.period) == (
            f"{start:%Y-%m-%dT%H}",
            f"{start:%Y-%m-%d}",
            f"{start:%Y-%m-%dT%H:%M}",
        )
        top = start.replace(minute=0)
        assert (hour.expires_at, day.expires_at, minute.expires_at) == (
            int((top + timedelta(hours=1, days=1)).timestamp()),
            int((top.replace(hour=0) + timedelta(days=3)).timestamp()),
            int((start + timedelta(minutes=1, hours=1)).timestamp()),
        )
        assert [limit.limit for limit in (hour, day, minute)] == [
            cfg.max_calls_per_user_per_hour, cfg.max_calls_per_user_per_day, cfg.max_calls_per_minute
        ]  # fmt: skip


def test_rate_limit_texts_follow_the_settings() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    first = rate_limits("jane", now, load({**BASE, "MAX_CALLS_PER_MINUTE": "7"}))[2]
    second = rate_limits("jane", now, load({**BASE, "MAX_CALLS_PER_MINUTE": "8"}))[2]
    assert (first.limit, second.limit) == (7, 8)
    assert first.detail.startswith("7 calls") and second.detail.startswith("8 calls")


@pytest.mark.parametrize(
    ("to", "callee"),
    [
        ("bob", "bob"),
        ("jane@example.com", "jane@example.com"),
        ("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),  # an issuer's sub
        ("auth0|64f1c2", "auth0|64f1c2"),
        ("ABC123", "ABC123"),
        ("14155550101", None),  # a number
        ("+1 (415) 555-0101", None),
        ("1-800-FLOWERS", None),  # a number spelled with letters: refused as a number
        ("1-800-flowers", None),
        ("+44 800 FLOWERS", None),
        ("+1(415)555-0100x12", None),  # an extension
        ("tel:+14155550100", None),  # a number as a URI
        ("sip:alice@example.com", None),
        ("1098765432101234567890", None),  # digits only (a Google sub): a number, refused as one
        ("bob smith", None),  # no user name has a space
        ("", None),
        (None, None),
        (1415555010.0, None),  # JSON that is not text: never a name
    ],
)
def test_a_to_that_names_a_user_is_an_app_to_app_call(to: object, callee: str | None) -> None:
    from chalicelib.answer_request import callee_name

    assert callee_name(to) == callee
