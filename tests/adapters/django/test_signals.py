"""``invalidate_on_save``: model saves and deletes invalidate tags and paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.test import Client

from routecache import StoreError
from routecache.adapters.django import conf, invalidate, invalidate_on_save

from .conftest import Configure
from .testapp.models import Item


@pytest.fixture
def items() -> Iterator[type[Item]]:
    """The Item table, created for the test and dropped after."""
    with connection.schema_editor() as editor:
        editor.create_model(Item)
    yield Item
    with connection.schema_editor() as editor:
        editor.delete_model(Item)


def hit(client: Client, url: str) -> bool:
    return str(client.get(url).headers.get("Cache-Status", "")).startswith("routecache; hit")


def test_save_and_delete_invalidate(routecache: Configure, items: type[Item]) -> None:
    disconnect = invalidate_on_save(items, tags=["item:{pk}"], paths=["/shop/class/{slug}"])
    try:
        item = items.objects.create(pk=7, slug="3")
        client = Client()
        client.get("/shop/items/7")
        client.get("/shop/items/8")
        client.get("/shop/class/3")
        assert hit(client, "/shop/items/7")
        assert hit(client, "/shop/class/3")
        item.save()
        assert not hit(client, "/shop/items/7")
        assert not hit(client, "/shop/class/3")
        assert hit(client, "/shop/items/8")
        item.delete()
        assert not hit(client, "/shop/items/7")
    finally:
        disconnect()
    client.get("/shop/items/8")
    items.objects.create(pk=8, slug="x")
    assert hit(client, "/shop/items/8")  # disconnected: nothing happens


def test_invalidation_waits_for_the_commit(routecache: Configure, items: type[Item]) -> None:
    disconnect = invalidate_on_save(items, tags=lambda obj: [f"item:{obj.pk}"])
    try:
        client = Client()
        client.get("/shop/items/5")
        with transaction.atomic():
            items.objects.create(pk=5, slug="a")
            assert hit(client, "/shop/items/5")  # not committed yet
        assert not hit(client, "/shop/items/5")
    finally:
        disconnect()


def test_a_store_fault_does_not_break_the_save(routecache: Configure, items: type[Item]) -> None:
    routecache(REDIS_URL="redis://127.0.0.1:1/0", REDIS_OPTIONS={"timeout": 0.05})
    disconnect = invalidate_on_save(items, tags=["items"])
    try:
        items.objects.create(pk=1, slug="a")  # logged, not raised
        with pytest.raises(StoreError):
            invalidate(tags=["items"])
    finally:
        disconnect()
        conf.reset()


def test_templates_must_be_lists() -> None:
    with pytest.raises(TypeError):
        invalidate_on_save(Item, tags="item:{pk}")
