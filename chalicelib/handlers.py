"""One method per route, free of Chalice and boto3 so tests can drive them.

`app.py` turns a Chalice request into (query, body, content type), calls one
method here and turns the Reply into a Response. The store comes from a
factory, so a failing or fake DynamoDB can be injected.

What an exception becomes is decided in one place for each kind of route: the
answer URL turns every failure into a spoken refusal (`_refusal_for`; Vonage
drops the call on a 500 and never retries it), the other routes into a 4xx or
503 (`_error_reply`; Vonage retries a 503 from the event URL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chalicelib import decision, logs, signature, summary
from chalicelib.listing import BadQuery, parse_listing, parse_record
from chalicelib.secrets import SecretMisconfigured, SecretUnavailable
from chalicelib.settings import ConfigError, Settings, load
from chalicelib.storage.call_store import CallIdentity, CallStore
from chalicelib.storage.errors import StoreRejected, StoreUnavailable
from chalicelib.storage.timing import ANSWER_BUDGET_S, EVENT_BUDGET_S, WORST_CALL_S, time_left
from chalicelib.webhooks import (
    MAX_ID_CHARS,
    AnswerRequest,
    WebhookError,
    compact_json,
    now_stamp,
    parse_event,
    parse_fallback,
    read_answer,
    request_params,
    utc_iso,
)

FAILOVER_MARK = "failover"  # on the answer connect's eventUrl: /event?failover=1
OWN_QUERY_KEYS = frozenset({FAILOVER_MARK})  # what callgate adds to its own URLs, outside Vonage's payload


class Reply(NamedTuple):
    """A tuple, not a frozen dataclass: as immutable, built at a fraction of the cost, once a request."""

    status: int
    body: Any
    encoded: str | None = None  # the body as JSON already, when it was encoded for something else


# What /event answers once an event is stored (and no failover is due): one reply for all of them,
# its JSON with it. Never changed: nothing writes to a Reply's body.
_STORED = Reply(200, {}, "{}")


def _now() -> datetime:
    return datetime.now(UTC)


def _error_reply(exc: Exception, route: str, rejected: str | None = None) -> Reply:
    """The reply to a request that failed: 4xx when a retry cannot help, 503 when it can.

    `rejected`: on a write, what a 400 says when DynamoDB refuses the item for good. A read
    DynamoDB refuses (a missing index, say) is the service's fault: 503.
    """
    if isinstance(exc, (WebhookError, BadQuery)):
        return Reply(getattr(exc, "status", 400), {"error": str(exc)})
    if isinstance(exc, (ConfigError, SecretMisconfigured)):
        logs.error("misconfigured", route=route, error=str(exc))
        return Reply(503, {"error": "service misconfigured"})
    if isinstance(exc, SecretUnavailable):
        logs.error("secret_unavailable", route=route, error=str(exc))
        return Reply(503, {"error": "signature secret unavailable, retry later"})
    if isinstance(exc, StoreRejected) and rejected is not None:
        logs.error("storage_rejected", route=route, error=str(exc))
        return Reply(400, {"error": f"{rejected}: {exc}"})
    if isinstance(exc, StoreUnavailable):
        logs.error("storage_unavailable", route=route, error=str(exc))
        return Reply(503, {"error": "storage unavailable, retry later"})
    raise exc


def _expiry(now: datetime, settings: Settings) -> int:
    """The TTL of an item written now (RETENTION_DAYS)."""
    return _expiry_after(int(now.timestamp()), settings)


def _expiry_after(seconds: int, settings: Settings) -> int:
    """_expiry() of a time already in epoch seconds."""
    return seconds + settings.retention_days * 86400


def _unauthorized(route: str, reason: str) -> Reply:
    """401 for a request not provably from Vonage: nothing read, stored or counted."""
    logs.warning("signature_rejected", route=route, reason=reason)
    return Reply(401, {"error": f"unauthorized: {reason}"})


@dataclass
class Handlers:
    store_for: Callable[[Settings], CallStore]
    load_settings: Callable[[], Settings] = load
    clock: Callable[[], datetime] = field(default=_now)
    answer_budget_s: float = ANSWER_BUDGET_S
    # the signature secrets in an SSM parameter (secrets.ParameterStore.secrets in app.py)
    read_secret: Callable[[str], tuple[str, ...]] | None = None

    def _signature_problem(
        self,
        settings: Settings,
        authorization: str | None,
        query: Mapping[str, str] | None,
        body: bytes | None,
    ) -> str | None:
        """Why this request is not provably Vonage's; None when it is (or unsigned ones may pass).

        In front of every webhook, before anything is parsed for use, stored or counted.
        """
        secrets = settings.signature_secrets
        if not secrets and settings.signature_secret_param:
            if self.read_secret is None:
                raise SecretMisconfigured("VONAGE_SIGNATURE_SECRET_PARAM is set but nothing reads it")
            secrets = self.read_secret(settings.signature_secret_param)
        if not secrets:  # settings allow this only with ALLOW_UNSIGNED_WEBHOOKS (a local stage)
            return None
        try:
            signature.verify(
                authorization,
                secrets,
                self.clock().timestamp(),
                settings.signature_max_age_seconds,
                query,
                body,
                own_keys=OWN_QUERY_KEYS,
            )
        except signature.SignatureError as exc:
            return str(exc)
        return None

    # --- the answer URL: always 200 with an NCCO ------------------------------------------------

    def answer(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        base_url: str | None = None,
        authorization: str | None = None,
    ) -> Reply:
        """parse → settings → signature → decide → store once → reply.

        Every failure is a spoken refusal (200), but a request not provably from Vonage gets
        401 and no NCCO. `base_url` is where Vonage reaches this service (for the connect's
        eventUrl); PUBLIC_BASE_URL overrides it.
        """
        deadline = time.monotonic() + self.answer_budget_s
        now = self.clock()
        request: AnswerRequest | None = None
        settings: Settings | None = None
        made: decision.Decision | None = None
        encoded: _AnswerJSON | None = None
        try:
            request = read_answer(query, body, content_type)
            settings = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)
            if rejected:
                return _unauthorized("answer", rejected)
            base = settings.public_base_url or base_url
            if base is None:  # the connect cannot ask for failover: no synchronous eventUrl
                logs.warning("no_event_url", why="set PUBLIC_BASE_URL")
            made = decision.decide(
                request, settings, now, f"{base}/event?{FAILOVER_MARK}=1" if base else None
            )
            answer, stored = made.answer, False
            encoded = _AnswerJSON.of(answer)
            leg_key = request.leg_key
            if leg_key is not None:  # else there is nothing to file it under
                call = CallIdentity(request.conversation_uuid, request.caller, answer["received_at"])  # type: ignore[arg-type]
                saved = self.store_for(settings).save_answer(
                    call, leg_key, answer, _expiry(now, settings), made.limits, deadline, encoded.whole()
                )
                answer, stored = saved.answer, saved.stored
        except Exception as exc:  # the caller must hear something, whatever broke
            answer, stored = self._refusal_for(exc, request, settings, made, now, deadline)
        if encoded is None or encoded.answer is not answer:  # a retry's first answer, a refusal
            encoded = _AnswerJSON.of(answer)
        _log_answer(request.conversation_uuid if request else None, encoded.fields, stored)
        return Reply(200, answer["ncco"], encoded.ncco)

    def _refusal_for(
        self,
        exc: Exception,
        request: AnswerRequest | None,
        settings: Settings | None,
        made: decision.Decision | None,
        now: datetime,
        deadline: float,
    ) -> tuple[dict[str, Any], bool]:
        """The answer when something failed, and whether it is stored (only a corrected one is)."""
        received_at = utc_iso(now)
        dest = made.destination if made is not None else None
        if isinstance(exc, (ConfigError, SecretMisconfigured)):
            return decision.refusal("misconfigured", str(exc), None, request, received_at).answer, False
        if isinstance(exc, SecretUnavailable):  # cannot tell Vonage from a forger: fail closed
            return decision.refusal(
                "policy_unavailable", str(exc), settings, request, received_at
            ).answer, False
        if isinstance(exc, StoreRejected):
            return decision.refusal(
                "invalid_request", str(exc), settings, request, received_at, dest
            ).answer, False
        if not isinstance(exc, StoreUnavailable) or request is None or settings is None:
            logs.exception(
                "answer_failed", exc, conversation_uuid=request.conversation_uuid if request else None
            )
            return decision.refusal(
                "internal_error", "unexpected error (see the traceback logged above)", settings,
                request, received_at if request else None,
            ).answer, False  # fmt: skip
        # Fail closed: a call the policy store cannot vouch for is a call we do not pay for.
        refused = decision.refusal(
            "policy_unavailable", str(exc), settings, request, received_at, dest
        ).answer
        if made is not None and made.connects and exc.maybe_applied and time_left(deadline) > WORST_CALL_S:
            # The counted write may have been applied before its reply was lost: make the
            # stored answer say what the caller hears. Best effort.
            call = CallIdentity(request.conversation_uuid, request.caller, received_at)  # type: ignore[arg-type]
            try:
                self.store_for(settings).replace_answer(
                    call,
                    request.leg_key,
                    refused,
                    _expiry(now, settings),  # type: ignore[arg-type]
                )
                return refused, True
            except Exception as again:  # best effort: the caller hears the refusal regardless
                logs.warning(
                    "answer_not_corrected", conversation_uuid=request.conversation_uuid, error=str(again)
                )
        return refused, False

    # --- the event URL ---------------------------------------------------------------------------

    def event(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        authorization: str | None = None,
    ) -> Reply:
        """200 once stored ({} or a failover NCCO); 4xx for input that can never be stored;
        503 so Vonage retries (and, for a synchronous connect, then asks /fallback)."""
        deadline = time.monotonic() + EVENT_BUDGET_S
        if self.clock is _now:  # the system clock, read as _now reads it but without a datetime
            received_at, seconds = now_stamp()
        else:
            received = self.clock()
            received_at, seconds = utc_iso(received), int(received.timestamp())
        # Only the answer's synchronous connect calls /event?failover=1: its events may get a
        # failover NCCO. Any other connect (the fallback number's, say) reports here unmarked.
        fields: dict[str, str] | None = None
        may_fail_over = False
        if query:  # most events come without one
            fields = dict(query)
            may_fail_over = fields.pop(FAILOVER_MARK, None) == "1"
        try:
            settings = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)
            if rejected:
                return _unauthorized("event", rejected)
            event = parse_event(request_params(fields or None, body, content_type), received_at)
            reply = decision.failover(event.payload, settings) if may_fail_over else None
            store = self.store_for(settings)
            stored = store.save_event(event, received_at, _expiry_after(seconds, settings), reply, deadline)
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _error_reply(exc, "event", rejected="event cannot be stored")
        if not stored:
            logs.info("duplicate_event", conversation_uuid=event.conversation_uuid, digest=event.digest)
        if reply is not None:
            logs.info(
                "failover",
                conversation_uuid=event.conversation_uuid,
                uuid=event.leg_uuid,
                status=event.status,
            )
            return Reply(200, reply)
        return _STORED

    # --- the fallback answer URL -------------------------------------------------------------------

    def fallback(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        authorization: str | None = None,
    ) -> Reply:
        """Vonage's fallback answer URL: 200 with a spoken NCCO, the use recorded; 401 unsigned.

        With settings that cannot be read nothing can be verified or stored: the built-in
        message is spoken (it connects nothing, so a forger gains nothing).
        """
        deadline = time.monotonic() + self.answer_budget_s  # Vonage waits on it like the answer URL
        now = self.clock()
        try:
            settings: Settings | None = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)  # type: ignore[arg-type]
            if rejected:
                return _unauthorized("fallback", rejected)
        except (ConfigError, SecretUnavailable) as exc:
            logs.error("misconfigured", route="fallback", error=str(exc))
            settings = None
        reply = Reply(200, decision.fallback_answer(settings))
        try:
            use = parse_fallback(request_params(query, body, content_type), now)
        except WebhookError as exc:
            logs.warning("fallback_unreadable", error=str(exc))
            return reply
        request = use.request
        logs.warning("fallback_used", conversation_uuid=request.conversation_uuid, **use.fallback)
        if settings is None or use.use_key is None:
            return reply
        call = CallIdentity(request.conversation_uuid, request.caller, use.fallback["received_at"])  # type: ignore[arg-type]
        try:
            store = self.store_for(settings)
            store.save_fallback(call, use.use_key, use.fallback, _expiry(now, settings), deadline)
            if use.carried is not None:  # only if a write still fits the budget (transact checks)
                store.save_event(
                    use.carried, use.fallback["received_at"], _expiry(now, settings), None, deadline
                )
        except StoreUnavailable as exc:
            logs.error("fallback_not_recorded", conversation_uuid=request.conversation_uuid, error=str(exc))
        except Exception as exc:  # the caller must still hear the fallback answer, whatever broke
            logs.exception("fallback_not_recorded", exc, conversation_uuid=request.conversation_uuid)
        if use.carried_problem:
            logs.error(
                "fallback_event_invalid",
                conversation_uuid=request.conversation_uuid,
                error=use.carried_problem,
            )
        return reply

    # --- reads -----------------------------------------------------------------------------------

    def get_call(self, conversation_uuid: str, query: Mapping[str, str] | None = None) -> Reply:
        """GET /calls/{id}: the call record, with one page of its events (`next` for the rest)."""
        if not conversation_uuid or len(conversation_uuid) > MAX_ID_CHARS:
            return Reply(400, {"error": f"conversation_uuid must be 1-{MAX_ID_CHARS} characters"})
        try:
            page = parse_record(conversation_uuid, query)
            found = self.store_for(self.load_settings()).get_call(conversation_uuid, page.limit, page.start)
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _error_reply(exc, "calls/{conversation_uuid}")
        if found is None:
            return Reply(404, {"error": f"no call with conversation_uuid {conversation_uuid!r}"})
        return Reply(
            200,
            summary.record_view(
                conversation_uuid, found.summary, found.answers, found.fallbacks, found.legs, found.events,
                found.next,
            ),
        )  # fmt: skip

    def list_calls(self, query: Mapping[str, str] | None) -> Reply:
        """GET /calls?user=…|date=…: newest first, `next` for the following page."""
        try:
            listing = parse_listing(query)
            page = self.store_for(self.load_settings()).list_calls(listing)
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _error_reply(exc, "calls")
        return Reply(200, {"calls": [summary.listing_view(item) for item in page.calls], "next": page.next})

    def health(self) -> Reply:
        """The settings, the signature secret and the table (its check is cached briefly by the
        store, so pollers cannot starve the webhooks of DynamoDB)."""
        try:
            settings = self.load_settings()
            self._signature_problem(settings, None, None, None)  # the secret can be read
            self.store_for(settings).check()
        except ConfigError as exc:  # names the setting, never a value
            return Reply(503, {"status": "misconfigured", "error": str(exc)})
        except SecretMisconfigured as exc:
            logs.error("health", status="misconfigured", error=str(exc))
            return Reply(
                503, {"status": "misconfigured", "error": "the signature secret parameter is unusable"}
            )
        except SecretUnavailable as exc:  # AWS's messages may name the account and role: logged only
            logs.error("health", status="unavailable", error=str(exc))
            return Reply(503, {"status": "unavailable", "error": "the signature secret cannot be read"})
        except StoreUnavailable as exc:
            logs.error("health", status="unavailable", error=str(exc))
            return Reply(503, {"status": "unavailable", "error": "the calls table is unavailable"})
        return Reply(200, {"status": "ok"})


class _AnswerJSON(NamedTuple):
    """An answer as compact JSON, encoded once for the store, the log line and the reply."""

    answer: dict[str, Any]
    fields: str  # every field but the NCCO
    ncco: str

    @classmethod
    def of(cls, answer: dict[str, Any]) -> _AnswerJSON:
        fields = {name: value for name, value in answer.items() if name != "ncco"}
        return cls(answer, _compact(fields), _compact(answer["ncco"]))

    def whole(self) -> str:
        """The answer with its NCCO, as the store keeps it."""
        return ('{"ncco":' if self.fields == "{}" else self.fields[:-1] + ',"ncco":') + self.ncco + "}"


_compact = compact_json(sort_keys=False)


def _log_answer(conversation_uuid: str | None, fields: str, stored: bool) -> None:
    """One JSON line per answer, for log search and metrics; `stored` false marks an answer the
    call record lacks (Lambda cannot write after it has replied, so none is written later).
    `fields`: the answer's fields but its NCCO, as JSON."""
    logs.info_with("answer_decision", {"conversation_uuid": conversation_uuid, "stored": stored}, fields)
