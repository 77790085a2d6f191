"""Stage settings, read from the environment when a request needs them.

Never read at import: `chalice.test.Client` sets a stage's variables only
while a request runs. Read once per container (load), and every value is
checked when parsed, so a bad setting fails with its name on the first request
(and on /health), never half-way through a call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers

from chalicelib import languages, metrics, ncco, prompts, signature
from chalicelib.errors import ConfigError
from chalicelib.login_settings import NAMES as login_settings_names
from chalicelib.login_settings import login_settings
from chalicelib.phone_numbers import InvalidNumber, is_region_code, normalise, parse_destination
from chalicelib.setting_values import PARAMETER_NAME, whole_number
from chalicelib.user_names import USER_NAME_CHARACTERS, valid_user_name

DEFAULT_GREETING = "Please wait while we connect you."
DEFAULT_CONNECT_TIMEOUT = 20
DEFAULT_BLOCKED_NUMBER_TYPES = "PREMIUM_RATE,SHARED_COST,UAN,PERSONAL_NUMBER,PAGER,VOIP,UNKNOWN"
DEFAULT_MAX_CALLS_PER_USER_PER_HOUR = 20
DEFAULT_MAX_CALLS_PER_USER_PER_DAY = 100
DEFAULT_MAX_CALLS_PER_MINUTE = 60
DEFAULT_MAX_CALL_SECONDS = 3600
DEFAULT_RETENTION_DAYS = 365
DEFAULT_SIGNATURE_MAX_AGE_SECONDS = 300
DEFAULT_METRICS_NAMESPACE = metrics.DEFAULT_NAMESPACE
DEFAULT_CALLBACK_DAYS = 30
DEFAULT_VOICEMAIL_MAX_SECONDS = 120
DEFAULT_MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR = 20
_NAMESPACE = re.compile(r"[0-9A-Za-z._\-/#: ]{1,255}")  # CloudWatch's rule for a metric namespace
NUMBER_TYPES = frozenset(name for name in vars(phonenumbers.PhoneNumberType) if name.isupper())

# The variables this module reads; anything else in the environment is ignored.
NAMES = (
    "CALLS_TABLE",
    "VONAGE_NUMBER",
    "ALLOWED_COUNTRIES",
    "BLOCKED_NUMBER_TYPES",
    "ALLOWED_PREFIXES",
    "DENIED_PREFIXES",
    "ALLOWED_USERS",
    "ALLOW_PSTN_CALLERS",
    "MAX_CALLS_PER_USER_PER_HOUR",
    "MAX_CALLS_PER_USER_PER_DAY",
    "MAX_CALLS_PER_MINUTE",
    "CALLER_IDS",
    "USER_CALLER_IDS",
    "MAX_CALL_SECONDS",
    "RETENTION_DAYS",
    "PUBLIC_BASE_URL",
    "FALLBACK_NUMBER",
    "FALLBACK_CONNECT_TEXT",
    "FALLBACK_ANSWER_TEXT",
    *(f"FAILOVER_TEXT_{status.upper()}" for status in prompts.FAILOVERS),
    "GREETING_TEXT",
    "TALK_LANGUAGE",
    "CONNECT_TIMEOUT",
    "REFUSAL_TEXT",
    *(prompts.setting_name(reason) for reason in prompts.CONFIGURABLE),
    *(prompts.language_setting_name(reason) for reason in prompts.CONFIGURABLE),
    "VONAGE_SIGNATURE_SECRET",
    "VONAGE_SIGNATURE_SECRET_PREVIOUS",
    "VONAGE_SIGNATURE_SECRET_PARAM",
    "SIGNATURE_MAX_AGE_SECONDS",
    "ALLOW_UNSIGNED_WEBHOOKS",
    "METRICS_NAMESPACE",
    "CALLBACK_DAYS",
    "CALLBACK_TEXT",
    "INBOUND_DEFAULT_USER",
    "INBOUND_TEXT",
    "MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR",
    "VOICEMAIL",
    "VOICEMAIL_TEXT",
    "VOICEMAIL_MAX_SECONDS",
    "APP_TO_APP",
    *login_settings_names,
    "AWS_LAMBDA_FUNCTION_NAME",  # set by Lambda itself: a deployed function, never a local stage
)


@dataclass(frozen=True)
class Settings:
    calls_table: str
    vonage_number: str  # E.164 digits: the default caller ID
    allowed_countries: frozenset[str]
    blocked_number_types: frozenset[str]
    allowed_prefixes: tuple[str, ...]  # exempt from the number-type rule only
    denied_prefixes: tuple[str, ...]
    allowed_users: frozenset[str] | None  # None: any app user
    allow_pstn_callers: bool
    max_calls_per_user_per_hour: int
    max_calls_per_user_per_day: int
    max_calls_per_minute: int
    caller_ids: Mapping[str, str]  # destination region -> local caller ID
    user_caller_ids: Mapping[str, str]  # app user -> caller ID
    max_call_seconds: int
    retention_days: int  # every stored item expires this long after its last write
    public_base_url: str | None  # where Vonage reaches us; else taken from each request
    fallback_number: str | None  # connect failover: try this number instead of speaking
    fallback_connect_text: str  # "" for none
    fallback_answer_text: str
    failover_texts: Mapping[str, str]  # leg status -> what the caller hears
    greeting_text: str  # "" means no greeting before connecting
    talk_language: str | None
    connect_timeout: int
    # Phone calls to the team's numbers (callbacks): to the app user who last called the
    # caller's number within callback_days, else inbound_default_user, else inbound_text.
    callback_days: int
    callback_text: str  # "" for none
    inbound_default_user: str | None
    inbound_text: str
    max_inbound_calls_per_number_per_hour: int
    voicemail: bool  # a callback nobody takes can leave a message (VOICEMAIL=off: it cannot)
    app_to_app: bool  # an app user may call another by name (APP_TO_APP=off: refused)
    voicemail_text: str
    voicemail_max_seconds: int
    refusal_texts: Mapping[str, str]
    refusal_languages: Mapping[str, str]
    # Signed webhooks: the secrets themselves (current, then previous) or the SSM parameter
    # holding them; none of either only with allow_unsigned_webhooks (a local stage).
    signature_secrets: tuple[str, ...] = field(repr=False)
    signature_secret_param: str | None
    signature_max_age_seconds: int
    allow_unsigned_webhooks: bool
    metrics_namespace: str  # CloudWatch namespace of the metrics in the request lines (metrics.py)
    # POST /token (off without token_issuer): the team's OpenID Connect ID token in, a Vonage
    # Client SDK JWT out, signed with the application's private key (the PEM, or its SSM parameter).
    token_issuer: str | None
    token_audience: str | None
    token_jwks_url: str | None
    token_user_claim: str
    token_ttl_seconds: int
    vonage_application_id: str | None
    vonage_private_key: str | None = field(repr=False)
    vonage_private_key_param: str | None
    vonage_api_url: str  # where Vonage's Users API is: a user's first login creates their Vonage user
    token_cors_origins: frozenset[str]  # browser origins allowed to call POST /token (lower case)
    token_problem: str | None  # what is wrong with the settings above (POST /token answers 503)

    @property
    def team_numbers(self) -> frozenset[str]:
        """The numbers calls are made from (E.164 digits): a phone call to one is a callback."""
        return frozenset({self.vonage_number, *self.caller_ids.values(), *self.user_caller_ids.values()})

    def refusal_text(self, reason: str) -> str:
        return self.refusal_texts.get(reason, prompts.GENERIC)

    def refusal_language(self, reason: str) -> str | None:
        return self.refusal_languages.get(reason, self.talk_language)


_loaded: tuple[Mapping[str, str], Settings] | None = None  # os.environ as load() last read it, its settings


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the current stage (or for `environ`); raises ConfigError naming the bad setting.

    Read once per container: a Lambda function's environment never changes. The one place it
    does is `chalice.test.Client`, which puts a new mapping in os.environ (the stage's variables)
    while each request runs: a different os.environ is read again, and the same values give the
    same Settings (parsed once). A test that changes os.environ in place calls forget().
    """
    global _loaded
    if environ is not None:
        return _parse(tuple(environ.get(name) for name in NAMES))
    current = os.environ
    loaded = _loaded
    if loaded is not None and loaded[0] is current:
        return loaded[1]
    settings = _parse(tuple(current.get(name) for name in NAMES))
    _loaded = (current, settings)
    return settings


def forget() -> None:
    """Read the environment again on the next load()."""
    global _loaded
    _loaded = None


@lru_cache(maxsize=8)
def _parse(raw: tuple[str | None, ...]) -> Settings:
    values = dict(zip(NAMES, raw, strict=True))
    language = _language(values, "TALK_LANGUAGE")
    return Settings(
        calls_table=_required(values, "CALLS_TABLE"),
        vonage_number=_number(values, "VONAGE_NUMBER", _required(values, "VONAGE_NUMBER")),
        allowed_countries=_countries(values, "ALLOWED_COUNTRIES"),
        blocked_number_types=_number_types(values, "BLOCKED_NUMBER_TYPES"),
        allowed_prefixes=_prefixes(values, "ALLOWED_PREFIXES"),
        denied_prefixes=_prefixes(values, "DENIED_PREFIXES"),
        allowed_users=_users(values, "ALLOWED_USERS"),
        allow_pstn_callers=_flag(values, "ALLOW_PSTN_CALLERS"),
        max_calls_per_user_per_hour=whole_number(
            values, "MAX_CALLS_PER_USER_PER_HOUR", DEFAULT_MAX_CALLS_PER_USER_PER_HOUR, 1, 10**9
        ),
        max_calls_per_user_per_day=whole_number(
            values, "MAX_CALLS_PER_USER_PER_DAY", DEFAULT_MAX_CALLS_PER_USER_PER_DAY, 1, 10**9
        ),
        max_calls_per_minute=whole_number(
            values, "MAX_CALLS_PER_MINUTE", DEFAULT_MAX_CALLS_PER_MINUTE, 1, 10**9
        ),
        caller_ids=_mapping(values, "CALLER_IDS", region_keys=True),
        user_caller_ids=_mapping(values, "USER_CALLER_IDS", region_keys=False),
        max_call_seconds=whole_number(values, "MAX_CALL_SECONDS", DEFAULT_MAX_CALL_SECONDS, 1, 7200),
        retention_days=whole_number(values, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 36500),
        public_base_url=_base_url(values, "PUBLIC_BASE_URL"),
        fallback_number=(
            _number(values, "FALLBACK_NUMBER", values["FALLBACK_NUMBER"].strip())
            if (values["FALLBACK_NUMBER"] or "").strip()
            else None
        ),
        fallback_connect_text=_speech(
            values, "FALLBACK_CONNECT_TEXT", prompts.FALLBACK_CONNECT, allow_empty=True
        ),
        fallback_answer_text=_speech(
            values, "FALLBACK_ANSWER_TEXT", prompts.FALLBACK_ANSWER, allow_empty=False
        ),
        failover_texts={
            status: _speech(values, f"FAILOVER_TEXT_{status.upper()}", text, allow_empty=False)
            for status, text in prompts.FAILOVERS.items()
        },
        greeting_text=_speech(values, "GREETING_TEXT", DEFAULT_GREETING, allow_empty=True),
        talk_language=language,
        connect_timeout=whole_number(values, "CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, 3, 120),
        callback_days=whole_number(values, "CALLBACK_DAYS", DEFAULT_CALLBACK_DAYS, 1, 3650),
        callback_text=_speech(values, "CALLBACK_TEXT", prompts.CALLBACK, allow_empty=True),
        inbound_default_user=_user(values, "INBOUND_DEFAULT_USER"),
        inbound_text=_speech(values, "INBOUND_TEXT", prompts.INBOUND, allow_empty=False),
        max_inbound_calls_per_number_per_hour=whole_number(
            values,
            "MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR",
            DEFAULT_MAX_INBOUND_CALLS_PER_NUMBER_PER_HOUR,
            1,
            10**9,
        ),
        voicemail=_on_off(values, "VOICEMAIL", default=True),
        app_to_app=_on_off(values, "APP_TO_APP", default=True),
        voicemail_text=_speech(values, "VOICEMAIL_TEXT", prompts.VOICEMAIL, allow_empty=False),
        voicemail_max_seconds=whole_number(
            values, "VOICEMAIL_MAX_SECONDS", DEFAULT_VOICEMAIL_MAX_SECONDS, 3, 7200
        ),
        refusal_languages={
            reason: lang
            for reason in prompts.CONFIGURABLE
            if (lang := _language(values, prompts.language_setting_name(reason))) is not None
        },
        refusal_texts=_refusal_texts(values),
        **_signature(values),
        metrics_namespace=_namespace(values, "METRICS_NAMESPACE"),
        **login_settings(values),
    )


def metrics_namespace_of(environ: Mapping[str, str]) -> str:
    """METRICS_NAMESPACE when the settings as a whole cannot be read: the variable's value if
    it is a namespace, else the default (never raises)."""
    try:
        return _namespace({"METRICS_NAMESPACE": environ.get("METRICS_NAMESPACE")}, "METRICS_NAMESPACE")
    except ConfigError:
        return DEFAULT_METRICS_NAMESPACE


def _namespace(values: Mapping[str, str | None], name: str) -> str:
    """A CloudWatch metric namespace: 1-255 of its characters, not blank, not AWS's own `AWS/`."""
    value = (values[name] or "").strip() or DEFAULT_METRICS_NAMESPACE
    if not _NAMESPACE.fullmatch(value) or value.startswith("AWS/"):
        raise ConfigError(
            f"{name}={value!r} is not a CloudWatch namespace (up to 255 of A-Z a-z 0-9 . - _ / # : "
            "and space, not starting with AWS/)"
        )
    return value


def _secret(values: dict[str, str | None], name: str) -> str | None:
    """A signature secret; never echoed in an error (errors reach logs and /health)."""
    value = (values[name] or "").strip()
    if not value:
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError(f"{name} is not UTF-8 text") from None  # the error would show the value
    if size < signature.MIN_SECRET_BYTES:
        raise ConfigError(
            f"{name} must be at least {signature.MIN_SECRET_BYTES} bytes (RFC 7518 §3.2, HS256 keys)"
        )
    return value


def _signature(values: dict[str, str | None]) -> dict[str, Any]:
    """Where the webhook signature secret comes from, and whether unsigned requests may pass."""
    current = _secret(values, "VONAGE_SIGNATURE_SECRET")
    previous = _secret(values, "VONAGE_SIGNATURE_SECRET_PREVIOUS")
    param = (values["VONAGE_SIGNATURE_SECRET_PARAM"] or "").strip() or None
    if param is not None and (len(param) > 2048 or not PARAMETER_NAME.fullmatch(param)):
        raise ConfigError("VONAGE_SIGNATURE_SECRET_PARAM is not an SSM Parameter Store name")
    if current and param:
        raise ConfigError("set VONAGE_SIGNATURE_SECRET or VONAGE_SIGNATURE_SECRET_PARAM, not both")
    if previous and not current:
        raise ConfigError(
            "VONAGE_SIGNATURE_SECRET_PREVIOUS goes with VONAGE_SIGNATURE_SECRET; with "
            "VONAGE_SIGNATURE_SECRET_PARAM, put the previous secret on the parameter's second line"
        )
    allow_unsigned = _flag(values, "ALLOW_UNSIGNED_WEBHOOKS")
    if allow_unsigned and values["AWS_LAMBDA_FUNCTION_NAME"]:
        raise ConfigError("ALLOW_UNSIGNED_WEBHOOKS is for a local stage: this is a deployed function")
    if not (current or param or allow_unsigned):
        raise ConfigError(
            "no webhook signature secret: set VONAGE_SIGNATURE_SECRET_PARAM (deployed stages) or "
            "VONAGE_SIGNATURE_SECRET; only a local stage may set ALLOW_UNSIGNED_WEBHOOKS=true"
        )
    return {
        "signature_secrets": tuple(secret for secret in (current, previous) if secret),
        "signature_secret_param": param,
        "signature_max_age_seconds": whole_number(
            values, "SIGNATURE_MAX_AGE_SECONDS", DEFAULT_SIGNATURE_MAX_AGE_SECONDS, 10, 3600
        ),
        "allow_unsigned_webhooks": allow_unsigned,
    }


def _required(values: dict[str, str | None], name: str) -> str:
    value = (values[name] or "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _items(values: dict[str, str | None], name: str) -> list[str]:
    return [item.strip() for item in (values[name] or "").split(",") if item.strip()]


def _number(values: dict[str, str | None], name: str, value: str) -> str:
    try:
        return parse_destination(value).digits
    except InvalidNumber as exc:
        raise ConfigError(f"{name}: {value!r} is not a valid E.164 number: {exc}") from exc


def _countries(values: dict[str, str | None], name: str) -> frozenset[str]:
    _required(values, name)
    codes = [code.upper() for code in _items(values, name)]
    unknown = [code for code in codes if not is_region_code(code)]
    if unknown:
        hint = " (the code for the United Kingdom is GB)" if "UK" in unknown else ""
        raise ConfigError(f"{name}: {', '.join(unknown)} not ISO 3166 region codes{hint}")
    if not codes:
        raise ConfigError(f"{name} lists no countries")
    return frozenset(codes)


def _number_types(values: dict[str, str | None], name: str) -> frozenset[str]:
    if values[name] is None:
        values = {name: DEFAULT_BLOCKED_NUMBER_TYPES}
    types = [item.upper() for item in _items(values, name)]
    unknown = [item for item in types if item not in NUMBER_TYPES]
    if unknown:
        raise ConfigError(
            f"{name}: {', '.join(unknown)} not number types (one of {', '.join(sorted(NUMBER_TYPES))})"
        )
    return frozenset(types)


def _prefixes(values: dict[str, str | None], name: str) -> tuple[str, ...]:
    prefixes = []
    for item in _items(values, name):
        try:
            prefixes.append(normalise(item))
        except InvalidNumber as exc:
            raise ConfigError(f"{name}: {item!r} is not a number prefix: {exc}") from exc
    return tuple(prefixes)


def _users(values: dict[str, str | None], name: str) -> frozenset[str] | None:
    users = _items(values, name)
    wrong = [user for user in users if not valid_user_name(user)]
    if wrong:
        raise ConfigError(f"{name}: {wrong[0]!r} is not an app user's name (1-100 of {USER_NAME_CHARACTERS})")
    return frozenset(users) if users else None


def _user(values: dict[str, str | None], name: str) -> str | None:
    """One app user's name, or None when unset."""
    value = (values[name] or "").strip()
    if not value:
        return None
    if not valid_user_name(value):
        raise ConfigError(f"{name} must be one app user's name (1-100 of {USER_NAME_CHARACTERS})")
    return value


def _on_off(values: dict[str, str | None], name: str, *, default: bool) -> bool:
    value = (values[name] or "").strip().lower()
    if not value:
        return default
    if value not in ("on", "off", "true", "false"):
        raise ConfigError(f"{name}={values[name]!r} must be on or off")
    return value in ("on", "true")


def _flag(values: dict[str, str | None], name: str) -> bool:
    value = (values[name] or "false").strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{name}={values[name]!r} must be true or false")
    return value == "true"


def _mapping(values: dict[str, str | None], name: str, *, region_keys: bool) -> Mapping[str, str]:
    """KEY=number pairs, e.g. CALLER_IDS=GB=442079460000,CA=16135550123."""
    pairs: dict[str, str] = {}
    for item in _items(values, name):
        key, sep, number = item.partition("=")
        key = key.strip().upper() if region_keys else key.strip()
        if not sep or not key:
            raise ConfigError(f"{name}: {item!r} must be KEY=number")
        if region_keys and not is_region_code(key):
            raise ConfigError(f"{name}: {key!r} is not an ISO 3166 region code")
        pairs[key] = _number(values, name, number.strip())
    return pairs


def _base_url(values: dict[str, str | None], name: str) -> str | None:
    value = (values[name] or "").strip()
    if not value:
        return None
    try:
        ncco.check_url(value.rstrip("/") + "/event")
    except ncco.NccoError as exc:
        raise ConfigError(f"{name}={value!r} must be an absolute http(s) URL") from exc
    return value.rstrip("/")


def _language(values: dict[str, str | None], name: str) -> str | None:
    value = (values[name] or "").strip() or None
    if value is not None:
        try:
            ncco.check_language(value)
        except ncco.NccoError as exc:
            raise ConfigError(f"{name}={value!r}: {exc.rule}") from exc
        spelled = languages.talk_language(value)
        if spelled is None:
            raise ConfigError(
                f"{name}={value!r}: not one of Vonage's text-to-speech languages "
                f"(chalicelib/data/{languages.DATA.name}), e.g. en-US"
            )
        return spelled
    return value


def _speech(values: dict[str, str | None], name: str, default: str, *, allow_empty: bool) -> str:
    value = values[name]
    if value is None:
        return default
    if not value.strip():
        if allow_empty:
            return ""
        raise ConfigError(f"{name} must not be empty")
    try:
        ncco.check_talk_text(value)
    except ncco.NccoError as exc:
        raise ConfigError(f"{name}: {exc.rule}") from exc
    return value


def _refusal_texts(values: dict[str, str | None]) -> Mapping[str, str]:
    """REFUSAL_TEXT_<REASON>, else REFUSAL_TEXT, else the built-in text for the reason."""
    common = values["REFUSAL_TEXT"]
    texts = dict(prompts.REFUSALS)
    for reason in prompts.CONFIGURABLE:
        default = prompts.REFUSALS[reason]
        name = prompts.setting_name(reason)
        if values[name] is not None:
            texts[reason] = _speech(values, name, default, allow_empty=False)
        else:
            texts[reason] = (
                default if common is None else _speech(values, "REFUSAL_TEXT", default, allow_empty=False)
            )
    return texts
