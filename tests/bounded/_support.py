"""A real uvicorn server in a thread, and a raw HTTP/1.1 client that sees every line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests._redis_servers import free_port


@dataclass
class RawResponse:
    """A response as it came off the wire: status, header lines in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


class RawClient:
    """One keep-alive connection; ``get`` sends a request and reads one response.

    A response whose connection was dropped raises ``ConnectionError``.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def get(self, path: str, headers: dict[str, str] | None = None) -> RawResponse:
        lines = [f"GET {path} HTTP/1.1", "Host: testserver"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parsed = []
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed.append((name.strip().lower(), value.strip()))
        length = int(dict(parsed).get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return RawResponse(int(status_line.split()[1]), parsed, body)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def uvicorn_thread(app: Any, *, lifespan: str = "on") -> Iterator[int]:
    """Serve ``app`` with uvicorn (h11) on a free loopback port; yields the port.

    The app's lifespan shutdown should close its async store: its connections belong
    to the server's event loop."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http="h11", lifespan=lifespan, log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
