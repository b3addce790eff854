"""Stale serving across worker processes: stale-if-error and stale-while-revalidate."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.patterns._support import (
    app_env,
    calls,
    calls_by_pid,
    concurrently,
    pids_of,
    report,
    request,
    serve,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.mark.parametrize(("kind", "mode"), [("starlette", "raise"), ("flask", "500")])
def test_stale_if_error_serves_the_stale_body_until_the_window_ends(
    kind: str, mode: str, redis_clean_url: str, rc: Any
) -> None:
    ttl, window = 1.0, 2.0
    path = "/sie/1"
    env = app_env(redis_clean_url, sie_ttl=ttl, sie_window=window)
    timeline: list[tuple[float, Any]] = []
    with serve(kind, env) as server:
        first = request(server.port, path)
        assert first.status == 200, first
        assert "stored" in first.cache_status, first
        rc.set(f"ctr:fail:{path}", mode)  # from now on the view fails
        time.sleep(ttl)  # expired (the entry was already aged by the view's 0.2 s)
        deadline = time.monotonic() + ttl + window + 3.0
        while time.monotonic() < deadline:
            reply = request(server.port, path)
            timeline.append((reply.ended - first.ended, reply))
            if reply.status >= 500:
                break
            time.sleep(0.15)
        view_calls = calls(rc, path)
    stale = [(t, r) for t, r in timeline if r.status == 200]
    errors = [(t, r) for t, r in timeline if r.status >= 500]
    report(
        f"stale-if-error[{kind}, view {'raises' if mode == 'raise' else 'answers 500'}]",
        ttl=ttl,
        window=window,
        stale_replies=len(stale),
        stale_from_s=round(stale[0][0], 2) if stale else None,
        stale_until_s=round(stale[-1][0], 2) if stale else None,
        error_at_s=round(errors[0][0], 2) if errors else None,
        error_status=errors[0][1].status if errors else None,
        view_calls=view_calls,
        cache_status=stale[0][1].cache_status if stale else None,
    )
    assert stale, timeline
    for _, r in stale:
        assert r.body == first.body, r
        assert "fwd=stale" in r.cache_status, r
        assert "detail=stale-if-error" in r.cache_status, r
        if mode == "500":
            assert "fwd-status=500" in r.cache_status, r
    # The stale body is served while the window lasts, then the error comes through.
    assert errors, "the error never came through after the stale window"
    assert timeline[-1][1].status >= 500
    assert errors[0][1].body != first.body
    assert window - 0.6 <= stale[-1][0] - stale[0][0] <= window + 0.3
    assert errors[0][0] <= ttl + window + 1.0


@pytest.mark.parametrize("kind", ["starlette", "flask"])
def test_stale_while_revalidate_serves_at_once_and_refreshes_once(
    kind: str, redis_clean_url: str, rc: Any
) -> None:
    view, ttl = 0.5, 1.5
    env = app_env(redis_clean_url, swr_ttl=ttl, swr_window=10)
    with serve(kind, env) as server:
        # Should every concurrent request land on one worker (rare), the cross-process
        # part was not exercised: again on another key, at most three times.
        for attempt in range(1, 4):
            path = f"/swr/{attempt}"
            url = f"{path}?sleep={view}"
            first = request(server.port, url)
            assert "stored" in first.cache_status, first
            assert first.elapsed >= view
            time.sleep(ttl - view + 0.1)  # expired (the view's time counts in its age)
            replies = concurrently(30, lambda i, url=url: request(server.port, url))
            refreshed = wait_until(lambda path=path: calls(rc, path) >= 2, view + 2.0)
            time.sleep(view)  # a second refresh (a bug) would have started by now
            view_calls = calls(rc, path)
            after = request(server.port, url)
            if len(pids_of(replies)) == 2:
                break
    latencies = sorted(r.elapsed for r in replies)
    stale = [r for r in replies if "stale-while-revalidate" in r.cache_status]
    report(
        f"stale-while-revalidate[{kind}]",
        attempts=attempt,
        view_s=view,
        concurrent=len(replies),
        stale_served=len(stale),
        fresh_hits=sum(r.hit and "stale" not in r.cache_status for r in replies),
        served_by_worker=sorted(pids_of(replies).values()),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 1),
        max_ms=round(latencies[-1] * 1000, 1),
        view_calls=view_calls,
        calls_by_worker=sorted(calls_by_pid(rc, path).values()),
        after=after.cache_status,
    )
    assert refreshed
    for r in replies:
        assert r.status == 200, r
        assert r.hit, r
    assert stale, [r.cache_status for r in replies]
    for r in stale:
        assert r.body == first.body
    # Served at once: well below the view's time.
    assert latencies[-1] < view / 2, latencies
    # Exactly one background refresh across both workers.
    assert view_calls == 2, calls_by_pid(rc, path)
    assert len(pids_of(replies)) == 2
    assert after.hit, after
    assert "stale" not in after.cache_status, after
    assert b"call=2" in after.body, after
