"""Configuration, rules and view behaviour shared by the pattern-test apps.

Environment (read once at import, in each worker process):

``RC_REDIS_URL``      the private Redis (``redis+cluster://`` for the cluster), required
``RC_PREFIX``         the cache's key prefix (default ``pc``)
``RC_COUNTER``        prefix of the view's own keys, outside the cache prefix (``ctr``)
``RC_VIEW_SLEEP``     seconds every view sleeps (default 0.2); ``?sleep=`` overrides
``RC_FIRST_SLEEP``    seconds the first call of a ``/slow/`` path sleeps, blocking its
                      worker (a hung worker), after recording its PID
``RC_WB_DELAY``       seconds of ``DEBUG SLEEP`` a ``/wb/`` view issues on Redis from
                      another connection just before it answers (a slow write)
``RC_LOCK_WAIT`` / ``RC_LOCK_TTL`` / ``RC_STORE_TIMEOUT``   engine and store options
``RC_SIE_TTL`` / ``RC_SIE_WINDOW``   ttl and stale-if-error window of ``/sie/``
``RC_SWR_TTL`` / ``RC_SWR_WINDOW``   ttl and stale-while-revalidate window of ``/swr/``

The view counts its calls per path with ``INCR <counter>:calls:<path>`` and per worker
with ``HINCRBY <counter>:pids:<path> <pid> 1``; ``<counter>:fail:<path>`` set to
``500`` makes it answer 500, set to ``raise`` makes it raise. Its body names the call.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

REDIS_URL = os.environ["RC_REDIS_URL"]
PREFIX = os.environ.get("RC_PREFIX", "pc")
COUNTER = os.environ.get("RC_COUNTER", "ctr")
VIEW_SLEEP = float(os.environ.get("RC_VIEW_SLEEP", "0.2"))
FIRST_SLEEP = float(os.environ.get("RC_FIRST_SLEEP", "0"))
WB_DELAY = float(os.environ.get("RC_WB_DELAY", "0"))
LOCK_WAIT = float(os.environ.get("RC_LOCK_WAIT", "2"))
LOCK_TTL = float(os.environ.get("RC_LOCK_TTL", "5"))
STORE_TIMEOUT = float(os.environ.get("RC_STORE_TIMEOUT", "0.25"))
PID = os.getpid()

#: Paths whose responses vary on Accept-Language (learned from the response's Vary).
VARYING = ("/items/", "/reviews/", "/other/")


def rule_dicts() -> list[dict[str, Any]]:
    """The rules of every app (dicts of ``Rule`` options; Django takes them as-is)."""
    return [
        {"path": "/stampede/{id}", "ttl": 60},
        {"path": "/slow/{id}", "ttl": 60},
        {"path": "/ra/{id}", "ttl": 2, "refresh_ahead": 0.5},
        {
            "path": "/swr/{id}",
            "ttl": float(os.environ.get("RC_SWR_TTL", "1")),
            "stale_while_revalidate": float(os.environ.get("RC_SWR_WINDOW", "10")),
        },
        {
            "path": "/sie/{id}",
            "ttl": float(os.environ.get("RC_SIE_TTL", "1")),
            "stale_if_error": float(os.environ.get("RC_SIE_WINDOW", "2")),
        },
        {"path": "/items/{id}/reviews", "ttl": 300, "tags": ["item:{id}"]},
        {"path": "/items/{id}", "ttl": 300, "tags": ["item:{id}", "items"]},
        {"path": "/reviews/{rid}", "ttl": 300},
        {"path": "/other/{id}", "ttl": 300},
        {"path": "/admin/items/{id}", "methods": ["POST"], "invalidates": ["item:{id}"]},
        {"path": "/jitter/{id}", "ttl": 100, "jitter": 0.1},
        {"path": "/wb/{id}", "ttl": 300},
        {"path": "/warm/{id}", "ttl": 300},
    ]


def engine_options() -> dict[str, Any]:
    """Driver options besides ``store`` and ``rules``."""
    return {"lock_wait": LOCK_WAIT, "lock_ttl": LOCK_TTL}


def store_options() -> dict[str, Any]:
    return {"prefix": PREFIX, "timeout": STORE_TIMEOUT}


def _plain(url: str) -> tuple[str, bool]:
    if url.startswith("redis+cluster://"):
        return url.replace("+cluster", "", 1), True
    return url, False


def sync_client() -> Any:
    """A redis-py client on the private Redis (cluster-aware) for the view's counters."""
    url, cluster = _plain(REDIS_URL)
    if cluster:
        return redis.cluster.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


def async_client() -> Any:
    url, cluster = _plain(REDIS_URL)
    if cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(url)
    return redis.asyncio.Redis.from_url(url)


def calls_key(path: str) -> str:
    return f"{COUNTER}:calls:{path}"


def pids_key(path: str) -> str:
    return f"{COUNTER}:pids:{path}"


def leader_key(path: str) -> str:
    return f"{COUNTER}:leader:{path}"


def fail_key(path: str) -> str:
    return f"{COUNTER}:fail:{path}"


class Outcome:
    """What the view answers, computed from the call number and the fail switch."""

    def __init__(self, path: str, call: int, lang: str, fail: bytes | None) -> None:
        self.path = path
        self.call = call
        self.status = 200
        self.raise_error = False
        if fail == b"500":
            self.status = 500
        elif fail == b"raise":
            self.raise_error = True
        body = f"path={path} call={call} pid={PID}"
        if path.startswith(VARYING):
            body += f" lang={lang}"
        if self.status != 200:
            body = f"error path={path} call={call} pid={PID}"
        self.body = body.encode()
        self.headers: list[tuple[str, str]] = [("content-type", "text/plain; charset=utf-8")]
        if path.startswith(VARYING):
            self.headers.append(("vary", "Accept-Language"))
        if path.startswith("/reviews/"):
            rid = int(path.rsplit("/", 1)[1])
            self.headers.append(("cache-tag", f"item:{rid // 10}"))


def sleep_for(path: str, query_sleep: str | None) -> float:
    if query_sleep is not None:
        return float(query_sleep)
    if path.startswith(("/jitter/", "/warm/")):
        return 0.0
    return VIEW_SLEEP


def slow_down_redis(client: Any) -> None:
    """Block the private Redis for ``RC_WB_DELAY`` seconds from another connection, and
    return once it is blocked (a ``PING`` on a fresh connection goes unanswered)."""

    def run() -> None:
        client.execute_command("DEBUG", "SLEEP", str(WB_DELAY))

    threading.Thread(target=run, daemon=True).start()
    where = urlsplit(REDIS_URL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        with socket.create_connection((where.hostname, where.port), timeout=1.0) as sock:
            sock.settimeout(0.05)
            sock.sendall(b"PING\r\n")
            try:
                sock.recv(16)
            except TimeoutError:
                return  # Redis is asleep
        time.sleep(0.005)


def sync_view(client: Any, path: str, lang: str, query_sleep: str | None) -> Outcome:
    """The view's behaviour for sync frameworks (Flask, Django under WSGI)."""
    call = int(client.incr(calls_key(path)))
    client.hincrby(pids_key(path), str(PID), 1)
    if path.startswith("/slow/") and call == 1 and FIRST_SLEEP:
        client.set(leader_key(path), str(PID))
        time.sleep(FIRST_SLEEP)
    else:
        time.sleep(sleep_for(path, query_sleep))
    outcome = Outcome(path, call, lang, client.get(fail_key(path)))
    if path.startswith("/wb/") and WB_DELAY:
        slow_down_redis(client)  # the DEBUG SLEEP runs when the response goes out
    return outcome
