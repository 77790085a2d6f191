"""`make smoke BASE=… SECRET=…` against `chalice local`, as `make deploy` runs it against a stage:
it passes against a stage that checks signatures, and fails, naming the check, against one that
takes unsigned webhooks or checks another secret."""

from __future__ import annotations

import subprocess

from tests.support import ROOT, SECRET


def make_smoke(*settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "smoke", *settings],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_stage_that_checks_signatures_passes(signed_server: str) -> None:
    done = make_smoke(f"BASE={signed_server}", f"SECRET={SECRET}")
    assert done.returncode == 0, done.stdout + done.stderr
    for passed in (
        "ok      GET /health answers 200",
        "ok      an unsigned /answer gets 401",
        "ok      a signed /answer gets an NCCO as application/json",
        "ok      a signed /event is stored and readable",
    ):
        assert passed in done.stdout, passed
    assert "skipped GET /calls refuses a caller without AWS credentials" in done.stdout  # no IAM locally
    assert f"smoke passed against {signed_server}: 4 ok, 0 failed, 1 skipped" in done.stdout


def test_another_secret_fails_the_signed_checks(signed_server: str) -> None:
    done = make_smoke(f"BASE={signed_server}", "SECRET=not-the-secret-the-stage-checks-0123")
    assert done.returncode != 0
    assert "FAILED  a signed /answer gets an NCCO as application/json    401" in done.stdout
    assert "is SECRET the secret the stage checks?" in done.stdout
    assert "smoke FAILED" in done.stdout


def test_a_stage_that_takes_unsigned_webhooks_fails(server: str) -> None:
    done = make_smoke(f"BASE={server}")
    assert done.returncode != 0
    assert "FAILED  an unsigned /answer gets 401" in done.stdout
    assert "the stage accepts unsigned webhooks" in done.stdout
    assert "skipped a signed /answer" in done.stdout  # no SECRET: said, not silently passed


def test_smoke_needs_a_base_and_says_when_nothing_answers() -> None:
    assert "make smoke needs BASE=" in make_smoke().stderr
    done = make_smoke("BASE=http://127.0.0.1:9")  # the discard port: nothing listens
    assert done.returncode != 0 and "cannot reach it" in done.stderr
