"""Reading the NCCOs callgate answers with: is it one, which action does what, and a one-line
description of it for the timeline and for error messages."""

from __future__ import annotations

import json
from typing import Any

from devtools.simulate.transport import StepError


def is_ncco(value: Any) -> bool:
    """A list of actions, each an object naming its action: what Vonage would accept and run."""
    return isinstance(value, list) and all(
        isinstance(action, dict) and isinstance(action.get("action"), str) for action in value
    )


def first_action(ncco: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((action for action in ncco if action["action"] == name), None)


def event_url_of(action: dict[str, Any], step: str) -> str:
    """Where Vonage posts the action's events: the first of its eventUrl list."""
    urls = action.get("eventUrl")
    if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
        raise StepError(step, f"the {action['action']}'s eventUrl is not a list of URLs: {urls!r}")
    return urls[0]


def spoken(ncco: Any) -> list[str]:
    """The texts the NCCO's talk actions say, in order."""
    return [a["text"] for a in ncco if isinstance(a, dict) and a.get("action") == "talk" and "text" in a]


def describe_ncco(ncco: Any) -> str:
    """An NCCO in one line: talk "…", connect 1415…"""
    if not isinstance(ncco, list):
        return repr(ncco)
    parts = []
    for action in ncco:
        name = action.get("action") if isinstance(action, dict) else None
        if name == "talk":
            parts.append(f"talk {json.dumps(action.get('text'), ensure_ascii=False)}")
        elif name == "connect":
            endpoints = action.get("endpoint") or [{}]
            first = endpoints[0] if isinstance(endpoints[0], dict) else {}
            parts.append(f"connect {first.get('number') or first.get('type') or '?'}")
        else:
            parts.append(str(name))
    return ", ".join(parts)
