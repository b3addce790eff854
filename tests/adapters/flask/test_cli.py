"""``flask routecache purge|stats``: exactly what it names, only under the prefix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskCliRunner

from routecache import MemoryStore
from routecache.adapters.flask import RouteCache, cli_group
from tests._redis_servers import free_port
from tests.conformance.harness import WSGIClient

from .conftest import Cleanup
from .helpers import assert_miss_then_hit, get

PREFIX = "clitest"


def make_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/items/<int:id>")
    @RouteCache.route(ttl=60, tags=["item:{id}", "items"])
    def item(id: int) -> str:
        return f"item {id}"

    @app.get("/about")
    @RouteCache.route(ttl=60)
    def about() -> str:
        return "about"

    RouteCache().init_app(app)
    return app


@pytest.fixture
def app(redis_clean_url: str, cleanup: Cleanup) -> Flask:
    """An app on the private Redis, prefix ``clitest``."""
    return cleanup(make_app(ROUTECACHE_REDIS_URL=redis_clean_url, ROUTECACHE_PREFIX=PREFIX))


@pytest.fixture
def plain(redis_clean_url: str) -> Iterator[redis.Redis]:
    """A plain client on the private server, with keys of somebody else's seeded."""
    client = redis.Redis.from_url(redis_clean_url)
    client.set("otherapp:{x}:y", b"keep me")
    client.set(f"{PREFIX}X:{{y}}:z", b"keep me too")  # starts like the prefix
    client.set(f"{PREFIX}:z", b"not a routecache key")  # prefix, but not 'prefix:{'
    yield client
    client.close()


FOREIGN = [b"otherapp:{x}:y", f"{PREFIX}X:{{y}}:z".encode(), f"{PREFIX}:z".encode()]


def fill(app: Flask) -> WSGIClient:
    client = WSGIClient(app)
    for target in ("/items/1", "/items/1?page=2", "/items/2", "/about"):
        assert_miss_then_hit(client, target)
    return client


def run(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=["routecache", *args])


def test_purge_a_path_removes_only_that_path(app: Flask, plain: redis.Redis) -> None:
    client = fill(app)
    result = run(app.test_cli_runner(), "purge", "--path", "/items/1")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed 2 key(s) under prefix '{PREFIX}'\n"
    assert not get(client, "/items/1").hit
    assert not get(client, "/items/1?page=2").hit
    assert get(client, "/items/2").hit
    assert get(client, "/about").hit
    assert all(plain.exists(k) for k in FOREIGN)


def test_purge_tags_and_several_paths(app: Flask) -> None:
    client = fill(app)
    runner = app.test_cli_runner()
    assert run(runner, "purge", "--tag", "item:2").stdout.startswith("removed 1 key(s)")
    assert not get(client, "/items/2").hit
    assert get(client, "/items/1").hit
    result = run(runner, "purge", "--tag", "items", "--path", "/about")
    assert result.exit_code == 0
    for target in ("/items/1", "/items/1?page=2", "/about"):
        assert not get(client, target).hit


def test_purge_all_keeps_foreign_keys(app: Flask, plain: redis.Redis) -> None:
    fill(app)
    ours = [k for k in plain.scan_iter(count=1000) if k.startswith(f"{PREFIX}:{{".encode())]
    assert ours
    result = run(app.test_cli_runner(), "purge", "--all")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed {len(ours)} key(s) under prefix '{PREFIX}'\n"
    assert sorted(plain.scan_iter(count=1000)) == sorted(FOREIGN)
    assert all(plain.get(k) for k in FOREIGN)


def test_purge_needs_a_target(app: Flask) -> None:
    result = run(app.test_cli_runner(), "purge")
    assert result.exit_code == 2
    assert "name what to purge: --path, --tag or --all" in result.output


def test_stats(app: Flask, plain: redis.Redis) -> None:
    fill(app)
    runner = app.test_cli_runner()
    result = run(runner, "stats")
    assert result.exit_code == 0, result.output
    assert f"prefix: {PREFIX}\n" in result.stdout
    assert "store: redis\n" in result.stdout
    stats = json.loads(run(runner, "stats", "--json").stdout)
    assert stats["prefix"] == PREFIX
    # The command's own connection's faults and breaker say nothing about the app's.
    assert "breaker_open" not in stats
    assert "faults" not in stats
    # Only our keys were counted: the foreign ones are not entries of ours.
    assert stats["entries"] == 4


def test_memory_store_says_what_it_sees(cleanup: Cleanup) -> None:
    app = cleanup(make_app())
    result = run(app.test_cli_runner(), "stats")
    assert result.exit_code == 0
    assert "store: memory" in result.stdout
    assert "this command only sees its own, empty one" in result.stderr


def test_a_store_fault_is_a_clean_error(cleanup: Cleanup) -> None:
    app = cleanup(
        make_app(
            ROUTECACHE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
            ROUTECACHE_REDIS_OPTIONS={"timeout": 0.2},
        )
    )
    runner = app.test_cli_runner()
    for args in (["purge", "--all"], ["stats"]):
        result = run(runner, *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("routecache: the store failed:")
        assert result.stderr.count("\n") == 1  # one line, no "serving from the app"


def test_disabled_or_missing_extension() -> None:
    disabled = make_app(ROUTECACHE_ENABLED=False)
    assert "routecache" not in disabled.cli.commands
    result = disabled.test_cli_runner().invoke(cli_group, ["stats"])
    assert result.exit_code == 2
    assert "routecache is disabled on" in result.stderr
    bare = Flask(__name__)
    result = bare.test_cli_runner().invoke(cli_group, ["purge", "--all"])
    assert result.exit_code == 2
    assert "routecache is not set up on the Flask app" in result.stderr


def test_the_flask_commands_entry_point() -> None:
    (point,) = [ep for ep in entry_points(group="flask.commands") if ep.name == "routecache"]
    assert point.load() is cli_group
    app = Flask(__name__)
    RouteCache(app, store=MemoryStore())
    assert app.cli.commands["routecache"] is cli_group
    assert sorted(cli_group.commands) == ["ls", "purge", "show", "stats", "warm"]
