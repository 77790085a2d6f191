"""`make smoke BASE=… [SECRET=…]`: a running stage checked from outside, the way Vonage meets it.

1. `GET /health` answers 200;
2. an unsigned `/answer` gets 401 (a stage that answers it accepts forged calls);
3. a signed answer (POST, JSON, as Vonage sends it with signed webhooks on) gets an NCCO as
   `application/json`;
4. a signed event for that call is stored: `GET /calls/{id}` shows it;
5. deployed (BASE not this machine), `GET /calls` without AWS credentials is refused (403): the
   history is behind IAM. `chalice local` does not check IAM, so locally this is skipped.

SECRET is the Vonage signature secret the stage checks (`VONAGE_SIGNATURE_SECRET` locally, the
SSM parameter deployed); without it checks 3 and 4 are skipped and said so. A deployed stage's
history is read with this machine's AWS credentials (SigV4, through botocore), as any IAM
caller reads it. The call it leaves is `CON-smoke-…`, placed by the user `callgate-smoke`.
Exit status: 0 when every check that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib import error, parse, request

from chalicelib import signature

TIMEOUT_S = 10.0  # a cold start plus a DynamoDB table's first call
USER = "callgate-smoke"
TO = "14155550123"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
PASSED, FAILED, SKIPPED = "ok", "FAILED", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    result: str  # PASSED, FAILED or SKIPPED
    detail: str


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def text(self, limit: int = 200) -> str:
        shown = self.body.decode("utf-8", "replace").strip()
        return shown[:limit] + ("…" if len(shown) > limit else "")


def is_local(base: str) -> bool:
    return parse.urlsplit(base).hostname in LOCAL_HOSTS


def fetch(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    """One request; any status is a Reply (a connection that fails raises OSError)."""
    handlers = [request.ProxyHandler({})] if is_local(url) else []  # a local server: no proxy
    req = request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with request.build_opener(*handlers).open(req, timeout=TIMEOUT_S) as response:
            return Reply(response.status, response.headers.get_content_type(), response.read())
    except error.HTTPError as exc:
        return Reply(exc.code, exc.headers.get_content_type(), exc.read())


def signed_post(url: str, payload: dict[str, Any], secret: str) -> Reply:
    """POST `payload` as JSON with a token as Vonage signs it (payload_hash of the body)."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    token = signature.sign(secret, time.time(), None, body, jti=str(uuid.uuid4()))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return fetch("POST", url, body, headers)


def iam_get(url: str) -> Reply:
    """GET `url` signed with this machine's AWS credentials (SigV4, service execute-api)."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise LookupError("no AWS credentials here to read the history with (it needs IAM)")
    host = parse.urlsplit(url).hostname or ""
    region = host.split(".")[2] if host.endswith(".amazonaws.com") else session.get_config_variable("region")
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "execute-api", region or "us-east-1").add_auth(signed)
    return fetch("GET", url, headers=dict(signed.headers.items()))


def _is_ncco(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(action, dict) and isinstance(action.get("action"), str) for action in value)
    )


def smoke(base: str, secret: str | None, deployed: bool | None = None) -> list[Check]:
    """Every check against the stage at `base`, in order; `deployed` (default: `base` is not this
    machine) checks the history's IAM and reads it with SigV4."""
    base = base.rstrip("/")
    deployed = not is_local(base) if deployed is None else deployed
    conversation = f"CON-smoke-{uuid.uuid4()}"
    leg = str(uuid.uuid4())
    checks: list[Check] = []

    reply = fetch("GET", f"{base}/health")
    checks.append(Check("GET /health answers 200", PASSED if reply.status == 200 else FAILED,
                        f"{reply.status} {reply.text()}"))  # fmt: skip

    query = parse.urlencode({"from_user": USER, "to": TO, "conversation_uuid": conversation, "uuid": leg})
    reply = fetch("GET", f"{base}/answer?{query}")
    detail = f"{reply.status} {reply.text()}"
    if reply.status == 200:
        detail += " (the stage accepts unsigned webhooks: anyone can place calls on its number)"
    checks.append(Check("an unsigned /answer gets 401", PASSED if reply.status == 401 else FAILED, detail))

    if not secret:
        why = "no SECRET given (the Vonage signature secret the stage checks)"
        checks.append(Check("a signed /answer gets an NCCO as application/json", SKIPPED, why))
        checks.append(Check("a signed /event is stored and readable", SKIPPED, why))
    else:
        checks.extend(_signed_call(base, secret, conversation, leg, deployed))

    name = "GET /calls refuses a caller without AWS credentials"
    if deployed:
        reply = fetch("GET", f"{base}/calls?user={USER}")
        checks.append(
            Check(name, PASSED if reply.status == 403 else FAILED, f"{reply.status} {reply.text()}")
        )
    else:
        checks.append(Check(name, SKIPPED, "a local server: chalice local does not check IAM"))
    return checks


def _signed_call(base: str, secret: str, conversation: str, leg: str, deployed: bool) -> list[Check]:
    """Checks 3 and 4: a signed answer, then a signed event for the same call, read back."""
    answer = {"from_user": USER, "to": TO, "conversation_uuid": conversation, "uuid": leg}
    reply = signed_post(f"{base}/answer", answer, secret)
    ncco: Any = None
    if reply.status == 200 and reply.content_type == "application/json":
        try:
            ncco = json.loads(reply.body)
        except ValueError:
            ncco = None
    good = _is_ncco(ncco)
    detail = f"{reply.status} {reply.content_type}: {reply.text()}"
    if reply.status == 401:
        detail += " (is SECRET the secret the stage checks?)"
    checks = [Check("a signed /answer gets an NCCO as application/json", PASSED if good else FAILED, detail)]

    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = {
        "from": USER, "to": TO, "uuid": leg, "conversation_uuid": conversation, "status": "started",
        "direction": "outbound", "timestamp": now,
    }  # fmt: skip
    name = "a signed /event is stored and readable"
    reply = signed_post(f"{base}/event", event, secret)
    if reply.status != 200:
        checks.append(Check(name, FAILED, f"POST /event: {reply.status} {reply.text()}"))
        return checks
    url = f"{base}/calls/{parse.quote(conversation, safe='')}"
    try:
        reply = iam_get(url) if deployed else fetch("GET", url)
    except (ImportError, LookupError) as exc:
        checks.append(Check(name, FAILED, f"stored, not read back: {exc}"))
        return checks
    stored = False
    if reply.status == 200:
        try:
            record = json.loads(reply.body)
            stored = any(
                e.get("uuid") == leg and e.get("status") == "started" for e in record.get("events", [])
            )
        except (ValueError, AttributeError):
            stored = False
    detail = f"GET /calls/{conversation}: {reply.status}" + ("" if stored else f" {reply.text()}")
    checks.append(Check(name, PASSED if stored else FAILED, detail))
    return checks


def report(base: str, checks: list[Check]) -> int:
    """Print one line per check and a verdict; the exit status."""
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"  {check.result:<7} {check.name:<{width}}  {check.detail}")
    failed = [check for check in checks if check.result == FAILED]
    skipped = [check for check in checks if check.result == SKIPPED]
    verdict = "FAILED" if failed else "passed"
    extra = f", {len(skipped)} skipped" if skipped else ""
    passed = len(checks) - len(failed) - len(skipped)
    print(f"smoke {verdict} against {base}: {passed} ok, {len(failed)} failed{extra}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", nargs="?", default=os.environ.get("BASE", ""), help="the stage's URL (…/api)")
    parser.add_argument("--secret", default=os.environ.get("SECRET", ""), help="the Vonage signature secret")
    parser.add_argument(
        "--deployed", action="store_true", default=os.environ.get("DEPLOYED", "") not in ("", "0"),
        help="check BASE as a deployed stage even on this machine (a tunnel, a proxy)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.base:
        print("make smoke needs BASE=<the stage's URL>, e.g. http://127.0.0.1:8000", file=sys.stderr)
        return 2
    print(f"smoke: checking {args.base}")
    try:
        checks = smoke(args.base, args.secret.strip() or None, True if args.deployed else None)
    except OSError as exc:
        print(f"smoke FAILED against {args.base}: cannot reach it ({exc})", file=sys.stderr)
        return 1
    return report(args.base, checks)


if __name__ == "__main__":
    sys.exit(main())
