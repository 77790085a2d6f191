"""Every default text a caller hears, and the refusal reason codes they are spoken for.

Each text can be replaced per stage with REFUSAL_TEXT_<CODE> (e.g.
REFUSAL_TEXT_COUNTRY_NOT_ALLOWED), or all at once with REFUSAL_TEXT; its
language with REFUSAL_LANGUAGE_<CODE>, else TALK_LANGUAGE.
"""

from __future__ import annotations

ALLOWED = "allowed"  # the reason recorded when a call is connected

GENERIC = "Sorry, this call cannot be connected."

# In the order the answer URL checks them.
REFUSALS: dict[str, str] = {
    "invalid_request": GENERIC,
    "unknown_caller": "Sorry, we could not tell who is calling, so this call cannot be connected.",
    "pstn_caller_not_allowed": "Sorry, calls from this number cannot be connected.",
    "user_not_allowed": "Sorry, your account is not allowed to make calls.",
    "invalid_number": "Sorry, that is not a valid phone number. Please check it and try again.",
    "country_not_allowed": "Sorry, calls to that country are not available.",
    "number_type_blocked": "Sorry, calls to that kind of number are not available.",
    "prefix_denied": "Sorry, calls to that number are not available.",
    # an app user calling another by name (app-to-app)
    "app_to_app_off": "Sorry, calls to other users are not available.",
    "self_call": "Sorry, you cannot call yourself.",
    "callee_not_allowed": "Sorry, that user cannot be called.",
    "user_rate_limited": "Sorry, you have reached your call limit. Please try again later.",
    "inbound_rate_limited": "Sorry, we cannot take more calls from this number now. Please try again later.",
    "global_rate_limited": "Sorry, we are handling too many calls right now. Please try again in a minute.",
    "policy_unavailable": "Sorry, we cannot connect calls right now. Please try again later.",
    "misconfigured": GENERIC,
    "internal_error": GENERIC,
}


# A phone call to one of the team's numbers (a callback) goes to an app user; the reason recorded
# says which: the app user who last called that number, INBOUND_DEFAULT_USER, or nobody.
CALLBACK_USER = "callback_user"
DEFAULT_USER = "default_user"
NO_USER = "no_user"
INBOUND_REASONS = (CALLBACK_USER, DEFAULT_USER, NO_USER)
CALLBACK = "Connecting your call."  # CALLBACK_TEXT, before the connect to the app user
INBOUND = "Sorry, nobody is available to take your call."  # INBOUND_TEXT
VOICEMAIL = "Please leave a message after the tone."  # VOICEMAIL_TEXT, before the recording

# What a connected call's caller hears when the callee's leg ends in one of these
# statuses (connect failover: FAILOVER_TEXT_<STATUS>), unless FALLBACK_NUMBER is set.
FAILOVERS: dict[str, str] = {
    "busy": "The number you called is busy. Please try again later.",
    "unanswered": "There was no answer. Please try again later.",
    "timeout": "There was no answer. Please try again later.",
    "failed": "Sorry, the call could not be connected. Please try again later.",
    "rejected": "Sorry, the call could not be connected. Please try again later.",
}
FALLBACK_CONNECT = "Please hold while we connect you to someone else."
# The fallback answer URL: Vonage calls it when the answer URL failed.
FALLBACK_ANSWER = "Sorry, we cannot connect your call right now. Please try again later."

# Spoken when the settings themselves cannot be read, so not configurable by them.
NOT_CONFIGURABLE = frozenset({"misconfigured"})
CONFIGURABLE = tuple(reason for reason in REFUSALS if reason not in NOT_CONFIGURABLE)


def setting_name(reason: str) -> str:
    return f"REFUSAL_TEXT_{reason.upper()}"


def language_setting_name(reason: str) -> str:
    return f"REFUSAL_LANGUAGE_{reason.upper()}"
