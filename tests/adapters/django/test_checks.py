"""System checks: every error id fires on the setting it names; W001 on a bad order."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from routecache import MemoryStore


def routecache_messages(**overrides: Any) -> list[checks.CheckMessage]:
    with override_settings(**overrides):
        return [m for m in checks.run_checks() if m.id and m.id.startswith("routecache.")]


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [str(m.id) for m in messages]


def test_a_good_configuration_is_silent() -> None:
    assert (
        routecache_messages(
            ROUTECACHE={
                "REDIS_URL": "redis://localhost:6379/0",
                "REDIS_OPTIONS": {"timeout": 0.5},
                "PREFIX": "site",
                "RULES": [{"path": "/items/<int:pk>", "ttl": 60, "tags": ["item:{pk}"]}],
                "DEFAULT_TTL": 30,
                "HONOR_CACHE_CONTROL": True,
            }
        )
        == []
    )


@pytest.mark.parametrize(
    ("value", "expected", "named"),
    [
        (["not", "a", "dict"], "routecache.E001", "ROUTECACHE must be a dict"),
        ({"REDIS_ULR": "redis://x"}, "routecache.E002", "'REDIS_ULR'"),
        ({"DEFAULT_TTL": "sixty"}, "routecache.E003", "ROUTECACHE['DEFAULT_TTL']"),
        ({"HONOR_CACHE_CONTROL": "yes"}, "routecache.E003", "ROUTECACHE['HONOR_CACHE_CONTROL']"),
        ({"LOCK_WAIT": -1}, "routecache.E003", "ROUTECACHE['LOCK_WAIT']"),
        ({"RULES": "/items"}, "routecache.E004", "ROUTECACHE['RULES']"),
        (
            {"RULES": [{"path": "/a", "ttl": 1}, {"path": "/b", "ttl": -1}]},
            "routecache.E004",
            "ROUTECACHE['RULES'][1]",
        ),
        ({"RULES": [{"ttl": 1}]}, "routecache.E004", "ROUTECACHE['RULES'][0]"),
        ({"RULES": [{"path": "/a", "tll": 1}]}, "routecache.E004", "'tll'"),
        ({"REDIS_URL": "localhost:6379"}, "routecache.E005", "ROUTECACHE['REDIS_URL']"),
        (
            {"REDIS_URL": "redis://x", "REDIS_OPTIONS": {"timeuot": 1}},
            "routecache.E005",
            "'timeuot'",
        ),
        ({"REDIS_URL": "redis://x", "REDIS_OPTIONS": {"timeout": 0}}, "routecache.E005", "timeout"),
        ({"STORE": "no.such.module.Store"}, "routecache.E006", "ROUTECACHE['STORE']"),
        ({"STORE": 42}, "routecache.E006", "ROUTECACHE['STORE']"),
        ({"CACHE": "nope"}, "routecache.E007", "ROUTECACHE['CACHE']"),
        ({"CACHE": "default"}, "routecache.E007", "not Redis"),
        ({"STORE": MemoryStore(), "REDIS_URL": "redis://x"}, "routecache.E008", "STORE and"),
        ({"REDIS_OPTIONS": {"timeout": 1}}, "routecache.E008", "REDIS_OPTIONS"),
        ({"PREFIX": "bad prefix*"}, "routecache.E009", "ROUTECACHE['PREFIX']"),
    ],
)
def test_each_bad_setting_has_its_error(value: Any, expected: str, named: str) -> None:
    messages = routecache_messages(ROUTECACHE=value)
    assert ids(messages) == [expected], [m.msg for m in messages]
    message = messages[0]
    assert isinstance(message, checks.Error)
    assert named in message.msg
    assert message.hint
    assert "ROUTECACHE" in message.hint


def test_all_problems_are_reported_at_once() -> None:
    messages = routecache_messages(
        ROUTECACHE={"DEFAULT_TTL": "x", "RULES": [{"path": "nope"}], "WHAT": 1}
    )
    assert sorted(ids(messages)) == ["routecache.E002", "routecache.E003", "routecache.E004"]


def test_a_caches_entry_that_is_redis_is_fine() -> None:
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6390/1,redis://127.0.0.1:6391/1",
        }
    }
    assert routecache_messages(CACHES=caches, ROUTECACHE={"CACHE": "default"}) == []


MIDDLE = "routecache.adapters.django.CacheMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"


def test_w001_when_the_cache_sits_below_session_and_auth() -> None:
    messages = routecache_messages(MIDDLEWARE=[SECURITY, SESSION, AUTH, MIDDLE])
    assert ids(messages) == ["routecache.W001"]
    assert isinstance(messages[0], checks.Warning)
    assert "SessionMiddleware" in messages[0].msg
    assert "AuthenticationMiddleware" in messages[0].msg
    assert messages[0].hint
    assert "above SessionMiddleware" in messages[0].hint


def test_no_w001_in_the_documented_position() -> None:
    assert routecache_messages(MIDDLEWARE=[SECURITY, MIDDLE, SESSION, AUTH]) == []


def test_settings_of_a_subclass_are_checked() -> None:
    messages = routecache_messages(
        MIDDLEWARE=["tests.adapters.django.test_checks.SecondCache"],
        ROUTECACHE_SECOND={"DEFAULT_TTL": -5},
    )
    assert ids(messages) == ["routecache.E003"]
    assert "ROUTECACHE_SECOND['DEFAULT_TTL']" in messages[0].msg


def test_url_problems_are_checks_too() -> None:
    messages = routecache_messages(ROOT_URLCONF="tests.adapters.django.urls")
    assert ids(messages) == ["routecache.W002"]


from routecache.adapters.django import CacheMiddleware  # noqa: E402


class SecondCache(CacheMiddleware):
    """A second cache reading its own settings dict."""

    setting = "ROUTECACHE_SECOND"
