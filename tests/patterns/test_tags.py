"""Tags: invalidating ``item:7`` removes exactly the entries tagged with it, across
paths and Vary variants, and nothing else; on a single Redis and on a 3-node Cluster.

Entries are made through two uvicorn workers. Tags come from rules (``/items/{id}`` and
``/items/{id}/reviews`` are tagged ``item:{id}``) and from the app's ``Cache-Tag``
header (``/reviews/70`` says ``item:7``); every response varies on Accept-Language, so
each path has a primary key and two variant keys. ``/other/7`` mentions 7 but is not
tagged. Invalidation runs twice: from code (``RedisStore.invalidate(tags=...)``) and by
an unsafe request whose rule says ``invalidates=["item:{id}"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from routecache import RedisStore
from routecache.middleware.keys import path_hash
from routecache.middleware.stores.base import KeySpace
from tests._redis_servers import RedisCluster
from tests.patterns._support import (
    PREFIX,
    app_env,
    calls,
    redis_client,
    report,
    request,
    serve,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TAGGED = ["/items/7", "/items/7/reviews", "/reviews/70", "/reviews/71"]
UNTAGGED = ["/items/8", "/items/8/reviews", "/reviews/80", "/other/7"]
LANGS = ["en", "fr"]


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Any]]:
    """(name, store URL, redis-py client) of a flushed private Redis or Cluster."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_clean_url")
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster_clean")
        url = f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}"
    client = redis_client(url)
    try:
        yield request.param, url, client
    finally:
        client.close()


def _entries_of(client: Any, path: str) -> list[bytes]:
    keys = client.scan_iter(match=f"{PREFIX}:{{{path_hash(path)}}}:*", count=1000)
    return sorted(k for k in keys if not k.endswith((b":idx", b":lock", b":g", b":gen")))


def _fill(port: int) -> dict[tuple[str, str], Any]:
    return {
        (path, lang): request(port, path, headers={"Accept-Language": lang})
        for path in TAGGED + UNTAGGED
        for lang in LANGS
    }


def _check(port: int, client: Any, before: dict[str, int], how: str) -> None:
    """Tagged entries are gone (every variant), untagged ones are hits."""
    for path in TAGGED:
        assert _entries_of(client, path) == [], (how, path)
    for path in UNTAGGED:
        assert len(_entries_of(client, path)) == 3, (how, path)  # primary + 2 variants
    tags = KeySpace(PREFIX)
    assert not client.exists(tags.tag_index("item:7")), how
    assert client.exists(tags.tag_index("item:8")), how
    replies = _fill(port)
    for (path, lang), r in replies.items():
        assert r.status == 200, r
        assert f"lang={lang}".encode() in r.body
        if path in TAGGED:
            assert not r.hit, (how, path, lang, r)
            assert "stored" in r.cache_status, (how, path, lang, r)
            assert calls(client, path) == before[path] + 2, (how, path)
        else:
            assert r.hit, (how, path, lang, r)
            assert calls(client, path) == before[path], (how, path)


def test_invalidating_a_tag_removes_exactly_its_entries(backend: tuple[str, str, Any]) -> None:
    name, url, client = backend
    with serve("starlette", app_env(url, view_sleep=0)) as server:
        _fill(server.port)
        for r in _fill(server.port).values():
            assert r.hit, r  # every path and variant is cached
        nodes = set()
        if name == "cluster":
            for path in TAGGED + UNTAGGED:
                for key in _entries_of(client, path):
                    nodes.add(client.get_node_from_key(key).name)
        before = {p: calls(client, p) for p in TAGGED + UNTAGGED}
        keys_before = sum(len(_entries_of(client, p)) for p in TAGGED + UNTAGGED)

        # 1. From code.
        store = RedisStore(url, prefix=PREFIX, timeout=5.0)
        try:
            removed = store.invalidate(tags=["item:7"])
        finally:
            store.close()
        assert removed == 3 * len(TAGGED)
        _check(server.port, client, before, "RedisStore.invalidate")

        # 2. By an unsafe request whose rule invalidates item:{id}.
        before = {p: calls(client, p) for p in TAGGED + UNTAGGED}
        post = request(server.port, "/admin/items/7", method="POST")
        assert post.status == 200, post
        assert "fwd=method" in post.cache_status, post
        _check(server.port, client, before, "POST /admin/items/7")
    report(
        f"tags[{name}]",
        entry_keys_before=keys_before,
        removed_by_invalidate=removed,
        tagged_paths=len(TAGGED),
        untagged_paths=len(UNTAGGED),
        cluster_nodes_holding_entries=len(nodes) if nodes else None,
    )
    if name == "cluster":
        assert len(nodes) > 1  # the tag's entries span several nodes (slots)
