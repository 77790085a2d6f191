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
