"""The pure WSGI driver: response caching for any WSGI application.

Usage::

    from routecache import RedisStore, Rule
    from routecache.middleware.wsgi import CacheMiddleware

    app.wsgi_app = CacheMiddleware(
        app.wsgi_app,
        store=RedisStore("redis://localhost:6379/0"),
        rules=[Rule("/items/{id}", ttl=60)],
    )

It works for Flask (the Flask extension wraps ``app.wsgi_app`` for you), Falcon,
Bottle, Pyramid or a bare WSGI callable, under threaded servers (gunicorn gthread,
waitress). A hit is answered without calling the app; a miss is streamed to the
server while a copy of up to ``max_body_size`` bytes is kept, and stored as soon as
the server asks for more after the last chunk (the app's iterable is exhausted and
every byte was handed over), on ``close()``, or when the server lets go of the body
iterator after taking the last chunk, whichever comes first; ``close()`` is always
propagated. A partial or failed response, or one whose body the server (or a
test client) never read to the end, is never stored. Every decision is the policy's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, Final

from .config import CacheConfig
from .engine_sync import Exchange, Start
from .policy import Action, CachePolicy, HeaderList, RequestFacts, Served, VerdictKind
from .refresh import refresh_environ
from .tee import BodyTee

__all__ = ["CacheMiddleware", "facts_from_environ", "raw_target"]

logger = logging.getLogger("routecache")
refresh_logger = logging.getLogger("routecache.refresh")

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_SERVE_KINDS = (
    VerdictKind.FRESH,
    VerdictKind.REFRESH_AHEAD,
    VerdictKind.STALE_WHILE_REVALIDATE,
)
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
_NOT_HTTP = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})
_CONDITIONAL_KEYS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
)


def status_line(status: int) -> str:
    """``"200 OK"`` for 200 (``"599 Unknown"`` for codes without a phrase)."""
    return _STATUS_LINES.get(status) or f"{status} Unknown"


def _wsgi_path(environ: Environ) -> str:
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    # PEP 3333 strings are latin-1 decoded bytes; ASGI paths are UTF-8: match them.
    return raw.encode("latin-1").decode("utf-8", "surrogateescape") or "/"


def _decoded(text: str) -> str:
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


_ENVIRON_KEYS: dict[str, str] = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def _environ_key(name: str) -> str:
    key = _ENVIRON_KEYS.get(name)
    if key is None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if len(_ENVIRON_KEYS) < 1024:
            _ENVIRON_KEYS[name] = key
    return key


class EnvironHeaders(Mapping[str, str]):
    """The request's fields as a read-only mapping of lower-case names, read from the
    environ on access (the policy looks at a handful of fields, not all of them)."""

    __slots__ = ("environ",)

    def __init__(self, environ: Environ) -> None:
        self.environ = environ

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def get(self, name: str, default: Any = None) -> Any:
        key = _environ_key(name)
        value = self.environ.get(key)
        # An empty HTTP_* value is a field sent empty (distinct from absent); servers
        # set CONTENT_TYPE/CONTENT_LENGTH to "" when there is none.
        if value is None or (not value and not key.startswith("HTTP_")):
            return default
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        for key, value in self.environ.items():
            if key.startswith("HTTP_") and key not in _NOT_HTTP:
                yield key[5:].replace("_", "-").lower()
            elif key == "CONTENT_TYPE" and value:
                yield "content-type"
            elif key == "CONTENT_LENGTH" and value:
                yield "content-length"

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: The headers werkzeug's ``ProxyFix`` turns into the environ's host, scheme, port and
#: prefix; when it ran (outside the cache), the key includes them.
_PROXY_FIX_HEADERS: Final = frozenset(
    {
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
    }
)


def raw_target(environ: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The raw path of the request target (through the ``?`` when there is one) from
    ``RAW_URI``/``REQUEST_URI``, and why the request is unkeyable (``raw-target``)
    when they disagree with each other or their query with ``QUERY_STRING``. ``(None, None)``
    when the server exposes no raw target (the app sees only the decoded path)."""
    raw = environ.get("RAW_URI")
    uri = environ.get("REQUEST_URI")
    if raw is None:
        raw = uri
    elif uri is not None and uri != raw:
        return None, "raw-target"
    if raw is None:
        return None, None
    if not isinstance(raw, str):
        return None, "raw-target"
    path, sep, query = raw.partition("?")
    # Without a "?" the URI holds no query (werkzeug's test EnvironBuilder); the app
    # then sees the query in QUERY_STRING only, which is keyed.
    if sep and query != environ.get("QUERY_STRING", ""):
        return None, "raw-target"
    try:
        return (path + sep).encode("latin-1"), None
    except UnicodeEncodeError:  # not a PEP 3333 string
        return None, "raw-target"


def facts_from_environ(environ: Environ) -> RequestFacts:
    """The policy's view of a WSGI environ: the decoded ``SCRIPT_NAME`` and
    ``PATH_INFO`` the app routes on, and the raw target the server received."""
    headers = EnvironHeaders(environ)
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    )
    raw_path, unkeyable = raw_target(environ)
    script = environ.get("SCRIPT_NAME", "")
    return RequestFacts(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=host,
        path=_wsgi_path(environ),
        query=environ.get("QUERY_STRING", "").encode("latin-1"),
        headers=headers,
        has_body=(bool(length) and length != "0") or "HTTP_TRANSFER_ENCODING" in environ,
        raw_path=raw_path,
        prefix=_decoded(script) if script else "",
        trusted=_PROXY_FIX_HEADERS if "werkzeug.proxy_fix.orig" in environ else frozenset(),
        unkeyable=unkeyable,
    )


def _native(headers: HeaderList) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


def _served_iterable(start_response: StartResponse, served: Served) -> list[bytes]:
    start_response(status_line(served.status), _native(served.headers))
    return [served.body] if served.body else []


class _Forwarded:
    """The iterable returned for a forwarded request: relays the app's body, keeps a
    bounded copy while the policy wants it, and finishes the exchange (stores the copy,
    wakes the requests waiting on this one) once the body was handed over to the end,
    or on ``close()``: servers and test clients that never call ``close()`` (Flask's
    ``app.test_client()`` without ``with``) still store a body they read in full.

    The real ``start_response`` is called when the first chunk is ready (PEP 3333
    allows it), so an ETag can be added when that chunk is the whole body.
    """

    def __init__(self, exchange: Exchange, start_response: StartResponse) -> None:
        self.exchange = exchange
        self.real_start = start_response
        self.app_iter: Iterable[bytes] | None = None
        self.start: Start | None = None
        self.status = ""
        self.native_headers: list[tuple[str, str]] = []
        self.sent_headers = False
        self.tee = BodyTee(False, 0)
        self.complete = False
        self.closed = False
        self.finished = False
        self.real_write: Callable[[bytes], object] | None = None

    # -- start_response given to the app ---------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and self.sent_headers:
            raise exc_info[1].with_traceback(exc_info[2])
        code = int(status[:3])
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if self.start is not None:
            # A second call (an error page replacing the first answer): relay, keep nothing.
            policy = self.exchange.engine.policy
            member = policy.forward_member("bypass", "error")
            self.tee.stop()
            self.status, self.native_headers = (
                status,
                _native(policy.forwarded_headers(raw, member)),
            )
            return self.write
        self.start = start = self.exchange.start(code, raw)
        if start.served is not None:
            self.status = status_line(start.served.status)
            self.native_headers = _native(start.served.headers)
            return self.write
        self.tee = BodyTee(start.keep, start.limit)
        self.status = status
        self.native_headers = _native(start.headers)
        return self.write

    def write(self, data: bytes) -> object:
        """The legacy ``write()`` callable: sends at once and stops keeping a copy."""
        self.tee.stop()
        self._send_headers(None)
        assert self.real_write is not None
        return self.real_write(data)

    def _send_headers(self, whole_body: bytes | None) -> None:
        if self.sent_headers:
            return
        self.sent_headers = True
        headers = self.native_headers
        if whole_body is not None and self.tee.keep:
            etag = self.exchange.etag_for(whole_body)
            if etag is not None:
                headers = [*headers, ("etag", etag.decode("latin-1"))]
        self.real_write = self.real_start(self.status, headers)

    # -- the iterable given to the server --------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._relay()
        finally:
            # Exhausted, closed, or dropped by a consumer that never read to the end (a
            # test client's response let go): finish once, so that the requests waiting
            # on this one are woken, and a complete body is stored.
            self._finish()

    def _relay(self) -> Iterator[bytes]:
        assert self.app_iter is not None
        iterator = iter(self.app_iter)
        sentinel: Any = object()
        # start_response has been called once the first chunk exists (PEP 3333).
        current: Any = next(iterator, sentinel)
        start = self.start
        if start is None:
            raise RuntimeError("the WSGI application did not call start_response")
        if start.served is not None:
            self._send_headers(None)
            if start.served.body:
                yield start.served.body
            return
        if not self.tee.keep:
            self._send_headers(None)
            if current is not sentinel:
                yield current
                yield from iterator
            return
        if current is sentinel:
            self._send_headers(b"")
            self.complete = True
            return
        # One chunk of look-ahead tells whether the current chunk is the last one.
        while True:
            following: Any = next(iterator, sentinel)
            last = following is sentinel
            self._send_headers(current if last else None)  # once: the first chunk
            if self.tee.keep and not self.tee.add(current):
                self.exchange.release()  # past the limit: it will not be stored
            # Once the consumer holds the last chunk the body is complete; it is stored
            # when the consumer asks for more (the chunk went out) or lets go of us.
            self.complete = last
            yield current
            if last:
                return
            current = following

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.exchange.finish(self.tee.body(self.complete))

    def close(self) -> None:
        """Close the app's iterable, then finish the exchange if the end of the body
        has not already done it (a body not relayed to its last chunk is not stored)."""
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.app_iter, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class _AfterClose:
    """Wraps a hit's body so a background refresh runs after the response went out:
    when the server asks for more after the body, on ``close()``, or when the server
    lets go of the body (a test client that never closes), whichever comes first."""

    def __init__(self, body: list[bytes], task: Callable[[], None]) -> None:
        self.body = body
        self.task: Callable[[], None] | None = task

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        finally:
            self.close()

    def close(self) -> None:
        task, self.task = self.task, None
        if task is None:
            return
        try:
            task()
        except Exception:
            refresh_logger.warning("routecache: background refresh failed", exc_info=True)


class CacheMiddleware:
    """Response caching for a WSGI app (see the module docstring).

    Takes ``app`` plus the options of
    :class:`~routecache.middleware.config.CacheConfig`: ``store``, ``rules``,
    ``honor_cache_control``, ``honor_request_cache_control``, ``default_ttl``...
    An ``AsyncRedisStore`` built from a URL is swapped for its sync twin.
    """

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        self.app = app
        self.config = CacheConfig.for_driver(type(self).__name__, options)
        self.policy: CachePolicy = self.config.policy
        self.engine = self.config.sync_engine()

    @property
    def store(self) -> Any:
        """The store the engine uses (the one configured, or a test's)."""
        return self.engine.store

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            plan = self.policy.plan(facts_from_environ(environ))
        except Exception:
            logger.exception("routecache: could not plan the request; passing it through")
            return self.app(environ, start_response)
        action = plan.action
        if action == Action.PASS:
            return self.app(environ, start_response)
        if action == Action.BYPASS:
            member = self.engine.bypass_member(plan)
            return self.app(environ, self._tagging(start_response, member))
        if action == Action.INVALIDATE:
            return self._forward(environ, start_response, self.engine.exchange(plan))
        if plan.rewrites:
            environ = _with_fields(environ, plan.rewrites)
        verdict = self.engine.lookup(plan)
        kind = verdict.kind
        if kind in _SERVE_KINDS:
            body = _served_iterable(start_response, self.engine.serve(plan, verdict))
            if kind == VerdictKind.FRESH:
                return body
            return _AfterClose(body, lambda: self._refresh(environ, plan, verdict))
        if kind == VerdictKind.GATEWAY_TIMEOUT:
            return _served_iterable(start_response, self.engine.gateway_timeout(plan))
        return self._forward(environ, start_response, self.engine.exchange(plan, verdict))

    def _tagging(self, start_response: StartResponse, member: bytes) -> StartResponse:
        policy = self.policy

        def tagged(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            return start_response(status, _native(policy.forwarded_headers(raw, member)), exc_info)

        return tagged

    def _forward(
        self, environ: Environ, start_response: StartResponse, exchange: Exchange
    ) -> Iterable[bytes]:
        conditional = exchange.request_headers([])
        if conditional is not None:
            environ = _with_conditionals(environ, conditional)
        forwarded = _Forwarded(exchange, start_response)
        try:
            forwarded.app_iter = self.app(environ, forwarded.start_response)
        except Exception:
            served = exchange.fail() if not forwarded.sent_headers else None
            exchange.finish(None)
            if served is not None:
                return _served_iterable(start_response, served)
            raise
        return forwarded

    def _refresh(self, environ: Environ, plan: Any, verdict: Any) -> None:
        exchange = self.engine.refresh(plan, verdict)
        if exchange is None:
            return
        # An anonymous request from the key's facts: nothing the server or an outer
        # middleware put in ``environ`` for this user (REMOTE_USER, sessions) goes along.
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in exchange.plan.facts.headers.items()
        ]
        sub = refresh_environ(environ, headers)
        conditional = exchange.request_headers([])
        if conditional is not None:
            sub = _with_conditionals(sub, conditional)
        forwarded = _Forwarded(exchange, _discard_start)
        try:
            forwarded.app_iter = self.app(sub, forwarded.start_response)
        except Exception:
            exchange.finish(None)
            raise
        try:
            for _ in forwarded:
                pass
        finally:
            forwarded.close()


def _discard_start(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], object]:
    return lambda data: None


def _with_fields(environ: Environ, fields: tuple[tuple[bytes, bytes], ...]) -> Environ:
    """A copy of ``environ`` with ``fields`` in place of the client's (normalised)."""
    out = dict(environ)
    for name, value in fields:
        out[_environ_key(name.decode("latin-1"))] = value.decode("latin-1")
    return out


def _with_conditionals(environ: Environ, conditional: HeaderList) -> Environ:
    """A copy of ``environ`` whose conditional fields are the engine's validators."""
    out = {k: v for k, v in environ.items() if k not in _CONDITIONAL_KEYS}
    for name, value in conditional:
        out["HTTP_" + name.decode("latin-1").upper().replace("-", "_")] = value.decode("latin-1")
    return out
