"""The example projects of ``examples/testing/`` (shown on the documentation site's
"Testing your app" page), run as their users run them: copied into a temporary
directory and tested by pytest in a subprocess, with routecache's plugin loaded through
its ``pytest11`` entry point and nothing of this suite's (no conftest, no fixtures).
Their apps are configured on Redis as in production: ``REDIS_URL`` names a private
``redis-server``, which the tests using ``routecache_store`` must never touch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "testing"


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, project: str, url: str, *args: str
) -> pytest.RunResult:
    shutil.copytree(EXAMPLES / project, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args, timeout=100)


def keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(client.scan_iter())
    finally:
        client.close()


def test_flask_test_client_with_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_clean_url: str
) -> None:
    result = run(pytester, monkeypatch, "flask", redis_clean_url)
    result.assert_outcomes(passed=5)
    assert keys(redis_clean_url) == []  # the plugin's store took every request


def test_fastapi_test_clients_on_redis_and_with_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_clean_url: str
) -> None:
    result = run(pytester, monkeypatch, "fastapi", redis_clean_url)
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "*test_async_on_redis.py::test_miss_then_hit?1? PASSED*",
            "*test_async_on_redis.py::test_miss_then_hit?2? PASSED*",
            "*test_on_redis.py::test_two_with_blocks PASSED*",
            "*test_with_plugin.py::test_async_client PASSED*",
        ],
        consecutive=False,
    )
    assert any(key.startswith(b"routecache:") for key in keys(redis_clean_url))


def test_fastapi_plugin_tests_never_touch_redis(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_clean_url: str
) -> None:
    result = run(pytester, monkeypatch, "fastapi", redis_clean_url, "test_with_plugin.py")
    result.assert_outcomes(passed=3)
    assert keys(redis_clean_url) == []


def test_django_clients_with_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_clean_url: str
) -> None:
    result = run(pytester, monkeypatch, "django", redis_clean_url)
    result.assert_outcomes(passed=4)
    assert keys(redis_clean_url) == []
