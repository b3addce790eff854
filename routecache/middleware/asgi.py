"""The pure ASGI driver: response caching for any ASGI application.

Usage::

    from routecache import AsyncRedisStore, Rule
    from routecache.middleware.asgi import CacheMiddleware

    app = CacheMiddleware(
        app,
        store=AsyncRedisStore("redis://localhost:6379/0"),
        rules=[Rule("/items/{id}", ttl=60)],
    )

It works for Starlette, FastAPI, Litestar, Quart or a bare ASGI callable (the
Starlette adapter adds ``@cache_route``). A hit is answered without calling the app;
a miss streams the app's response to the client while a copy of up to
``max_body_size`` bytes is kept, and stores it after the last chunk went out.
Non-HTTP scopes (lifespan, WebSocket), and upgrade requests and event streams of safe
methods, pass through untouched. Every decision is the policy's; this module only moves messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import CacheConfig
from .engine_async import Exchange
from .policy import Action, CachePolicy, RequestFacts, Served, VerdictKind
from .refresh import refresh_lines, refresh_scope
from .tee import BodyTee

__all__ = ["CacheMiddleware", "facts_from_scope"]

logger = logging.getLogger("routecache")
refresh_logger = logging.getLogger("routecache.refresh")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SERVE_KINDS = (
    VerdictKind.FRESH,
    VerdictKind.REFRESH_AHEAD,
    VerdictKind.STALE_WHILE_REVALIDATE,
)


def facts_from_scope(scope: Scope) -> RequestFacts:
    """The policy's view of an HTTP scope: every header line (an app reads the first
    line of a repeated field, so the lines are kept apart for the key), the raw path
    and ``root_path`` beside the decoded path."""
    headers: dict[str, str] = {}
    lines: dict[str, list[str]] | None = None
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            if name != "cookie":
                if lines is None:
                    lines = {}
                seen = lines.get(name)
                if seen is None:
                    lines[name] = [headers[name], value]
                else:
                    seen.append(value)
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    length = headers.get("content-length", "").strip()
    raw_path = scope.get("raw_path")
    return RequestFacts(
        method=scope["method"],
        scheme=scope.get("scheme", "http"),
        host=host,
        path=scope.get("path", "/"),
        query=scope.get("query_string", b""),
        headers=headers,
        has_body=bool(length and length != "0") or "transfer-encoding" in headers,
        raw_path=raw_path if type(raw_path) is bytes else None,
        prefix=scope.get("root_path", ""),
        lines=lines,
    )


async def send_served(send: Send, served: Served) -> None:
    """Send a response built from an entry."""
    await send({"type": "http.response.start", "status": served.status, "headers": served.headers})
    await send({"type": "http.response.body", "body": served.body})


class _Relay:
    """Per-request state of a forwarded response: holds the start message until the
    first body chunk decides the headers, tees the body into a bounded buffer."""

    __slots__ = (
        "complete",
        "exchange",
        "held",
        "replaced",
        "send_downstream",
        "start",
        "started",
        "tee",
    )

    def __init__(self, exchange: Exchange, send: Send) -> None:
        self.exchange = exchange
        self.send_downstream = send
        self.start: Message | None = None
        self.held = False
        self.started = False
        self.replaced = False
        self.complete = False
        self.tee = BodyTee(False, 0)

    def body(self) -> bytes | None:
        """The whole body if it was kept and completed, else ``None``."""
        return self.tee.body(self.complete and not self.replaced)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body":
            if self.replaced:
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.held:
                await self._release_start(body if not more else None)
            if self.tee.keep and not self.tee.add(body):
                await self.exchange.release()  # past the limit: it will not be stored
            await self.send_downstream(message)
            if not more:
                self.complete = True
        else:
            # Trailers, pathsend and other extensions: pass them on, keep nothing.
            if self.replaced:
                return
            if self.held:
                await self._release_start(None)
            self.tee.stop()
            await self.send_downstream(message)

    async def _on_start(self, message: Message) -> None:
        headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
        start = await self.exchange.start(message["status"], headers)
        if start.served is not None:
            self.replaced = True
            await send_served(self.send_downstream, start.served)
            return
        out = dict(message)
        out["headers"] = start.headers
        self.start = out
        self.tee = BodyTee(start.keep and not message.get("trailers", False), start.limit)
        if self.tee.keep:
            self.held = True  # until the first body chunk: it may be the whole body
        else:
            self.started = True
            await self.send_downstream(out)

    async def _release_start(self, whole_body: bytes | None) -> None:
        self.held = False
        start = self.start
        assert start is not None
        if whole_body is not None:
            etag = self.exchange.etag_for(whole_body)
            if etag is not None:
                start["headers"] = [*start["headers"], (b"etag", etag)]
        self.started = True
        await self.send_downstream(start)


class CacheMiddleware:
    """Response caching for an ASGI app (see the module docstring).

    Takes ``app`` plus the options of
    :class:`~routecache.middleware.config.CacheConfig`: ``store``, ``rules``,
    ``honor_cache_control``, ``honor_request_cache_control``, ``default_ttl``...
    A sync ``RedisStore`` built from a URL is swapped for its asyncio twin.
    """

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app = app
        self.config = CacheConfig.for_driver(type(self).__name__, options)
        self.policy = self.config.policy
        self.engine = self.config.async_engine()
        self._lifespan_state: dict[str, Any] | None = None

    @property
    def store(self) -> Any:
        """The store the engine uses (the one configured, or a test's)."""
        return self.engine.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                # The app's own state (not any request's): background refreshes get it.
                self._lifespan_state = scope.get("state")
            await self.app(scope, receive, send)
            return
        try:
            plan = self.policy.plan(facts_from_scope(scope))
        except Exception:
            logger.exception("routecache: could not plan the request; passing it through")
            await self.app(scope, receive, send)
            return
        action = plan.action
        if action == Action.PASS:
            await self.app(scope, receive, send)
            return
        if action == Action.BYPASS:
            member = self.engine.bypass_member(plan)
            await self.app(scope, receive, _tagging_send(send, member, self.policy))
            return
        if action == Action.INVALIDATE:
            await self._forward(scope, receive, send, self.engine.exchange(plan))
            return
        if plan.rewrites:
            scope = _rewritten(scope, plan.rewrites)
        verdict = await self.engine.lookup(plan)
        kind = verdict.kind
        if kind in _SERVE_KINDS:
            await send_served(send, self.engine.serve(plan, verdict))
            if kind != VerdictKind.FRESH:
                refresh = await self.engine.refresh(plan, verdict)
                if refresh is not None:
                    await self._refresh(scope, refresh)
            return
        if kind == VerdictKind.GATEWAY_TIMEOUT:
            await send_served(send, self.engine.gateway_timeout(plan))
            return
        await self._forward(scope, receive, send, self.engine.exchange(plan, verdict))

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange
    ) -> None:
        headers = exchange.request_headers([(bytes(k), bytes(v)) for k, v in scope["headers"]])
        if headers is not None:
            scope = dict(scope)
            scope["headers"] = headers
        relay = _Relay(exchange, send)
        try:
            await self.app(scope, receive, relay.send)
        except Exception:
            if not relay.started and not relay.replaced:
                served = await exchange.fail()
                if served is not None:
                    await exchange.finish(None)
                    await send_served(send, served)
                    return
            await exchange.finish(None)
            raise
        except BaseException:
            await exchange.finish(None)
            raise
        await exchange.finish(relay.body())

    async def _refresh(self, scope: Scope, exchange: Exchange) -> None:
        """Call the app for a background refresh; its response goes to the store only.

        The refresh is an anonymous request built from the key's facts: nothing the
        server or an outer middleware put in ``scope`` for this user goes along.
        """
        facts = exchange.plan.facts
        headers = refresh_lines(scope["headers"], facts.headers)
        sub = refresh_scope(
            scope, exchange.request_headers(headers) or headers, facts.query, self._lifespan_state
        )
        relay = _Relay(exchange, _discard)
        sent_body = False

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        try:
            await self.app(sub, receive, relay.send)
        except Exception:
            refresh_logger.warning(
                "routecache: background refresh of %s failed", facts.path, exc_info=True
            )
            await exchange.finish(None)
            return
        await exchange.finish(relay.body())


def _rewritten(scope: Scope, fields: tuple[tuple[bytes, bytes], ...]) -> Scope:
    """A copy of ``scope`` whose ``fields`` replace every line of those names."""
    names = {name for name, _ in fields}
    out = dict(scope)
    kept = [(k, v) for k, v in scope["headers"] if bytes(k).lower() not in names]
    out["headers"] = [*kept, *fields]
    return out


async def _discard(message: Message) -> None:
    return None


def _tagging_send(send: Send, member: bytes, policy: CachePolicy) -> Send:
    """Wrap ``send`` to add ``Cache-Status`` (and strip the tag header) on the start."""

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
            message["headers"] = policy.forwarded_headers(headers, member)
        await send(message)

    return tagged
