"""devtools/smoke.py's checks of a deployed stage (IAM on the history), against a stand-in stage
that answers as API Gateway and callgate do: 403 for a history request not signed with SigV4.
`make smoke` against the real app is tested in tests/e2e/test_smoke.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from devtools import smoke

SECRET = "a-signature-secret-of-32-bytes-at-least"


class FakeStage(BaseHTTPRequestHandler):
    """callgate behind API Gateway, reduced to what the smoke check sees."""

    events: ClassVar[list[dict]] = []
    history_open = False  # a stage whose history routes lost their IAM authorizer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.path == "/api/health":
            return self._reply(200, {"status": "ok"})
        if self.path.startswith("/api/answer"):
            return self._reply(401, {"error": "unauthorized: missing Authorization header"})
        if self.path.startswith("/api/calls"):
            if not (self.history_open or auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDSMOKE/")):
                return self._reply(403, {"message": "Missing Authentication Token"})
            return self._reply(200, {"events": self.events})
        return self._reply(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self._reply(401, {"error": "unauthorized"})
        if self.path == "/api/answer":
            return self._reply(200, [{"action": "talk", "text": "Sorry."}])
        if self.path == "/api/event":
            self.events.append(body)
            return self._reply(200, {})
        return self._reply(404, {})


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDSMOKE", "AWS_SECRET_ACCESS_KEY": "x",
                        "AWS_DEFAULT_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(FakeStage, "events", [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeStage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()


def results(checks: list[smoke.Check]) -> dict[str, str]:
    return {check.name: check.result for check in checks}


def test_a_deployed_stage_passes_every_check_reading_its_history_with_sigv4(stage: str) -> None:
    checks = smoke.smoke(stage, SECRET, deployed=True)
    assert set(results(checks).values()) == {smoke.PASSED}, checks
    assert len(checks) == 5


def test_a_deployed_history_open_to_anyone_fails(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeStage, "history_open", True)
    checks = results(smoke.smoke(stage, SECRET, deployed=True))
    assert checks["GET /calls refuses a caller without AWS credentials"] == smoke.FAILED
    assert smoke.report(stage, smoke.smoke(stage, SECRET, deployed=True)) == 1


def test_without_credentials_the_stored_event_cannot_be_read_and_that_is_a_failure(
    stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    (check,) = [c for c in smoke.smoke(stage, SECRET, deployed=True) if "stored" in c.name]
    assert check.result == smoke.FAILED and "no AWS credentials" in check.detail


def test_without_a_secret_the_signed_checks_are_skipped_not_passed(stage: str) -> None:
    checks = results(smoke.smoke(stage, None, deployed=True))
    assert checks["a signed /answer gets an NCCO as application/json"] == smoke.SKIPPED
    assert checks["a signed /event is stored and readable"] == smoke.SKIPPED
