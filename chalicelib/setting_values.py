"""Rules for one setting's value that more than one group of settings uses: a whole number in a
range, an SSM parameter name, an https URL (http only to this machine). Each error names the
setting."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from chalicelib.errors import ConfigError

PARAMETER_NAME = re.compile(r"/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")  # SSM Parameter Store names


def whole_number(values: dict[str, str | None], name: str, default: int, low: int, high: int) -> int:
    """`name` as a whole number in low..high; `default` when unset or blank."""
    value = values[name]
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a whole number") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name}={number} is outside {low}..{high}")
    return number


def https_or_local(url: str) -> bool:
    """An https URL, or http to this machine (a local issuer or fake for `make run` and the tests)."""
    parts = urlsplit(url)
    if not parts.netloc or any(c.isspace() for c in url):
        return False
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and local)
