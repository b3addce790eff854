"""The one-minute demo: the Starlette example served over real HTTP on loopback.

It starts ``examples/starlette_app.py`` under uvicorn on a free port with the
embedded MemoryStore (no Redis needed), asks for the same URL twice, changes the
record with a PUT, and asks again, printing each answer's latency and Cache-Status.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("REDIS_URL", None)  # the demo runs on the embedded default

import uvicorn
from starlette_app import app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(method: str, url: str, data: bytes | None = None) -> None:
    request = urllib.request.Request(url, data=data, method=method)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        status = response.status
        cache_status = response.headers.get("Cache-Status", "-")
        age = response.headers.get("Age")
    elapsed = (time.perf_counter() - started) * 1000
    print(
        f"{method:<4} {urlsplit(url).path:<8} {status}  {elapsed:7.1f} ms  "
        f"Cache-Status: {cache_status}{f'  Age: {age}' if age else ''}"
    )
    del body


def main() -> None:
    """Serve the example app on a free loopback port and show a miss and a hit."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the demo server did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    print(f"routecache demo: examples/starlette_app.py on {base}, MemoryStore\n")
    _call("GET", f"{base}/data/1")  # miss: the view sleeps 500 ms
    _call("GET", f"{base}/data/1")  # hit: answered from the cache
    _call("PUT", f"{base}/data/1", b"changed")  # invalidates /data/1
    _call("GET", f"{base}/data/1")  # miss again, with the new value
    _call("GET", f"{base}/data/1")  # hit
    server.should_exit = True
    thread.join(5)


if __name__ == "__main__":
    main()
