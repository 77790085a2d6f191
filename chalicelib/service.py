"""The webhook and read handlers, free of Chalice and boto3 so tests can drive them.

`app.py` turns a Chalice request into (query, body, content type), calls one
method here and turns the Reply into a Response. The store comes from a
factory, so a failing or fake DynamoDB can be injected.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import calls, history, policy, settings
from chalicelib import record as call_record
from chalicelib.settings import ConfigError, Settings
from chalicelib.store import WORST_CALL_S, CallIdentity, CallStore, StoreRejected, StoreUnavailable, time_left
from chalicelib.webhooks import (
    MAX_ID_CHARS,
    AnswerRequest,
    WebhookError,
    clip,
    parse_answer,
    parse_event,
    payload_digest,
    request_params,
    utc_iso,
)

log = logging.getLogger("callgate")
FAILOVER_MARK = "failover"  # on the answer connect's eventUrl: /event?failover=1
# Vonage waits about 1 s for the answer URL; what the store may use of it.
ANSWER_BUDGET_S = 0.85


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Service:
    store_for: Callable[[Settings], CallStore]
    load_settings: Callable[[], Settings] = settings.load
    clock: Callable[[], datetime] = field(default=_now)
    answer_budget_s: float = ANSWER_BUDGET_S

    def answer(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        base_url: str | None = None,
    ) -> Reply:
        """Always 200 with an NCCO: Vonage drops the call on a 500 and never retries it.

        `base_url` is where Vonage reaches this service (for the connect's eventUrl);
        PUBLIC_BASE_URL overrides it.
        """
        deadline = time.monotonic() + self.answer_budget_s
        try:
            return Reply(200, self._answer(query, body, content_type, base_url, deadline))
        except Exception:
            log.exception("answer failed; refusing the call")
            try:
                cfg: Settings | None = self.load_settings()
            except Exception:
                cfg = None
            decision = calls.refusal(
                "internal_error", "unexpected error (see the traceback logged above)", cfg
            )
            _log_decision(
                None, {"decision": decision.action, "reason": decision.reason, "detail": decision.detail}
            )
            return Reply(200, decision.ncco)

    def _answer(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        base_url: str | None,
        deadline: float,
    ) -> list[dict[str, Any]]:
        now = self.clock()
        received_at = utc_iso(now)
        problem = None
        try:
            params = request_params(query, body, content_type)
        except WebhookError as exc:
            params, problem = dict(query or {}), str(exc)
        request = parse_answer(params)
        try:
            cfg = self.load_settings()
        except ConfigError as exc:
            decision = calls.refusal("misconfigured", str(exc))
            _log_decision(request.conversation_uuid, decision.record(request, received_at))
            return decision.ncco
        if problem:
            decision = calls.refusal("invalid_request", problem, cfg)
        else:
            base = cfg.public_base_url or base_url
            decision = calls.decide(request, cfg, f"{base}/event?{FAILOVER_MARK}=1" if base else None)
        record = decision.record(request, received_at)
        if request.conversation_uuid and request.leg_key:  # else there is nothing to file it under
            keys = (request.conversation_uuid, request.leg_key)
            record = self._record(request, keys, decision, record, cfg, now, deadline)
        _log_decision(request.conversation_uuid, record)
        return record["ncco"]

    def _record(
        self,
        request: AnswerRequest,
        keys: tuple[str, str],
        decision: calls.Decision,
        record: dict[str, Any],
        cfg: Settings,
        now: datetime,
        deadline: float,
    ) -> dict[str, Any]:
        """Store the decision, counting a connect against the rate limits; the record to answer with.

        Every DynamoDB call after the first is made only if a worst-case call
        still fits before `deadline`: the refusal must reach Vonage in time.
        """
        conversation_uuid, leg_key = keys
        identity = CallIdentity(conversation_uuid, request.caller, record["received_at"])
        expires_at = _expiry(now, cfg)
        connect = decision.action == calls.CONNECT
        # a connect decision always has a caller: policy.check_caller refused the others
        counters = policy.counters(request.caller or "", now, cfg) if connect else ()
        store = None
        maybe_applied = False
        try:
            store = self.store_for(cfg)
            write = store.record_answer(identity, leg_key, record, expires_at, counters, deadline)
            if write.exceeded is None:
                return write.record
            limited = calls.refusal(write.exceeded.reason, write.exceeded.detail, cfg, decision.destination)
            record = limited.record(request, record["received_at"])
            if time_left(deadline) < WORST_CALL_S:
                log.warning("no time left to store the refusal of %s", conversation_uuid)
                return record
            return store.record_answer(identity, leg_key, record, expires_at).record
        except StoreRejected as exc:
            refused = calls.refusal("invalid_request", str(exc), cfg, decision.destination)
        except StoreUnavailable as exc:
            # Fail closed: a call the policy store cannot vouch for is a call we do not pay for.
            refused = calls.refusal("policy_unavailable", str(exc), cfg, decision.destination)
            maybe_applied = exc.maybe_applied
        record = refused.record(request, record["received_at"])
        if connect and maybe_applied and store is not None and time_left(deadline) > WORST_CALL_S:
            # The counted write may have been applied before its reply was lost: make the
            # stored record say what the caller hears. Best effort.
            try:
                store.replace_answer(identity, leg_key, record, expires_at)
            except StoreUnavailable as exc:
                log.warning("could not correct the record of %s: %s", conversation_uuid, exc)
        return record

    def event(self, query: Mapping[str, str] | None, body: bytes | None, content_type: str | None) -> Reply:
        """200 once stored ({} or a failover NCCO); 4xx for input that can never be stored;
        503 so Vonage retries."""
        received = self.clock()
        # Only the answer's synchronous connect calls /event?failover=1: its events may get a
        # failover NCCO. Any other connect (the fallback number's, say) reports here unmarked.
        query = dict(query or {})
        may_fail_over = query.pop(FAILOVER_MARK, None) == "1"
        try:
            event = parse_event(request_params(query or None, body, content_type), received)
        except WebhookError as exc:
            return Reply(exc.status, {"error": str(exc)})
        try:
            cfg = self.load_settings()
            reply = calls.failover(event.payload, cfg) if may_fail_over else None
            stored = self.store_for(cfg).put_event(event, utc_iso(received), _expiry(received, cfg), reply)
        except ConfigError as exc:
            log.error("event not stored, settings are wrong: %s", exc)
            return Reply(503, {"error": "service misconfigured"})
        except StoreRejected as exc:
            log.error("event rejected by storage: %s", exc)
            return Reply(400, {"error": f"event cannot be stored: {exc}"})
        except StoreUnavailable as exc:
            # Vonage retries a 503, then (for a synchronous connect) asks /fallback.
            log.error("event not stored: %s", exc)
            return Reply(503, {"error": "storage unavailable, retry later"})
        if not stored:
            log.info("duplicate event ignored: %s %s", event.conversation_uuid, event.digest)
        if reply is not None:
            log.info(json.dumps({"log": "failover", "conversation_uuid": event.conversation_uuid,
                                 "uuid": event.leg_uuid, "status": event.status}))  # fmt: skip
            return Reply(200, reply)
        return Reply(200, {})

    def fallback(
        self, query: Mapping[str, str] | None, body: bytes | None, content_type: str | None
    ) -> Reply:
        """Vonage's fallback answer URL: always 200 with a spoken NCCO; the use is recorded."""
        now = self.clock()
        try:
            cfg: Settings | None = self.load_settings()
        except ConfigError as exc:
            log.error("fallback: settings are wrong: %s", exc)
            cfg = None
        reply = calls.fallback_answer(cfg)
        try:
            params = request_params(query, body, content_type)
        except WebhookError as exc:
            log.warning("fallback: unreadable request (%s)", exc)
            return Reply(200, reply)
        request = parse_answer(params)
        original = params.get("original_request")
        record = {
            "reason": clip(params.get("reason"), 200),
            "original_request": (
                {k: clip(v, 200) for k, v in original.items() if k in ("url", "type")}
                if isinstance(original, dict)
                else clip(original, 200)
            ),
            "uuid": request.uuid,
            "caller": clip(request.caller, 200),
            "to": clip(request.to, 200),
            "received_at": utc_iso(now),
        }
        log.warning(
            json.dumps({"log": "fallback_used", "conversation_uuid": request.conversation_uuid, **record})
        )
        if cfg is not None and request.conversation_uuid and request.leg_key:
            identity = CallIdentity(request.conversation_uuid, request.caller, record["received_at"])
            # one record per use: Vonage's two tries of one use are the same request
            use_key = f"{request.leg_key}#{payload_digest(params)}"
            try:
                store = self.store_for(cfg)
                store.record_fallback(identity, use_key, record, _expiry(now, cfg))
                carried = {k: v for k, v in params.items() if k not in ("reason", "original_request")}
                if isinstance(carried.get("status"), str):  # an event whose event-URL request failed
                    store.put_event(parse_event(carried, now), record["received_at"], _expiry(now, cfg))
            except (StoreUnavailable, WebhookError) as exc:
                log.error("fallback use not fully recorded: %s", exc)
        return Reply(200, reply)

    def _read(self, what: str, read: Callable[[CallStore], Any]) -> Any:
        """Run a read against the store; a Reply(503) instead when that cannot be done."""
        try:
            return read(self.store_for(self.load_settings()))
        except ConfigError as exc:
            log.error("%s: settings are wrong: %s", what, exc)
            return Reply(503, {"error": "service misconfigured"})
        except StoreUnavailable as exc:
            log.error("%s: %s", what, exc)
            return Reply(503, {"error": "storage unavailable, retry later"})

    def call(self, conversation_uuid: str) -> Reply:
        if not conversation_uuid or len(conversation_uuid) > MAX_ID_CHARS:
            return Reply(400, {"error": f"conversation_uuid must be 1-{MAX_ID_CHARS} characters"})
        found = self._read("call not read", lambda store: store.get_call(conversation_uuid))
        if isinstance(found, Reply):
            return found
        if found is None:
            return Reply(404, {"error": f"no call with conversation_uuid {conversation_uuid!r}"})
        view = call_record.call_view(conversation_uuid, found["answers"], found["events"], found["fallbacks"])
        return Reply(200, view)

    def list_calls(self, query: Mapping[str, str] | None) -> Reply:
        """GET /calls?user=…|date=…: newest first, `next` for the following page."""
        try:
            listing = history.parse_listing(query)
        except history.BadQuery as exc:
            return Reply(400, {"error": str(exc)})
        page = self._read(
            "calls not listed",
            lambda store: store.list_calls(
                listing.index, listing.key, listing.sort_prefix, listing.limit, listing.start
            ),
        )
        if isinstance(page, Reply):
            return page
        listed = [call_record.listing_view(item) for item in page.calls]
        return Reply(200, {"calls": listed, "next": listing.token(page.last_key)})

    def health(self) -> Reply:
        try:
            self.store_for(self.load_settings()).check()
        except ConfigError as exc:
            return Reply(503, {"status": "misconfigured", "error": str(exc)})
        except StoreUnavailable as exc:
            return Reply(503, {"status": "unavailable", "error": str(exc)})
        return Reply(200, {"status": "ok"})


def _expiry(now: datetime, cfg: Settings) -> int:
    """The TTL of an item written now (RETENTION_DAYS)."""
    return int(now.timestamp()) + cfg.retention_days * 86400


def _log_decision(conversation_uuid: str | None, record: dict[str, Any]) -> None:
    """One JSON line per answer decision, for log search and metrics."""
    line = {"log": "answer_decision", "conversation_uuid": conversation_uuid}
    line.update({k: v for k, v in record.items() if k != "ncco"})
    log.info(json.dumps(line, ensure_ascii=False))
