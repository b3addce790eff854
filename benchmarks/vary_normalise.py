"""What ``normalize_accept_encoding`` / ``normalize_accept_language`` buy and cost.

Run from the repository root (no Redis needed)::

    python -m benchmarks.vary_normalise

1. Hit ratio: 200 and 20,000 requests for one page that answers ``Vary: Accept-Encoding,
   Accept-Language``, drawn (fixed seed) from real browser and client spellings of the
   two fields, through the WSGI driver on a ``MemoryStore``, options off and on; the
   figures are the view's calls, the hit ratio and the entries stored.
2. Cost: microseconds per ``policy.plan`` of one request carrying both fields, off and
   on (best of several rounds, so load on the machine mostly does not show).
"""

from __future__ import annotations

import io
import random
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from routecache import MemoryStore, Rule
from routecache.middleware.config import CacheConfig
from routecache.middleware.policy import RequestFacts
from routecache.middleware.wsgi import CacheMiddleware

ENCODINGS = [
    "gzip, deflate, br, zstd",  # Chrome, Edge
    "gzip, deflate, br",  # Firefox, older Chrome
    "gzip, deflate, br, zstd",
    "br, gzip, deflate",  # Safari
    "gzip, deflate",  # curl --compressed (older), python-requests
    "gzip",  # bots
    "br;q=1.0, gzip;q=0.8, *;q=0.1",
    "gzip,deflate",
    "identity",
    "deflate, gzip",
    "*",
]
LANGUAGES = [
    "en-US,en;q=0.9",
    "en-GB,en;q=0.9",
    "en-GB,en-US;q=0.9,en;q=0.8",
    "en-US,en;q=0.5",
    "en",
    "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
    "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5",
    "fr",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "de-CH,de;q=0.9",
    "de",
    "es-ES,es;q=0.9",
    "ja,en-US;q=0.9,en;q=0.8",
    "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7",
]
OPTIONS = {
    "normalize_accept_encoding": ["br", "gzip"],
    "normalize_accept_language": ["en", "fr", "de"],
}
REQUESTS = 20_000
ROUNDS = 7
PLANS = 20_000


def _page(counter: list[int]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        counter[0] += 1
        body = f"{environ.get('HTTP_ACCEPT_ENCODING')}|{environ.get('HTTP_ACCEPT_LANGUAGE')}"
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Vary", "Accept-Encoding, Accept-Language"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body.encode()]

    return app


def _environ(encoding: str, language: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/page",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "HTTP_ACCEPT_ENCODING": encoding,
        "HTTP_ACCEPT_LANGUAGE": language,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }


def hit_ratio(requests: int, **options: Any) -> tuple[int, float, int]:
    """The view's calls, the hit ratio and the entries stored for ``requests`` of the mix."""
    rng = random.Random(13)
    calls = [0]
    store = MemoryStore()
    app = CacheMiddleware(_page(calls), store=store, rules=[Rule("/page", ttl=600)], **options)
    for _ in range(requests):
        environ = _environ(rng.choice(ENCODINGS), rng.choice(LANGUAGES))
        body = app(environ, lambda status, headers, exc_info=None: lambda data: None)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
    entries = store.stats()["entries"]
    return calls[0], 1 - calls[0] / requests, int(entries)


def plan_cost(**options: Any) -> float:
    """Microseconds per ``policy.plan`` (best of ``ROUNDS``)."""
    policy = CacheConfig(rules=[Rule("/page", ttl=600)], **options).policy
    headers = {"host": "bench", "accept-encoding": ENCODINGS[0], "accept-language": LANGUAGES[2]}
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(PLANS):
            policy.plan(
                RequestFacts(
                    method="GET",
                    scheme="http",
                    host="bench",
                    path="/page",
                    query=b"",
                    headers=headers,
                )
            )
        best = min(best, (time.perf_counter() - start) / PLANS * 1e6)
    return best


def main() -> None:
    """Print both figures, options off and on."""
    for label, options in (("off", {}), ("on", OPTIONS)):
        for requests in (REQUESTS // 100, REQUESTS):
            calls, ratio, entries = hit_ratio(requests, **options)
            print(
                f"{label:>3}: view calls {calls:>5} / {requests:>5}, hit ratio {ratio:6.1%}, "
                f"entries {entries:>3}"
            )
        print(f"{label:>3}: policy.plan() {plan_cost(**options):.2f} us")


if __name__ == "__main__":
    main()
