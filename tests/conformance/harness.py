"""The conformance harness: one scripted origin, served by every adapter.

A test describes what the origin answers (:class:`Origin`, :class:`Reply`), builds a
client through an adapter binding (``adapter.client(origin, store=..., rules=...)``),
sends requests and asserts on the :class:`Resp` it gets back: status, headers byte
for byte, body, and how often the origin ran. Every binding (Starlette, FastAPI,
Flask, Django sync, Django async) serves the same catch-all route that hands each
request to the origin, so the very same cases run through each of them.

Bindings register themselves in :data:`ADAPTERS` (see ``bindings/``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


@dataclass
class Seen:
    """A request as the origin (the app's view) received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Reply:
    """What the origin answers.

    ``body`` as a list of chunks is sent as a streaming response. ``error=True``
    makes the view raise before answering; ``delay`` sleeps first (a slow view).
    ``fail_after=n`` (streaming bodies only) makes the body iterator raise after its
    first ``n`` chunks went out: a response that fails half-way (bindings get this
    for free by iterating :func:`body_chunks`).
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | list[bytes] = b""
    error: bool = False
    delay: float = 0.0
    fail_after: int | None = None


Handler = Callable[[Seen], Reply]


class Origin:
    """The application behind the cache: a handler per path; counts every call."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.calls: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def on(self, path: str, reply: Reply | Handler) -> None:
        """Answer requests for ``path`` (exact, without query) with ``reply``."""
        self.handlers[path] = reply if callable(reply) else (lambda _seen, r=reply: r)

    def __call__(self, seen: Seen) -> Reply:
        with self._lock:
            self.calls[seen.path] += 1
            self.seen.append(seen)
        handler = self.handlers.get(seen.path)
        if handler is None:
            return Reply(404, [("content-type", "text/plain")], b"no route")
        return handler(seen)

    def count(self, path: str) -> int:
        """How often the origin ran for ``path``."""
        return self.calls[path]


@dataclass
class Resp:
    """A response as the client received it (header names lower-cased, in order)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of ``name``, or ``None``."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def all(self, name: str) -> list[str]:
        """Every value of ``name``."""
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def cache_status(self) -> str:
        """The ``Cache-Status`` field ('' when absent)."""
        return self.header("cache-status") or ""

    @property
    def hit(self) -> bool:
        """True when routecache served the response from its store."""
        return "; hit" in self.cache_status


class Client(Protocol):
    """What a binding returns: something that sends requests to the cached app."""

    def request(
        self, method: str, target: str, headers: HeaderInput = None, body: bytes = b""
    ) -> Resp: ...

    def close(self) -> None: ...


class Adapter(Protocol):
    """A framework binding."""

    name: str

    def client(self, origin: Origin, **cache_options: Any) -> Client: ...


ADAPTERS: dict[str, Callable[[], Adapter]] = {}


def register(name: str) -> Callable[[Callable[[], Adapter]], Callable[[], Adapter]]:
    """Class decorator registering an adapter binding under ``name``."""

    def deco(factory: Callable[[], Adapter]) -> Callable[[], Adapter]:
        ADAPTERS[name] = factory
        return factory

    return deco


def header_pairs(headers: HeaderInput) -> list[tuple[str, str]]:
    """Normalise the ``headers`` argument of ``request`` into (name, value) pairs."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(k, v) for k, v in headers.items()]
    return list(headers)


def reply_headers(reply: Reply) -> list[tuple[str, str]]:
    """The reply's headers, with a default content type when none is given."""
    headers = list(reply.headers)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "text/plain; charset=utf-8"))
    return headers


class FailingChunks(list[bytes]):
    """Chunks whose iteration raises after ``fail_after`` of them (``Reply.fail_after``)."""

    def __init__(self, chunks: Iterable[bytes], fail_after: int) -> None:
        super().__init__(chunks)
        self.fail_after = fail_after

    def __iter__(self) -> Iterator[bytes]:
        return self._failing()

    def _failing(self) -> Iterator[bytes]:
        for sent, chunk in enumerate(list.__iter__(self)):
            if sent >= self.fail_after:
                break
            yield chunk
        raise RuntimeError("the origin failed while streaming its body")


def body_chunks(reply: Reply) -> list[bytes]:
    """The reply's body as a list of chunks (iterating it raises when the reply says
    ``fail_after``)."""
    if not isinstance(reply.body, list):
        return [reply.body]
    if reply.fail_after is not None:
        return FailingChunks(reply.body, reply.fail_after)
    return list(reply.body)


# -- ASGI --------------------------------------------------------------------------


class ASGIClient:
    """Sends requests to an ASGI app on one persistent event loop (in a thread), so
    connection pools bound to a loop (redis.asyncio) keep working across requests."""

    def __init__(self, app: Any, *, host: str = "testserver", store: Any = None) -> None:
        self.app = app
        self.host = host
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.errors: list[BaseException] = []

    def run(self, coro: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(
        self, method: str, target: str, headers: HeaderInput = None, body: bytes = b""
    ) -> Resp:
        return self.run(self.arequest(method, target, headers, body))

    async def arequest(
        self, method: str, target: str, headers: HeaderInput = None, body: bytes = b""
    ) -> Resp:
        """Send one request (usable concurrently from the client's loop)."""
        parts = urlsplit(target)
        raw_headers = [(b"host", self.host.encode())]
        pairs = header_pairs(headers)
        if any(k.lower() == "host" for k, _ in pairs):
            raw_headers = []
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
        if body:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": unquote(parts.path or "/"),
            "raw_path": (parts.path or "/").encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": (self.host, 80),
            "state": {},
        }
        sent_body = False
        disconnected = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        status = 0
        out_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = [
                    (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.errors.append(exc)
            if status == 0:
                return Resp(500, [], b"")
        finally:
            disconnected.set()
        body_out = b"" if method.upper() == "HEAD" else b"".join(chunks)
        return Resp(status, out_headers, body_out)

    def close(self) -> None:
        store = self.store
        if store is not None and hasattr(store, "as_async"):
            # The asyncio twin's connections live on this loop: close them here.
            self.run(store.as_async().close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def asgi_seen(scope: Mapping[str, Any], receive: Any) -> Seen:
    """The origin's view of an ASGI request (for bindings that need it raw)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers: dict[str, str] = {}
    for k, v in scope["headers"]:
        headers[bytes(k).decode("latin-1").lower()] = bytes(v).decode("latin-1")
    return Seen(
        scope["method"],
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
        headers,
        body,
    )


# -- WSGI --------------------------------------------------------------------------


class WSGIClient:
    """Sends requests to a WSGI app through werkzeug's ``LintMiddleware`` (PEP 3333
    checks), consuming and closing the response iterable like a server does."""

    def __init__(self, app: Any, *, host: str = "testserver", lint: bool = True) -> None:
        from werkzeug.middleware.lint import LintMiddleware

        self.app = LintMiddleware(app) if lint else app
        #: HEAD goes around the lint: it wants Content-Length to equal the bytes sent,
        #: but a HEAD answer carries the GET's Content-Length and no body (RFC 9110 §9.3.2).
        self.head_app = app
        self.host = host
        self.errors: list[BaseException] = []

    def request(
        self, method: str, target: str, headers: HeaderInput = None, body: bytes = b""
    ) -> Resp:
        from werkzeug.test import EnvironBuilder

        parts = urlsplit(target)
        pairs = header_pairs(headers)
        builder = EnvironBuilder(
            path=unquote(parts.path or "/"),
            query_string=parts.query,
            method=method.upper(),
            headers=pairs,
            data=body or None,
            base_url=f"http://{self.host}/",
        )
        environ = builder.get_environ()
        builder.close()
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"] = int(status[:3])
            captured["headers"] = [(k.lower(), v) for k, v in headers]
            return lambda data: captured.setdefault("written", []).append(data)

        app = self.head_app if method.upper() == "HEAD" else self.app
        try:
            result = app(environ, start_response)
        except Exception as exc:
            self.errors.append(exc)
            return Resp(500, [], b"")
        chunks: list[bytes] = []
        try:
            for chunk in result:
                chunks.append(chunk)
        except Exception as exc:
            self.errors.append(exc)
            if "status" not in captured:
                return Resp(500, [], b"")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        written = b"".join(captured.get("written", []))
        body_out = b"" if method.upper() == "HEAD" else written + b"".join(chunks)
        return Resp(captured.get("status", 500), captured.get("headers", []), body_out)

    def close(self) -> None:
        pass


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
