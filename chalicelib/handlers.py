"""One method per route, free of Chalice and boto3 so tests can drive them.

`app.py` turns a Chalice request into (query, body, content type), calls one
method here and turns the Reply into a Response. The store comes from a
factory, so a failing or fake DynamoDB can be injected.

What an exception becomes is decided in one place for each kind of route: the
answer URL turns every failure into a spoken refusal (`_refusal_for`; Vonage
drops the call on a 500 and never retries it), the other routes into a 4xx or
503 (`_error_reply`; Vonage retries a 503 from the event URL).

Every request writes one request line as it replies (`metrics.line`): route, outcome, status,
latency and ids, with the request's CloudWatch metrics embedded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from chalicelib import decision, logs, metrics, prompts, signature, summary
from chalicelib.listing import BadQuery, parse_listing, parse_record
from chalicelib.secrets import SecretMisconfigured, SecretUnavailable
from chalicelib.settings import ConfigError, Settings, load, metrics_namespace_of
from chalicelib.storage.call_store import CallIdentity, CallStore
from chalicelib.storage.errors import StoreRejected, StoreUnavailable
from chalicelib.storage.timing import ANSWER_BUDGET_S, EVENT_BUDGET_S, WORST_CALL_S, time_left
from chalicelib.webhooks import (
    MAX_ID_CHARS,
    AnswerRequest,
    Event,
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
# what callgate adds to its own URLs, outside Vonage's payload
OWN_QUERY_KEYS = frozenset({FAILOVER_MARK, decision.RECORDING_MARK})


class Reply(NamedTuple):
    """A tuple, not a frozen dataclass: as immutable, built at a fraction of the cost, once a request."""

    status: int
    body: Any
    encoded: str | None = None  # the body as JSON already, when it was encoded for something else
    headers: Mapping[str, str] | None = None  # besides Content-Type


# What /event answers once an event is stored (and no failover is due): one reply for all of them,
# its JSON with it. Never changed: nothing writes to a Reply's body.
_STORED = Reply(200, {}, "{}")
_perf_counter = time.perf_counter


# --- the request lines: one per request, written as it replies (metrics.py) ----------------------


class _Route(NamedTuple):
    log: str  # the request line's "log"
    path: str  # its "route", and every other line's about the request (`misconfigured`, say)


_ANSWER = _Route("answer_decision", "/answer")
_EVENT = _Route("event", "/event")
_FALLBACK = _Route("fallback", "/fallback")
_LISTING = _Route("history", "/calls")
_RECORD = _Route("history", "/calls/{id}")
_HEALTH = _Route("health", "/health")
_TOKEN = _Route("token", "/token")
_NO_STORE = {"Cache-Control": "no-store"}  # a login token is never cached (RFC 6749 §5.1)
_OUTCOMES = {401: "unauthorized", 404: "not_found", 503: "unavailable"}  # else 4xx rejected, 5xx error
_KINDS: dict[tuple[_Route, str, int, tuple[str, ...]], metrics.Kind] = {}


def _kind(route: _Route, outcome: str, status: int, counts: tuple[str, ...] = ()) -> metrics.Kind:
    """The kind of line (its constant text) for this outcome; built once. Every argument comes
    from this module, never from a request: the cache stays small."""
    key = (route, outcome, status, counts)
    try:
        return _KINDS[key]
    except KeyError:
        kind = _KINDS[key] = metrics.Kind(route.log, route.path, outcome, status, counts)
        return kind


_EVENT_STORED = _kind(_EVENT, "stored", 200, (metrics.EVENTS_STORED,))
_EVENT_DUPLICATE = _kind(_EVENT, "duplicate", 200, (metrics.DUPLICATES,))
_FAILOVER_STORED = _kind(_EVENT, "failover", 200, (metrics.EVENTS_STORED,))
_TOKEN_MINTED = _kind(_TOKEN, "minted", 200, (metrics.TOKENS_MINTED,))
_VOICEMAIL_STORED = _kind(_EVENT, "voicemail", 200, (metrics.EVENTS_STORED, metrics.VOICEMAILS))
_FAILOVER_DUPLICATE = _kind(_EVENT, "failover", 200, (metrics.DUPLICATES,))

# An answer's Decision and Reason are metric dimensions, each of its values a metric of its own:
# only these, so a stored answer that says otherwise cannot add metrics ("other").
_DECISIONS = frozenset({decision.CONNECT, decision.REFUSE})
_REASONS = frozenset({prompts.ALLOWED, *prompts.REFUSALS, *prompts.INBOUND_REASONS})
_ANSWER_KINDS: dict[tuple[str, str], metrics.Kind] = {}


def _answer_kind(made: Any, reason: Any) -> metrics.Kind:
    """The kind of an answer's line: its decision is the outcome, and it counts one Answer."""
    # a stored answer is JSON: its reason may be a list, which no frozenset lookup takes
    key = (
        made if type(made) is str and made in _DECISIONS else "other",
        reason if type(reason) is str and reason in _REASONS else "other",
    )
    try:
        return _ANSWER_KINDS[key]
    except KeyError:
        kind = _ANSWER_KINDS[key] = metrics.Kind(
            _ANSWER.log, _ANSWER.path, key[0], 200, (metrics.ANSWERS,),
            ((metrics.DECISION, key[0]), (metrics.REASON, key[1])),
        )  # fmt: skip
        return kind


def _namespace(settings: Settings | None) -> str:
    """Where the metrics go: the stage's METRICS_NAMESPACE. Without settings (a misconfigured
    stage: its 503s must reach that stage's alarms) its own variable still, if it is valid."""
    return metrics_namespace_of(os.environ) if settings is None else settings.metrics_namespace


def _write(
    kind: metrics.Kind,
    settings: Settings | None,
    started: float,
    conversation_uuid: str | None = None,
    uuid: str | None = None,
    storage_s: float | None = None,
) -> None:
    """The request line of `kind`, in the stage's namespace (see metrics.line)."""
    logs.request(metrics.line(kind, _namespace(settings), started, conversation_uuid, uuid, storage_s))


def _failed(
    exc: Exception,
    route: _Route,
    started: float,
    settings: Settings | None,
    ids: tuple[str | None, str | None],
    storage_begun: float | None,
    rejected: str | None = None,
) -> Reply:
    """_error_reply()'s reply, and the request line saying what it was. An exception that
    _error_reply does not know (Chalice answers 500) gets its line too, then goes on.

    `storage_begun`: when the store's call that failed began, if one did (its time counts)."""
    waited = None if storage_begun is None else _perf_counter() - storage_begun
    try:
        reply = _error_reply(exc, route.path, rejected)
    except Exception:
        _write(_kind(route, "error", 500), settings, started, *ids, waited)
        raise
    status = reply.status
    outcome = _OUTCOMES.get(status) or ("rejected" if status < 500 else "error")
    _write(_kind(route, outcome, status), settings, started, *ids, waited)
    return reply


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
    # POST /token: the application's private key in an SSM parameter (ParameterStore.private_key),
    # and how the issuer's JWKS is fetched ((url, timeout s) -> body; issuer.fetch in app.py)
    read_private_key: Callable[[str], str] | None = None
    fetch_jwks: Callable[[str, float], bytes] | None = None
    _jwks: dict[str, Any] = field(default_factory=dict, init=False, repr=False)  # URL -> tokens.Jwks

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
        started = _perf_counter()
        deadline = time.monotonic() + self.answer_budget_s
        now = self.clock()
        request: AnswerRequest | None = None
        settings: Settings | None = None
        made: decision.Decision | None = None
        encoded: _AnswerJSON | None = None
        storage_begun: float | None = None
        waited: float | None = None  # seconds in the store's calls
        looked: float | None = None  # of which a callback's lookup
        try:
            request = read_answer(query, body, content_type)
            settings = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)
            if rejected:
                reply = _unauthorized(_ANSWER.path, rejected)
                ids = (request.conversation_uuid, request.uuid)
                _write(_kind(_ANSWER, "unauthorized", 401), settings, started, *ids)
                return reply
            base = settings.public_base_url or base_url
            if base is None:  # the connect cannot ask for failover: no synchronous eventUrl
                logs.warning("no_event_url", why="set PUBLIC_BASE_URL")
            caller_number = decision.inbound_caller(request, settings)
            if caller_number is not None:  # a phone call to the team's number: a callback
                made, looked = self._callback(request, caller_number, settings, now, base, deadline)
            else:
                made = decision.decide(
                    request, settings, now, f"{base}/event?{FAILOVER_MARK}=1" if base else None
                )
            answer, stored = made.answer, False
            encoded = _AnswerJSON.of(answer)
            leg_key = request.leg_key
            if leg_key is not None:  # else there is nothing to file it under
                # a callback is filed under the app user it went to: it shows in their history
                user = answer["user"] if caller_number is not None else request.caller
                call = CallIdentity(request.conversation_uuid, user, answer["received_at"])  # type: ignore[arg-type]
                store = self.store_for(settings)
                expires, whole = _expiry(now, settings), encoded.whole()
                storage_begun = _perf_counter()
                saved = store.save_answer(call, leg_key, answer, expires, made.limits, deadline, whole)
                waited = _perf_counter() - storage_begun
                answer, stored = saved.answer, saved.stored
        except Exception as exc:  # the caller must hear something, whatever broke
            if storage_begun is not None and waited is None:  # the store's call failed
                waited = _perf_counter() - storage_begun
            answer, stored, correcting = self._refusal_for(exc, request, settings, made, now, deadline)
            if correcting is not None:
                waited = correcting if waited is None else waited + correcting
        if looked is not None:  # the callback's lookup is storage time too
            waited = looked if waited is None else waited + looked
        if encoded is None or encoded.answer is not answer:  # a retry's first answer, a refusal
            encoded = _AnswerJSON.of(answer)
        conversation_uuid = request.conversation_uuid if request else None
        _log_answer(conversation_uuid, encoded, stored, started, settings, waited)
        return Reply(200, answer["ncco"], encoded.ncco)

    def _callback(
        self,
        request: AnswerRequest,
        caller: str,
        settings: Settings,
        now: datetime,
        base: str | None,
        deadline: float,
    ) -> tuple[decision.Decision, float]:
        """A callback's decision, and the seconds its one read took: who last called `caller`
        from the app within CALLBACK_DAYS. A read that fails still gets the call answered: by
        INBOUND_DEFAULT_USER, or INBOUND_TEXT (the answer's own write then reports the store)."""
        since = utc_iso(now - timedelta(days=settings.callback_days))
        begun = _perf_counter()
        try:
            found = self.store_for(settings).last_caller(caller, since, deadline)
        except StoreUnavailable as exc:
            logs.warning(
                "callback_lookup_failed",
                route=_ANSWER.path,
                conversation_uuid=request.conversation_uuid,
                error=str(exc),
            )
            found = None
        looked = _perf_counter() - begun
        user = found.user if found is not None else None
        return decision.decide_inbound(request, caller, settings, now, user, base), looked

    def _refusal_for(
        self,
        exc: Exception,
        request: AnswerRequest | None,
        settings: Settings | None,
        made: decision.Decision | None,
        now: datetime,
        deadline: float,
    ) -> tuple[dict[str, Any], bool, float | None]:
        """The answer when something failed, whether it is stored (only a corrected one is), and
        the seconds spent correcting it (None: no store call made)."""
        received_at = utc_iso(now)
        dest = made.destination if made is not None else None
        if isinstance(exc, (ConfigError, SecretMisconfigured)):
            refused = decision.refusal("misconfigured", str(exc), None, request, received_at).answer
            return refused, False, None
        if isinstance(exc, SecretUnavailable):  # cannot tell Vonage from a forger: fail closed
            refused = decision.refusal("policy_unavailable", str(exc), settings, request, received_at).answer
            return refused, False, None
        if isinstance(exc, StoreRejected):
            refused = decision.refusal(
                "invalid_request", str(exc), settings, request, received_at, dest
            ).answer
            return refused, False, None
        if not isinstance(exc, StoreUnavailable) or request is None or settings is None:
            logs.exception(
                "answer_failed", exc, conversation_uuid=request.conversation_uuid if request else None
            )
            return decision.refusal(
                "internal_error", "unexpected error (see the traceback logged above)", settings,
                request, received_at if request else None,
            ).answer, False, None  # fmt: skip
        # Fail closed: a call the policy store cannot vouch for is a call we do not pay for.
        refused = decision.refusal(
            "policy_unavailable", str(exc), settings, request, received_at, dest
        ).answer
        if made is not None and made.connects and exc.maybe_applied and time_left(deadline) > WORST_CALL_S:
            # The counted write may have been applied before its reply was lost: make the
            # stored answer say what the caller hears. Best effort.
            call = CallIdentity(request.conversation_uuid, request.caller, received_at)  # type: ignore[arg-type]
            correcting: float | None = None
            try:
                store, expires = self.store_for(settings), _expiry(now, settings)
                storage_begun = _perf_counter()
                try:
                    store.replace_answer(call, request.leg_key, refused, expires)  # type: ignore[arg-type]
                finally:
                    correcting = _perf_counter() - storage_begun
                return refused, True, correcting
            except Exception as again:  # best effort: the caller hears the refusal regardless
                logs.warning(
                    "answer_not_corrected", conversation_uuid=request.conversation_uuid, error=str(again)
                )
            return refused, False, correcting
        return refused, False, None

    # --- the event URL ---------------------------------------------------------------------------

    def event(
        self,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        authorization: str | None = None,
        base_url: str | None = None,
    ) -> Reply:
        """200 once stored ({} or a failover NCCO); 4xx for input that can never be stored;
        503 so Vonage retries (and, for a synchronous connect, then asks /fallback).

        `base_url`: where Vonage reaches this service (PUBLIC_BASE_URL overrides it), for the
        recording's eventUrl of a voicemail; app.py passes it for marked events only."""
        started = _perf_counter()
        deadline = time.monotonic() + EVENT_BUDGET_S
        if self.clock is _now:  # the system clock, read as _now reads it but without a datetime
            received_at, seconds = now_stamp()
        else:
            received = self.clock()
            received_at, seconds = utc_iso(received), int(received.timestamp())
        # Only the answer's synchronous connect calls /event?failover=1 (a callback's connect
        # ?failover=voicemail): its events may get a failover NCCO. Any other connect (the
        # fallback number's, say) reports here unmarked.
        fields: dict[str, str] | None = None
        mark = recording = None
        if query:  # most events come without one
            fields = dict(query)
            mark = fields.pop(FAILOVER_MARK, None)
            recording = fields.pop(decision.RECORDING_MARK, None)
        settings: Settings | None = None
        event: Event | None = None
        storage_begun: float | None = None
        try:
            settings = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)
            if rejected:
                unauthorized = _unauthorized(_EVENT.path, rejected)
                _write(_kind(_EVENT, "unauthorized", 401), settings, started)
                return unauthorized
            event = parse_event(request_params(fields or None, body, content_type), received_at)
            if mark is None:
                reply = None
            elif mark == decision.VOICEMAIL_MARK:
                reply = decision.voicemail(event.payload, settings, settings.public_base_url or base_url)
            else:
                reply = decision.failover(event.payload, settings) if mark == "1" else None
            # the record event of a voicemail (/event?recording=voicemail) is the call's voicemail
            voicemail = None
            if recording == decision.VOICEMAIL_MARK and event.kind == "record":
                voicemail = summary.voicemail_fields(event.payload)
            store, expires = self.store_for(settings), _expiry_after(seconds, settings)
            storage_begun = _perf_counter()
            stored = store.save_event(event, received_at, expires, reply, deadline, voicemail)
            waited = _perf_counter() - storage_begun
        except Exception as exc:  # _error_reply re-raises what it does not know
            ids = (None, None) if event is None else (event.conversation_uuid, event.leg_uuid)
            return _failed(exc, _EVENT, started, settings, ids, storage_begun, "event cannot be stored")
        namespace = settings.metrics_namespace
        call, leg = event.conversation_uuid, event.leg_uuid
        if voicemail is not None:
            kind = _VOICEMAIL_STORED if stored else _EVENT_DUPLICATE
            more = f',"recording_uuid":{metrics.value(voicemail["recording_uuid"])}'
            logs.request(metrics.line(kind, namespace, started, call, leg, waited, more))
            return _STORED
        if reply is None:
            if stored:
                logs.request(metrics.line(_EVENT_STORED, namespace, started, call, leg, waited))
            else:  # a redelivery: its digest is what made it one
                more = f',"digest":"{event.digest}"'
                logs.request(metrics.line(_EVENT_DUPLICATE, namespace, started, call, leg, waited, more))
            return _STORED
        kind = _FAILOVER_STORED if stored else _FAILOVER_DUPLICATE
        more = f',"event_status":{metrics.value(event.status)}'
        logs.request(metrics.line(kind, namespace, started, call, leg, waited, more))
        return Reply(200, reply)

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
        started = _perf_counter()
        deadline = time.monotonic() + self.answer_budget_s  # Vonage waits on it like the answer URL
        now = self.clock()
        try:
            settings: Settings | None = self.load_settings()
            rejected = self._signature_problem(settings, authorization, query, body)  # type: ignore[arg-type]
            if rejected:
                unauthorized = _unauthorized(_FALLBACK.path, rejected)
                _write(_kind(_FALLBACK, "unauthorized", 401), settings, started)
                return unauthorized
        except (ConfigError, SecretUnavailable) as exc:
            logs.error("misconfigured", route=_FALLBACK.path, error=str(exc))
            settings = None
        except Exception:  # unexpected (Chalice answers 500): the request line says so, then it goes on
            _write(_kind(_FALLBACK, "error", 500), None, started)
            raise
        reply = Reply(200, decision.fallback_answer(settings))
        try:
            use = parse_fallback(request_params(query, body, content_type), now)
        except WebhookError as exc:
            logs.warning("fallback_unreadable", error=str(exc))
            _write(_kind(_FALLBACK, "unreadable", 200), settings, started)
            return reply
        request = use.request
        ids = (request.conversation_uuid, request.uuid)
        logs.warning("fallback_used", conversation_uuid=request.conversation_uuid, **use.fallback)
        if settings is None or use.use_key is None:
            _write(_kind(_FALLBACK, "not_recorded", 200), settings, started, *ids)
            return reply
        call = CallIdentity(request.conversation_uuid, request.caller, use.fallback["received_at"])  # type: ignore[arg-type]
        outcome, waited = "not_recorded", None
        try:
            store, expires = self.store_for(settings), _expiry(now, settings)
            storage_begun = _perf_counter()
            try:
                store.save_fallback(call, use.use_key, use.fallback, expires, deadline)
                if use.carried is not None:  # only if a write still fits the budget (transact checks)
                    store.save_event(use.carried, use.fallback["received_at"], expires, None, deadline)
            finally:
                waited = _perf_counter() - storage_begun
            outcome = "recorded"
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
        _write(_kind(_FALLBACK, outcome, 200), settings, started, *ids, waited)
        return reply

    # --- reads -----------------------------------------------------------------------------------

    def get_call(self, conversation_uuid: str, query: Mapping[str, str] | None = None) -> Reply:
        """GET /calls/{id}: the call record, with one page of its events (`next` for the rest)."""
        started = _perf_counter()
        if not conversation_uuid or len(conversation_uuid) > MAX_ID_CHARS:
            _write(_kind(_RECORD, "rejected", 400), None, started)
            return Reply(400, {"error": f"conversation_uuid must be 1-{MAX_ID_CHARS} characters"})
        settings: Settings | None = None
        storage_begun: float | None = None
        try:
            page = parse_record(conversation_uuid, query)
            settings = self.load_settings()
            store = self.store_for(settings)
            storage_begun = _perf_counter()
            found = store.get_call(conversation_uuid, page.limit, page.start)
            waited = _perf_counter() - storage_begun
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _failed(exc, _RECORD, started, settings, (conversation_uuid, None), storage_begun)
        if found is None:
            _write(_kind(_RECORD, "not_found", 404), settings, started, conversation_uuid, None, waited)
            return Reply(404, {"error": f"no call with conversation_uuid {conversation_uuid!r}"})
        reply = Reply(
            200,
            summary.record_view(
                conversation_uuid, found.summary, found.answers, found.fallbacks, found.legs, found.events,
                found.next,
            ),
        )  # fmt: skip
        _write(_kind(_RECORD, "found", 200), settings, started, conversation_uuid, None, waited)
        return reply

    def list_calls(self, query: Mapping[str, str] | None) -> Reply:
        """GET /calls?user=…|date=…: newest first, `next` for the following page."""
        started = _perf_counter()
        settings: Settings | None = None
        storage_begun: float | None = None
        try:
            listing = parse_listing(query)
            settings = self.load_settings()
            store = self.store_for(settings)
            storage_begun = _perf_counter()
            page = store.list_calls(listing)
            waited = _perf_counter() - storage_begun
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _failed(exc, _LISTING, started, settings, (None, None), storage_begun)
        reply = Reply(200, {"calls": [summary.listing_view(item) for item in page.calls], "next": page.next})
        _write(_kind(_LISTING, "listed", 200), settings, started, None, None, waited)
        return reply

    # --- POST /token: a Vonage Client SDK JWT for a user of the team's own login ------------------

    def token(self, authorization: str | None) -> Reply:
        """200 with the Vonage JWT for the ID token's user; 401 for a missing or bad ID token,
        403 for a user who may not log in, 503 when the issuer's keys or the application's
        private key cannot be read (nothing is minted then); 404 when TOKEN_ISSUER is unset."""
        started = _perf_counter()
        settings: Settings | None = None
        try:
            settings = self.load_settings()
        except Exception as exc:  # _error_reply re-raises what it does not know
            return _failed(exc, _TOKEN, started, settings, (None, None), None)
        if settings.token_issuer is not None and settings.token_problem is not None:
            logs.error("misconfigured", route=_TOKEN.path, error=settings.token_problem)
            _write(_kind(_TOKEN, "unavailable", 503), settings, started)
            return Reply(503, {"error": "service misconfigured"}, None, _NO_STORE)
        if settings.token_issuer is None or settings.token_jwks_url is None:  # off: never open
            _write(_kind(_TOKEN, "not_found", 404), settings, started)
            return Reply(404, {"error": "not found"}, None, _NO_STORE)
        from chalicelib import tokens  # cryptography with it: only this route pays for it

        try:
            jwks = self._jwks.get(settings.token_jwks_url)
            if jwks is None:
                if self.fetch_jwks is None:
                    raise tokens.IssuerUnavailable("nothing fetches the issuer's JWKS")
                url = settings.token_jwks_url
                jwks = self._jwks.setdefault(url, tokens.Jwks(url, self.fetch_jwks))
            user = tokens.verify(authorization, settings, jwks)
            pem = settings.vonage_private_key
            if pem is None:
                if self.read_private_key is None or settings.vonage_private_key_param is None:
                    raise SecretMisconfigured("VONAGE_PRIVATE_KEY_PARAM is set but nothing reads it")
                pem = self.read_private_key(settings.vonage_private_key_param)
            minted = tokens.mint(user, settings, pem, self.clock().timestamp())
        except tokens.TokenRejected as exc:
            logs.warning("token_refused", route=_TOKEN.path, reason=str(exc))
            _write(_kind(_TOKEN, "unauthorized", 401), settings, started)
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"', **_NO_STORE}
            return Reply(401, {"error": f"unauthorized: {exc}"}, None, challenge)
        except tokens.UserForbidden as exc:
            logs.warning("token_forbidden", route=_TOKEN.path, reason=str(exc))
            _write(_kind(_TOKEN, "forbidden", 403), settings, started)
            return Reply(403, {"error": f"forbidden: {exc}"}, None, _NO_STORE)
        except tokens.IssuerUnavailable as exc:
            logs.error("issuer_unavailable", route=_TOKEN.path, error=str(exc))
            _write(_kind(_TOKEN, "unavailable", 503), settings, started)
            body = {"error": "the identity provider's keys are unavailable, retry later"}
            return Reply(503, body, None, _NO_STORE)
        except (tokens.KeyMisconfigured, SecretMisconfigured) as exc:
            logs.error("misconfigured", route=_TOKEN.path, error=str(exc))
            _write(_kind(_TOKEN, "unavailable", 503), settings, started)
            return Reply(503, {"error": "service misconfigured"}, None, _NO_STORE)
        except SecretUnavailable as exc:
            logs.error("private_key_unavailable", route=_TOKEN.path, error=str(exc))
            _write(_kind(_TOKEN, "unavailable", 503), settings, started)
            body = {"error": "the application's private key is unavailable, retry later"}
            return Reply(503, body, None, _NO_STORE)
        # each mint, without the token: who, which token (jti) and until when
        more = f',"user":{metrics.value(minted.user)},"jti":"{minted.jti}","expires_at":"{minted.expires_at}"'
        logs.request(metrics.line(_TOKEN_MINTED, settings.metrics_namespace, started, None, None, None, more))
        body = {"token": minted.token, "user": minted.user, "expires_at": minted.expires_at}
        return Reply(200, body, None, _NO_STORE)

    def health(self) -> Reply:
        """The settings, the signature secret and the table (its check is cached briefly by the
        store, so pollers cannot starve the webhooks of DynamoDB)."""
        started = _perf_counter()
        settings: Settings | None = None
        waited: float | None = None
        try:
            settings = self.load_settings()
            self._signature_problem(settings, None, None, None)  # the secret can be read
            store = self.store_for(settings)
            storage_begun = _perf_counter()
            try:
                store.check()
            finally:  # a result the store had kept took no DynamoDB call: no storage latency
                if getattr(store, "described", True):
                    waited = _perf_counter() - storage_begun
            reply = Reply(200, {"status": "ok"})
        except ConfigError as exc:  # names the setting, never a value
            reply = Reply(503, {"status": "misconfigured", "error": str(exc)})
        except SecretMisconfigured as exc:
            logs.error("health_failed", status="misconfigured", error=str(exc))
            reply = Reply(
                503, {"status": "misconfigured", "error": "the signature secret parameter is unusable"}
            )
        except SecretUnavailable as exc:  # AWS's messages may name the account and role: logged only
            logs.error("health_failed", status="unavailable", error=str(exc))
            reply = Reply(503, {"status": "unavailable", "error": "the signature secret cannot be read"})
        except StoreUnavailable as exc:
            logs.error("health_failed", status="unavailable", error=str(exc))
            reply = Reply(503, {"status": "unavailable", "error": "the calls table is unavailable"})
        except Exception:  # unexpected (Chalice answers 500): the request line says so, then it goes on
            _write(_kind(_HEALTH, "error", 500), settings, started, None, None, waited)
            raise
        _write(_kind(_HEALTH, reply.body["status"], reply.status), settings, started, None, None, waited)
        return reply


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


def _log_answer(
    conversation_uuid: str | None,
    encoded: _AnswerJSON,
    stored: bool,
    started: float,
    settings: Settings | None,
    storage_s: float | None,
) -> None:
    """The answer's request line: the answer's fields but its NCCO (JSON already), for log search
    and metrics; `stored` false marks an answer the call record lacks (Lambda cannot write after
    it has replied, so none is written later)."""
    answer, fields = encoded.answer, encoded.fields
    flag = "true" if stored else "false"
    members = f',"conversation_uuid":{metrics.value(conversation_uuid)},"stored":{flag}'
    if fields != "{}":
        members = members + "," + fields[1:-1]
    kind = _answer_kind(answer.get("decision"), answer.get("reason"))
    logs.request(metrics.line_with(kind, _namespace(settings), started, members, storage_s))
