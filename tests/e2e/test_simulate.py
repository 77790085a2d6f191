"""`make simulate` against `chalice local`: it plays Vonage for one call and checks the record."""

from __future__ import annotations

import json
import re

import pytest

from devtools import simulate
from devtools.dynamodb_local import free_port
from tests.support import SECRET


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = simulate.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_connected_call_prints_its_timeline(server: str, capsys) -> None:
    code, out, err = run(capsys, "--base", server, "--seed", "7")
    assert (code, err) == (0, "")
    assert re.search(r"^answer .* connect +allowed +\+14155550101", out, flags=re.M)
    for leg, status in [("app", "started"), ("app", "answered"), ("pstn", "ringing"), ("pstn", "answered"),
                        ("pstn", "completed"), ("app", "completed")]:  # fmt: skip
        assert re.search(rf"^event .* {leg} +{status}\b", out, flags=re.M), (leg, status)
    assert "delivered twice, stored once" in out
    assert re.search(r"^summary +completed · 2 legs · \d+ s · 0\.\d{8} · 7 events stored$", out, flags=re.M)


@pytest.mark.parametrize("outcome", ["busy", "unanswered", "failed"])
def test_a_failed_callee_shows_the_failover_ncco(server: str, capsys, outcome: str) -> None:
    code, out, err = run(capsys, "--base", server, "--outcome", outcome)
    assert (code, err) == (0, "")
    assert re.search(rf"^event .* pstn +{outcome}\b", out, flags=re.M)
    ncco = json.loads(
        out.split("failover NCCO answered to the", 1)[1].split("\n", 1)[1].split("\nsummary", 1)[0]
    )
    assert ncco[0]["action"] == "talk"  # no FALLBACK_NUMBER locally: the outcome is spoken
    assert re.search(rf"^summary +{outcome} · ", out, flags=re.M)


def test_a_refused_number_shows_the_refusal_and_its_reason(server: str, capsys) -> None:
    code, out, err = run(capsys, "--base", server, "--to", "18765550100")
    assert (code, err) == (0, "")
    assert re.search(r"^answer .* refuse +country_not_allowed", out, flags=re.M)
    assert "Sorry, calls to that country are not available." in out


def test_a_server_that_is_not_there_fails_naming_the_step(capsys) -> None:
    code, _, err = run(capsys, "--base", f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert err.startswith("simulate: step answer:") and "make run" in err


def test_bad_usage_is_exit_2(capsys) -> None:
    assert run(capsys, "--outcome", "sideways")[0] == 2


def test_a_signed_service_answers_only_signed_requests(signed_server: str, capsys, monkeypatch) -> None:
    """`make simulate` unsigned against a service that checks signatures: 401 at the first step;
    signed with the service's secret: the whole call, failover included, as before."""
    code, _, err = run(capsys, "--base", signed_server)
    assert code == 1 and "answered 401" in err and "VONAGE_SIGNATURE_SECRET" in err
    monkeypatch.setenv("VONAGE_SIGNATURE_SECRET", SECRET)
    code, out, err = run(capsys, "--base", signed_server, "--outcome", "busy")
    assert (code, err) == (0, "")
    assert re.search(r"^summary +busy · 2 legs · ", out, flags=re.M) and "failover NCCO answered" in out


def test_a_callback_rings_the_app_user_who_called_that_number(server: str, capsys) -> None:
    code, out, err = run(capsys, "--base", server, "--direction", "inbound", "--to", "14155550102")
    assert (code, err) == (0, "")
    assert re.search(r"^outbound +jane → 14155550102: .*connect 14155550102", out, flags=re.M)
    assert re.search(r"^answer .* connect +callback_user +talk .*, connect app$", out, flags=re.M)
    legs = [("phone", "started"), ("app", "ringing"), ("app", "answered"), ("phone", "completed")]
    for leg, status in legs:
        assert re.search(rf"^event .* {leg} +{status}$", out, flags=re.M), (leg, status)
    assert re.search(r"^summary +completed · direction inbound · ", out, flags=re.M)
    listed = re.findall(r"^ {10}CON-sim-\w+  (\w+)  (\w+) (\w+)", out, flags=re.M)
    assert ("inbound", "connect", "callback_user") in listed and ("outbound", "connect", "allowed") in listed
    assert "voicemail" not in out.split("listing", 1)[0]  # a call taken leaves none


@pytest.mark.parametrize("outcome", ["unanswered", "busy"])
def test_a_missed_callback_leaves_a_voicemail_shown_in_the_record_and_listing(
    server: str, capsys, outcome: str
) -> None:
    code, out, err = run(capsys, "--base", server, "--direction", "inbound", "--to", "14155550103",
                         "--outcome", outcome)  # fmt: skip
    assert (code, err) == (0, "")
    assert re.search(rf"^failover +app {outcome} → talk \"Please leave a message after the tone.\", record$",
                     out, flags=re.M)  # fmt: skip
    mail = r"^voicemail 14 s, 28000 bytes, for jane: https://api\.nexmo\.com/v1/files/"
    assert re.search(mail, out, flags=re.M)
    assert re.search(r"^ {10}CON-sim-\w+  inbound  connect callback_user  voicemail$", out, flags=re.M)


def test_a_number_nobody_called_hears_the_inbound_text_and_may_leave_a_voicemail(server: str, capsys) -> None:
    code, out, err = run(capsys, "--base", server, "--direction", "inbound", "--from", "14155550177")
    assert (code, err) == (0, "")
    assert re.search(r"\(no app user\)", out)
    assert re.search(r"^answer .* refuse +no_user +talk \"Sorry, nobody is available to take your call.\"",
                     out, flags=re.M)  # fmt: skip
    assert re.search(r"^voicemail 14 s, 28000 bytes, for nobody: ", out, flags=re.M)
    assert "listing" not in out  # filed under no user


def test_bad_direction_is_exit_2(capsys) -> None:
    assert run(capsys, "--direction", "sideways")[0] == 2


@pytest.mark.parametrize("outcome", ["answered", "unanswered"])
def test_an_app_to_app_call_is_played_and_listed_for_both_users(server: str, capsys, outcome: str) -> None:
    code, out, err = run(capsys, "--base", server, "--direction", "internal", "--outcome", outcome)
    assert (code, err) == (0, ""), err
    assert re.search(r"^internal  jane → bob: .*connect", out, flags=re.M)
    status = "completed" if outcome == "answered" else outcome
    assert re.search(rf"^  status {status}; direction internal; callee bob", out, flags=re.M)
    assert ("voicemail for bob (14 s)" in out) == (outcome == "unanswered")
    assert "listed for jane and for bob: ok" in out


def test_an_app_user_calling_themselves_hears_a_refusal(server: str, capsys) -> None:
    code, out, err = run(capsys, "--base", server, "--direction", "internal", "--to", "jane")
    assert (code, err) == (0, "")
    assert "refused: self_call" in out
