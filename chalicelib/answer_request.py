"""What Vonage asks the answer URL (and the fallback answer URL): who calls whom, in which call.
Pure. Reading never raises: a request that cannot be served is refused by the decision
(`invalid_request`), spoken, never answered with a 4xx (Vonage would drop the call).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from chalicelib.errors import WebhookError
from chalicelib.events import Event, parse_event, payload_digest
from chalicelib.text import as_text, clip, compact_json, shown
from chalicelib.times import utc_iso
from chalicelib.user_names import valid_user_name
from chalicelib.webhooks import id_problem, json_value, request_params

# A `to` that spells a number with letters (1-800-FLOWERS, 1-800-flowers, 415-555-0100x12: at most
# E.164's 15 digits and letters) or names one as a URI (tel:, sip:) is a number, never a user name:
# it is refused as one (invalid_number), not rung as an app user of that name.
_SPELLED_NUMBER = re.compile(r"\+?[0-9][0-9A-Za-z\s\-.()]*")
_NUMBER_SCHEMES = ("tel:", "sip:", "sips:")
MAX_SPELLED_CHARS = 15
# Words that say the caller is withheld or missing, not a user of that name
_WITHHELD = frozenset({
    "unknown", "anonymous", "private", "restricted", "unavailable", "withheld",
    "null", "none", "nil", "undefined", "blocked", "unknownnumber", "privatenumber",
})  # fmt: skip
# The Client SDK's serverCall context is the app's to fill: kept whole up to this size (as compact
# JSON), as clipped text beyond it, so that an answer item and its log line stay small.
CUSTOM_DATA_MAX_CHARS = 2048


class AnswerRequest(NamedTuple):
    to: str | None
    caller: str | None  # the app user (from_user, or a name in the old `from`)
    caller_is_number: bool  # `from` holds a phone number: a PSTN caller
    uuid: str | None  # None when absent or the old format's "NONE"
    conversation_uuid: str | None
    id_problem: str | None  # why the call cannot be filed under its ids, if it cannot
    params: dict[str, Any]
    body_problem: str | None = None  # why the body could not be read, if it could not
    custom_data: Any = None  # the app's serverCall context (custom_data), decoded
    endpoint_type: str | None = None  # the channel that asks: "app", "phone", "sip", …
    region_url: str | None = None  # Vonage's regional API endpoint for this call
    callee: str | None = None  # the app user an app user's `to` names (an app-to-app call)

    @property
    def problem(self) -> str | None:
        """Why this request cannot be served (it is refused as invalid_request), if it cannot."""
        return self.body_problem or self.id_problem

    @property
    def leg_key(self) -> str | None:
        """What makes a retried answer request the same call: its uuid, or "" when it has none
        (uuid=NONE: the conversation alone, which the key already holds). None: not storable.

        Never the conversation_uuid itself: a leg whose uuid equals it would share the key.
        """
        if self.id_problem:
            return None
        return self.uuid or ""


def _is_phone_caller(from_: str) -> bool:
    """`from` without `from_user`: a user name (older SDKs sent it there), or a phone caller.

    A user is what names one as a `to` does (callee_name: a valid user name with a letter, not a
    number spelled out, not a tel:/sip: URI) and is no withheld-caller word. A phone caller is a
    number in any format, a tel: or SIP URI, or what Vonage or a carrier puts for a withheld or
    missing number (`0`, `000`, `+`, `null`, `Private Number`, `sip:anonymous@…`): the stricter
    rule (ALLOW_PSTN_CALLERS) applies to them. Anything else (blank, `josé`) is neither: no
    caller, refused as `unknown_caller`; never an app user who may dial.
    """
    word = "".join(from_.lower().split())
    if not word:
        return False
    if word in _WITHHELD or word.startswith(_NUMBER_SCHEMES):
        return True
    if callee_name(from_) is not None:
        return False
    number = from_.strip()
    return number == "+" or bool(_SPELLED_NUMBER.fullmatch(number))  # digits first, or + alone


def read_answer(
    query: Mapping[str, str] | None, body: bytes | None, content_type: str | None
) -> AnswerRequest:
    """The answer request; a body that cannot be read becomes its `body_problem`."""
    try:
        return parse_answer(request_params(query, body, content_type))
    except WebhookError as exc:
        try:  # the query alone, to file the refusal under its ids
            fields = request_params(query, None, None)
        except WebhookError:
            fields = {}  # the query itself is no text: nothing in it can be filed
        return parse_answer(fields, body_problem=str(exc))


def parse_answer(params: dict[str, Any], body_problem: str | None = None) -> AnswerRequest:
    """The answer request in `params` (the query and body merged)."""
    from_user, from_ = params.get("from_user"), params.get("from")
    if isinstance(from_, int) and not isinstance(from_, bool):
        from_ = str(from_)  # a phone caller's number, read as its digits like `to`
    caller_field, caller = ("from_user", from_user) if from_user not in (None, "") else ("from", from_)
    uuid = params.get("uuid")
    if uuid == "" or (isinstance(uuid, str) and uuid.upper() == "NONE"):
        uuid = None
    conversation = params.get("conversation_uuid")
    conversation = None if conversation == "" else conversation
    problem = "no conversation_uuid" if conversation is None else None
    kept: dict[str, Any] = {}
    for name, value in (("conversation_uuid", conversation), ("uuid", uuid), (caller_field, caller)):
        wrong = None if value is None else id_problem(name, value)
        problem = problem or wrong
        kept[name] = shown(value) if wrong else value  # never filed: kept small for the logs
    caller_is_number = from_user in (None, "") and isinstance(from_, str) and _is_phone_caller(from_)
    to = params.get("to")
    return AnswerRequest(
        to=as_text(to),
        caller=kept[caller_field],
        caller_is_number=caller_is_number,
        uuid=kept["uuid"],
        conversation_uuid=kept["conversation_uuid"],
        id_problem=problem,
        params=params,
        body_problem=body_problem,
        custom_data=custom_data(params.get("custom_data")),
        endpoint_type=shown(params.get("endpoint_type")),
        region_url=shown(params.get("region_url"), 200),
        callee=None if caller_is_number else callee_name(to),
    )


def callee_name(to: Any) -> str | None:
    """The app user `to` names, when it is text that is a user name and not a number (digits and
    separators, or a number spelled with letters); None when it is meant as a phone number."""
    if not isinstance(to, str) or not valid_user_name(to) or not any(c.isalpha() for c in to):
        return None  # digits alone are a number, even where an issuer's user ids are digits
    if to.lower().startswith(_NUMBER_SCHEMES):
        return None
    spelled = _SPELLED_NUMBER.fullmatch(to) and sum(c.isalnum() for c in to) <= MAX_SPELLED_CHARS
    return None if spelled else to


def custom_data(value: Any) -> Any:
    """The app's serverCall context as the record keeps it: JSON as JSON (a JSON string, as the
    Client SDK may send it, decoded), anything else or anything too large as clipped text."""
    if isinstance(value, str):
        try:
            value = json_value(value)
        except WebhookError:
            return shown(value, CUSTOM_DATA_MAX_CHARS)  # not JSON: the text itself
    if value is None or isinstance(value, (bool, int, float)):
        return value
    encoded = compact_json(value)
    return value if len(encoded) <= CUSTOM_DATA_MAX_CHARS else shown(encoded, CUSTOM_DATA_MAX_CHARS)


@dataclass(frozen=True)
class FallbackUse:
    """One request to the fallback answer URL, as the call record keeps it."""

    request: AnswerRequest
    use_key: str | None  # one per use (Vonage's two tries of one use are the same); None: not fileable
    fallback: dict[str, Any]  # what is stored and shown under the call's "fallbacks"
    carried: Event | None  # the event a failed event-URL request carried, if it carried one
    carried_problem: str | None  # why that event cannot be stored, if it cannot


def parse_fallback(params: dict[str, Any], received_at: datetime) -> FallbackUse:
    """The fallback URL always answers, and keeps what it can of the request."""
    request = parse_answer(params)
    original = params.get("original_request")
    fallback = {  # small whatever is sent: it is stored twice (its item, the summary) and logged
        "reason": shown(params.get("reason"), 200),
        "original_request": (
            {k: shown(v, 200) for k, v in original.items() if k in ("url", "type")}
            if isinstance(original, dict)
            else shown(original, 200)
        ),
        "uuid": request.uuid,
        "caller": clip(request.caller, 200),
        "to": clip(request.to, 200),
        "received_at": utc_iso(received_at),
    }
    fileable = request.conversation_uuid is not None and request.leg_key is not None
    carried, carried_problem = None, None
    event_params = {k: v for k, v in params.items() if k not in ("reason", "original_request")}
    if fileable and isinstance(event_params.get("status"), str):
        try:
            carried = parse_event(event_params, fallback["received_at"])
        except WebhookError as exc:
            carried_problem = str(exc)
    return FallbackUse(
        request=request,
        use_key=f"{request.leg_key}#{payload_digest(params)}" if fileable else None,
        fallback=fallback,
        carried=carried,
        carried_problem=carried_problem,
    )
