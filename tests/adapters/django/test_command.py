"""``manage.py routecache purge|stats``: exactly what it names, only under the prefix."""

from __future__ import annotations

import io
import json

import pytest
import redis
from django.core.management import CommandError, call_command
from django.test import Client

from routecache.adapters.django import conf

from .conftest import Configure


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("routecache", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def cached(client: Client, url: str) -> bool:
    return str(client.get(url).headers.get("Cache-Status", "")).startswith("routecache; hit")


@pytest.fixture
def foreign(redis_clean_url: str) -> redis.Redis:
    """A key of somebody else's, on the same Redis, under another prefix."""
    client = redis.Redis.from_url(redis_clean_url)
    client.set("otherapp:{x}:y", b"keep me")
    client.set("routecacheX:1", b"keep me too")
    return client


def test_purge_a_path_removes_only_that_path(
    redis_routecache: Configure, foreign: redis.Redis
) -> None:
    client = Client()
    for url in ("/shop/items/1", "/shop/items/1?x=1", "/shop/items/2"):
        client.get(url)
    out = command("purge", "--path", "/shop/items/1")
    assert out.strip() == "removed 2 key(s) under prefix 'routecache'"
    assert not cached(client, "/shop/items/1")
    assert cached(client, "/shop/items/2")
    assert foreign.get("otherapp:{x}:y") == b"keep me"


def test_purge_a_tag(redis_routecache: Configure) -> None:
    client = Client()
    client.get("/shop/items/1")
    client.get("/shop/class/1")
    command("purge", "--tag", "item:1")
    assert not cached(client, "/shop/items/1")
    assert cached(client, "/shop/class/1")
    command("purge", "--tag", "klass")
    assert not cached(client, "/shop/class/1")


def test_purge_all_keeps_foreign_keys(redis_routecache: Configure, foreign: redis.Redis) -> None:
    client = Client()
    client.get("/shop/items/1")
    client.get("/shop/class/1")
    command("purge", "--all")
    assert sorted(foreign.keys("*")) == [b"otherapp:{x}:y", b"routecacheX:1"]
    assert foreign.get("routecacheX:1") == b"keep me too"


def test_stats_counts_under_the_prefix(redis_routecache: Configure, foreign: redis.Redis) -> None:
    Client().get("/shop/items/1")
    stats = json.loads(command("stats", "--json"))
    assert stats["prefix"] == "routecache"
    assert stats["entries"] == 1
    assert "entries: 1" in command("stats")


def test_purge_needs_a_target(routecache: Configure) -> None:
    with pytest.raises(CommandError, match="--path, --tag or --all"):
        command("purge")


def test_a_store_fault_is_a_command_error(routecache: Configure) -> None:
    routecache(REDIS_URL="redis://127.0.0.1:1/0", REDIS_OPTIONS={"timeout": 0.05})
    with pytest.raises(CommandError, match="store failed"):
        command("purge", "--all")
    conf.reset()
