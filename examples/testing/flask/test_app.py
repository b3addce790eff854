import pytest
from app import app, calls

from routecache.testing import assert_hit, assert_miss, assert_stored


@pytest.fixture(autouse=True)
def _no_calls_yet():
    calls.clear()


def test_a_second_get_is_a_hit(routecache_store):
    client = app.test_client()  # no `with`
    assert_stored(client.get("/items/1"))
    second = client.get("/items/1")
    assert_hit(second)
    assert second.json == {"id": 1}
    assert calls == [1]


def test_each_test_starts_with_an_empty_cache(routecache_store):
    client = app.test_client()
    assert_miss(client.get("/items/1"), fwd="uri-miss")
    assert_hit(client.get("/items/1"))
    assert calls == [1]


def test_entries_expire(routecache_store, routecache_clock):
    client = app.test_client()
    client.get("/items/2")
    routecache_clock.advance(61)  # the rule's ttl=60 is over
    assert_miss(client.get("/items/2"), fwd="uri-miss")
    assert calls == [2, 2]


def test_a_put_invalidates(routecache_store):
    client = app.test_client()
    client.get("/items/3")
    assert client.put("/items/3").status_code == 200
    assert_miss(client.get("/items/3"))
    assert calls == [3, 3]


def test_a_session_cookie_bypasses(routecache_store):
    client = app.test_client()
    client.set_cookie("session", "abc")
    assert_miss(client.get("/items/4"), detail="cookie")
