"""pytest-asyncio runs each test on a loop of its own; the module-level store follows."""

import httpx
import pytest
from app import app, calls, store


@pytest.mark.asyncio
@pytest.mark.parametrize("round", [1, 2])
async def test_miss_then_hit(round):
    await store.invalidate(everything=True)
    calls.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        first = await client.get("/items/6")
        second = await client.get("/items/6")
    assert first.headers["cache-status"] == "routecache; fwd=uri-miss; stored"
    assert second.headers["cache-status"].startswith("routecache; hit")
    assert calls == [6]
