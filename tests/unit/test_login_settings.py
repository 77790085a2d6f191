"""POST /token's settings that a browser app and the Users API need: each bad value is named."""

from __future__ import annotations

import pytest

from chalicelib.settings import load
from tests.support import BASE_ENV


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("https://app.example.com", {"https://app.example.com"}),
        (
            "https://App.Example.com:8443, http://localhost:5173",
            {"https://app.example.com:8443", "http://localhost:5173"},
        ),
        ("", set()),
    ],
)
def test_cors_origins_are_exact_origins(value: str, origins: set[str]) -> None:
    loaded = load({**BASE_ENV, "TOKEN_CORS_ORIGINS": value})
    assert (loaded.token_cors_origins, loaded.token_problem) == (origins, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("*", "is not an origin"),
        ("https://app.example.com/", "is not an origin"),
        ("https://app.example.com/login", "is not an origin"),
        ("app.example.com", "is not an origin"),
        ("http://app.example.com", "must be https (http only for localhost)"),
    ],
)
def test_a_bad_origin_is_named_and_turns_the_route_off(value: str, problem: str) -> None:
    loaded = load({**BASE_ENV, "TOKEN_CORS_ORIGINS": value})
    assert loaded.token_problem is not None and loaded.token_problem.startswith("TOKEN_CORS_ORIGINS: ")
    assert problem in loaded.token_problem and loaded.token_cors_origins == frozenset()


@pytest.mark.parametrize(
    ("value", "url", "problem"),
    [
        (None, "https://api.nexmo.com", None),
        ("https://api-eu.vonage.com/", "https://api-eu.vonage.com", None),
        ("http://127.0.0.1:8003", "http://127.0.0.1:8003", None),
        ("http://api.nexmo.com", None, "VONAGE_API_URL must be an https URL"),
        ("https://api.nexmo.com?x=1", None, "VONAGE_API_URL must be an https URL"),
    ],
)
def test_the_users_api_url(value: str | None, url: str | None, problem: str | None) -> None:
    loaded = load({**BASE_ENV, "VONAGE_API_URL": value} if value is not None else BASE_ENV)
    if problem is None:
        assert (loaded.vonage_api_url, loaded.token_problem) == (url, None)
    else:
        assert loaded.token_problem is not None and loaded.token_problem.startswith(problem)


def test_app_to_app_is_on_unless_turned_off() -> None:
    assert load(BASE_ENV).app_to_app is True
    assert load({**BASE_ENV, "APP_TO_APP": "off"}).app_to_app is False
