"""Response caching middleware for Django, sync and async.

Install it near the top of ``MIDDLEWARE``, below ``SecurityMiddleware`` and above
everything that can mark a response as personal::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "routecache.adapters.django.CacheMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        ...
    ]
    INSTALLED_APPS = [..., "routecache.adapters.django"]   # checks, manage.py routecache
    ROUTECACHE = {
        "REDIS_URL": "redis://localhost:6379/0",   # unset: in-process MemoryStore
        "RULES": [{"path": "/items/<int:pk>", "ttl": 60}],
    }

Why there: responses travel up the list. ``SessionMiddleware`` adds ``Vary: Cookie``
when the view touched the session and ``Set-Cookie`` when it changed it;
``CsrfViewMiddleware`` sets its cookie; ``LocaleMiddleware`` adds ``Vary:
Accept-Language``; ``AuthenticationMiddleware`` reads the session. Placed above
them, this middleware sees those marks before it stores anything, and a hit skips
them (and the view) entirely. Placed below them it would store responses before
they are marked: system check ``routecache.W001`` warns about that. Middleware
above it (``SecurityMiddleware``, ``GZipMiddleware``...) runs on hits too.

What is cached: ``GET`` (and ``HEAD``, answered from the ``GET`` entry) of paths a
rule covers (``ROUTECACHE["RULES"]`` first, then ``@cache_route`` views), with the
statuses the rule allows, when the response is complete (``HttpResponse``, or a
``StreamingHttpResponse`` up to ``max_body_size``). What is not: requests with
``Authorization`` or non-analytics cookies (unless the rule says so), responses with
``Set-Cookie``, ``Cache-Control: private``/``no-store``, ``Vary: *``,
``max-age=0`` (``never_cache``), ``FileResponse`` (streamed straight from the
file). Every response says why in ``Cache-Status``. Successful ``POST``/``PUT``/
``PATCH``/``DELETE`` requests invalidate their path before their answer goes out.

The middleware is sync- and async-capable: under WSGI it calls the sync engine
(``RedisStore``), under ASGI the async one (``AsyncRedisStore`` on the same URL), with
no thread hop of its own. A response is stored after it went out (write-behind),
from ``response.close()``, which every server calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from typing import Any, Final, Protocol, cast

from asgiref.sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse

from ...middleware import engine_async, engine_sync
from ...middleware.policy import Action, CachePolicy, RequestPlan, Verdict, VerdictKind
from ...middleware.tee import BodyTee
from . import conf
from ._http import (
    ServedResponse,
    apply_headers,
    close_quietly,
    facts_from_request,
    refresh_request,
    response_headers,
    rewrite_fields,
    swapped_conditionals,
)

__all__ = ["CacheMiddleware", "plan_request"]

logger = logging.getLogger("routecache")
store_logger = logging.getLogger("routecache.store")

_SERVE_KINDS: Final = (
    VerdictKind.FRESH,
    VerdictKind.REFRESH_AHEAD,
    VerdictKind.STALE_WHILE_REVALIDATE,
)
#: Longest a ``close()`` thread waits for work it handed to the event loop.
HANDOFF_TIMEOUT: Final = 30.0

SyncGetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]

_background: set[Any] = set()


def _keep_referenced(task: Any) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


def run_on_loop(
    loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run ``work()`` on ``loop`` from sync code: as a (referenced) task when called on
    the loop itself, else handed over and waited for (``HANDOFF_TIMEOUT``), which is
    the case in ``response.close()``: Django's ASGI handler calls it in a thread."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _keep_referenced(loop.create_task(_logged(work, what)))
        return
    if loop.is_closed() or not loop.is_running():
        logger.warning("routecache: the event loop is gone; %s skipped", what)
        return
    future: Future[None] = asyncio.run_coroutine_threadsafe(_logged(work, what), loop)
    try:
        future.result(HANDOFF_TIMEOUT)
    except TimeoutError:
        _keep_referenced(future)
        logger.warning("routecache: %s still running after %ss", what, HANDOFF_TIMEOUT)


def start_on_loop(
    loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[None]], what: str
) -> None:
    """Start ``work()`` on ``loop`` as a (referenced) background task and return at once,
    from the loop or from any thread; its sync calls get a thread of their own
    (``_own_sync_thread``). For work that must not hold up ``response.close()``."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None

    def spawn() -> None:
        _keep_referenced(loop.create_task(_logged(partial(_own_sync_thread, work), what)))

    if running is loop:
        spawn()
        return
    if loop.is_closed() or not loop.is_running():
        logger.warning("routecache: the event loop is gone; %s skipped", what)
        return
    try:
        # The task starts from a copy of this thread's context (contextvars included).
        loop.call_soon_threadsafe(spawn)
    except RuntimeError:  # closed in between
        logger.warning("routecache: the event loop is gone; %s skipped", what)


async def _own_sync_thread(work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()`` with a thread-sensitive executor of its own.

    Under Django's ``ASGIHandler`` every ``sync_to_async(thread_sensitive=True)`` call
    of a request (sync views, sync middleware, ``response.close()``) goes to one
    executor thread per request, chosen by a context variable that a background task
    inherits. A refresh started from ``close()`` would queue its sync view behind the
    ``close()`` that started it, and, once the request is over, on an executor that
    has been shut down. ``ThreadSensitiveContext()`` cannot help: only the outermost
    one takes effect, so the variable is set here, as asgiref's own context does.
    """
    own = ThreadSensitiveContext()
    token = SyncToAsync.thread_sensitive_context.set(own)
    try:
        await work()
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
        executor = SyncToAsync.context_to_thread_executor.pop(own, None)
        if executor is not None:
            # Its thread ends here: close the database connections the sync code
            # opened in it (request_finished, which would, is the request's).
            executor.submit(connections.close_all)
            executor.shutdown(wait=False)


def _asgi_loop(request: HttpRequest) -> asyncio.AbstractEventLoop | None:
    """The server's event loop when the sync middleware serves an ASGI request (Django
    runs it in a ``sync_to_async`` thread, which knows its loop), else ``None``."""
    if not isinstance(request, ASGIRequest):
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running():
        return loop
    return None


async def _logged(work: Callable[[], Awaitable[None]], what: str) -> None:
    try:
        await work()
    except Exception:
        logger.warning("routecache: %s failed", what, exc_info=True)


# -- finishing an exchange exactly once, from sync or async code --------------------


class _Finisher(Protocol):
    def close(self, body: bytes | None) -> None: ...

    async def aclose(self, body: bytes | None) -> None: ...

    def release(self) -> None: ...

    async def arelease(self) -> None: ...


class _SyncFinish:
    """``exchange.finish`` of the sync engine, once."""

    __slots__ = ("done", "exchange")

    def __init__(self, exchange: engine_sync.Exchange) -> None:
        self.exchange = exchange
        self.done = False

    def close(self, body: bytes | None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.exchange.finish(body)
        except Exception:
            store_logger.warning("routecache: storing the response failed", exc_info=True)

    async def aclose(self, body: bytes | None) -> None:
        # An async body under WSGI: Django consumes it on a loop of its own.
        self.close(body)

    def release(self) -> None:
        """The body outgrew the limit: wake the requests waiting on this fetch now."""
        self.exchange.release()

    async def arelease(self) -> None:
        self.release()


class _AsyncFinish:
    """``exchange.finish`` of the async engine, once, on the request's event loop."""

    __slots__ = ("done", "exchange", "loop")

    def __init__(self, exchange: engine_async.Exchange, loop: asyncio.AbstractEventLoop) -> None:
        self.exchange = exchange
        self.loop = loop
        self.done = False

    def close(self, body: bytes | None) -> None:
        if self.done:
            return
        self.done = True
        run_on_loop(self.loop, lambda: self.exchange.finish(body), "storing the response")

    async def aclose(self, body: bytes | None) -> None:
        if self.done:
            return
        self.done = True
        await _logged(lambda: self.exchange.finish(body), "storing the response")

    def release(self) -> None:
        """The body outgrew the limit: wake the requests waiting on this fetch now."""
        run_on_loop(self.loop, self.exchange.release, "waking the waiting requests")

    async def arelease(self) -> None:
        await _logged(self.exchange.release, "waking the waiting requests")


# -- the body: kept while the engine wants it, up to its limit ----------------------


def _tee_sync(content: Iterable[bytes], tee: BodyTee, finisher: _Finisher) -> Iterator[bytes]:
    complete = False
    try:
        for chunk in content:
            if tee.keep and not tee.add(chunk):
                finisher.release()  # past the limit: it will not be stored
            yield chunk
        complete = True
    finally:
        finisher.close(tee.body(complete))


async def _tee_async(
    content: AsyncIterable[bytes], tee: BodyTee, finisher: _Finisher
) -> AsyncIterator[bytes]:
    complete = False
    try:
        async for chunk in content:
            if tee.keep and not tee.add(chunk):
                await finisher.arelease()  # past the limit: it will not be stored
            yield chunk
        complete = True
    finally:
        await finisher.aclose(tee.body(complete))


def _on_close(response: HttpResponseBase, closer: Callable[[], object]) -> None:
    """Run ``closer`` from ``response.close()``, after the response went out."""
    response._resource_closers.append(closer)  # type: ignore[attr-defined]


def _framed(status: int) -> bool:
    """Whether a response of ``status`` carries a Content-Length (RFC 9110 §8.6)."""
    return status >= 200 and status not in (204, 304)


def _frame(response: HttpResponseBase) -> None:
    """Give a complete response its ``Content-Length`` before the engine sees it.

    Django leaves framing to the server; a hit carries the length, so does the miss,
    and the engine knows up front when the body is too large to keep.
    """
    if (
        not isinstance(response, StreamingHttpResponse)
        and getattr(response, "is_rendered", True)
        and "Content-Length" not in response.headers
        and _framed(response.status_code)
    ):
        response.headers["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]


def _file_headers(
    response: HttpResponseBase, plan: RequestPlan, verdict: Verdict, policy: CachePolicy
) -> bool:
    """A ``FileResponse`` to a lookup goes out as it is, unstored: tag it and say so."""
    if not isinstance(response, FileResponse) or plan.action != Action.LOOKUP:
        return False
    member = policy.forward_member(verdict.fwd or "uri-miss", "file")
    apply_headers(response, policy.forwarded_headers(response_headers(response), member))
    return True


def _complete(
    response: HttpResponseBase,
    start: engine_sync.Start | engine_async.Start,
    etag_for: Callable[[bytes], bytes | None],
    finisher: _Finisher,
) -> HttpResponseBase:
    """Send what ``start`` says; arrange for the exchange to finish after it went out."""
    if start.served is not None:
        close_quietly(response)
        response = ServedResponse(start.served)
        _on_close(response, partial(finisher.close, None))
        return response
    apply_headers(response, start.headers)
    if isinstance(response, StreamingHttpResponse):
        tee = BodyTee(start.keep, start.limit)
        if response.is_async:
            response.streaming_content = _tee_async(
                cast(AsyncIterable[bytes], response.streaming_content), tee, finisher
            )
        else:
            response.streaming_content = _tee_sync(
                cast(Iterable[bytes], response.streaming_content), tee, finisher
            )
        # Never iterated (HEAD, a client gone before the body): finish on close.
        _on_close(response, partial(finisher.close, None))
        return response
    body: bytes | None = None
    if not getattr(response, "is_rendered", True):
        _on_close(response, partial(finisher.close, None))
        return response
    content = response.content  # type: ignore[attr-defined]
    if start.keep and len(content) <= start.limit:
        body = bytes(content)
        etag = etag_for(body)
        if etag is not None:
            response.headers["ETag"] = etag.decode("latin-1")
    _on_close(response, partial(finisher.close, body))
    return response


def _drained_body(
    response: HttpResponseBase, start: engine_sync.Start | engine_async.Start
) -> bytes | None:
    """The whole body of a sync (or plain) response to a background refresh."""
    try:
        if start.served is not None or not start.keep or isinstance(response, FileResponse):
            return None
        tee = BodyTee(True, start.limit)
        if isinstance(response, StreamingHttpResponse):
            if response.is_async:
                return None
            for chunk in cast(Iterable[bytes], response.streaming_content):
                tee.add(chunk)
        else:
            tee.add(response.content)  # type: ignore[attr-defined]
        return tee.body(True)
    finally:
        close_quietly(response)


async def _adrained_body(
    response: HttpResponseBase, start: engine_sync.Start | engine_async.Start
) -> bytes | None:
    """The whole body of a response to a background refresh, async bodies included."""
    if (
        isinstance(response, StreamingHttpResponse)
        and response.is_async
        and start.served is None
        and start.keep
    ):
        try:
            tee = BodyTee(True, start.limit)
            async for chunk in cast(AsyncIterable[bytes], response.streaming_content):
                tee.add(chunk)
            return tee.body(True)
        finally:
            close_quietly(response)
    return _drained_body(response, start)


def plan_request(state: conf.State, request: HttpRequest) -> RequestPlan | None:
    """The policy's plan for a Django request (``None``: pass it through untouched).

    The one place a Django request becomes a plan, for the middleware and for the
    front wrappers (``front.py``) alike, so both compute the same key.
    """
    try:
        state.ensure_routes()
        plan = state.policy.plan(facts_from_request(request))
        if plan.rewrites:
            rewrite_fields(request, plan.rewrites)
        return plan
    except Exception:
        logger.exception("routecache: could not plan the request; passing it through")
        return None


class CacheMiddleware:
    """routecache for Django (see the module docstring for where it goes and why).

    Reads the ``ROUTECACHE`` setting (``setting`` names another dict in a subclass,
    to run a second, separately configured cache) when it is used, so
    ``override_settings`` works.
    """

    sync_capable = True
    async_capable = True
    #: The name of the settings dict this middleware reads.
    setting = conf.SETTING

    def __init__(self, get_response: SyncGetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        conf.get_state(self.setting)  # bad settings fail at start-up

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} setting={self.setting!r} async={self.async_mode}>"

    # -- shared -------------------------------------------------------------------

    def _plan(self, state: conf.State, request: HttpRequest) -> RequestPlan | None:
        return plan_request(state, request)

    @staticmethod
    def _tag(response: HttpResponseBase, policy: CachePolicy, member: bytes) -> None:
        apply_headers(response, policy.forwarded_headers(response_headers(response), member))

    # -- sync ---------------------------------------------------------------------

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        get_response = cast(SyncGetResponse, self.get_response)
        state = conf.get_state(self.setting)
        plan = self._plan(state, request)
        if plan is None or plan.action == Action.PASS:
            return get_response(request)
        if plan.action == Action.BYPASS:
            response = get_response(request)
            self._tag(response, state.policy, state.sync_engine().bypass_member(plan))
            return response
        engine = state.sync_engine()
        if plan.action == Action.INVALIDATE:
            return self._forward(request, engine.exchange(plan))
        verdict = engine.lookup(plan)
        kind = verdict.kind
        if kind in _SERVE_KINDS:
            response = ServedResponse(engine.serve(plan, verdict))
            if kind != VerdictKind.FRESH:
                refresh = partial(self._refresh, request, engine, plan, verdict)
                loop = _asgi_loop(request)
                if loop is None:
                    _on_close(response, refresh)
                else:
                    # Under ASGI: in the background, not in close() (see _own_sync_thread).
                    work = sync_to_async(refresh, thread_sensitive=True)
                    _on_close(response, partial(start_on_loop, loop, work, "background refresh"))
            return response
        if kind == VerdictKind.GATEWAY_TIMEOUT:
            return ServedResponse(engine.gateway_timeout(plan))
        return self._forward(request, engine.exchange(plan, verdict))

    def _forward(self, request: HttpRequest, exchange: engine_sync.Exchange) -> HttpResponseBase:
        get_response = cast(SyncGetResponse, self.get_response)
        try:
            with swapped_conditionals(request, exchange.request_headers([])):
                response = get_response(request)
        except Exception:
            served = exchange.fail()
            exchange.finish(None)
            if served is not None:
                return ServedResponse(served)
            raise
        except BaseException:
            exchange.finish(None)
            raise
        finisher = _SyncFinish(exchange)
        if _file_headers(response, exchange.plan, exchange.verdict, exchange.engine.policy):
            _on_close(response, partial(finisher.close, None))
            return response
        _frame(response)
        start = exchange.start(response.status_code, response_headers(response))
        return _complete(response, start, exchange.etag_for, finisher)

    def _refresh(
        self,
        request: HttpRequest,
        engine: engine_sync.SyncEngine,
        plan: RequestPlan,
        verdict: Verdict,
    ) -> None:
        """Refresh a served entry after the hit went out (from ``response.close()``)."""
        try:
            exchange = engine.refresh(plan, verdict)
            if exchange is None:
                return
            body: bytes | None = None
            try:
                sub = refresh_request(request, exchange.plan.facts, exchange.request_headers([]))
                if sub is not None:
                    response = cast(SyncGetResponse, self.get_response)(sub)
                    start = exchange.start(response.status_code, response_headers(response))
                    body = _drained_body(response, start)
            finally:
                exchange.finish(body)
        except Exception:
            logger.warning(
                "routecache: background refresh of %s failed", plan.facts.path, exc_info=True
            )

    # -- async --------------------------------------------------------------------

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """The async path (the middleware chain runs under ASGI)."""
        get_response = cast(AsyncGetResponse, self.get_response)
        state = conf.get_state(self.setting)
        plan = self._plan(state, request)
        if plan is None or plan.action == Action.PASS:
            return await get_response(request)
        if plan.action == Action.BYPASS:
            response = await get_response(request)
            self._tag(response, state.policy, state.async_engine().bypass_member(plan))
            return response
        loop = asyncio.get_running_loop()
        engine = state.async_engine()
        if plan.action == Action.INVALIDATE:
            return await self._aforward(request, engine.exchange(plan), loop)
        verdict = await engine.lookup(plan)
        kind = verdict.kind
        if kind in _SERVE_KINDS:
            response = ServedResponse(engine.serve(plan, verdict))
            if kind != VerdictKind.FRESH:
                refresh = partial(self._arefresh, request, engine, plan, verdict)
                _on_close(response, partial(start_on_loop, loop, refresh, "background refresh"))
            return response
        if kind == VerdictKind.GATEWAY_TIMEOUT:
            return ServedResponse(engine.gateway_timeout(plan))
        return await self._aforward(request, engine.exchange(plan, verdict), loop)

    async def _aforward(
        self,
        request: HttpRequest,
        exchange: engine_async.Exchange,
        loop: asyncio.AbstractEventLoop,
    ) -> HttpResponseBase:
        get_response = cast(AsyncGetResponse, self.get_response)
        try:
            with swapped_conditionals(request, exchange.request_headers([])):
                response = await get_response(request)
        except Exception:
            served = await exchange.fail()
            await exchange.finish(None)
            if served is not None:
                return ServedResponse(served)
            raise
        except BaseException:
            await exchange.finish(None)
            raise
        finisher = _AsyncFinish(exchange, loop)
        if _file_headers(response, exchange.plan, exchange.verdict, exchange.engine.policy):
            _on_close(response, partial(finisher.close, None))
            return response
        _frame(response)
        start = await exchange.start(response.status_code, response_headers(response))
        return _complete(response, start, exchange.etag_for, finisher)

    async def _arefresh(
        self,
        request: HttpRequest,
        engine: engine_async.AsyncEngine,
        plan: RequestPlan,
        verdict: Verdict,
    ) -> None:
        """Refresh a served entry after the hit went out, on the request's loop."""
        exchange = await engine.refresh(plan, verdict)
        if exchange is None:
            return
        body: bytes | None = None
        try:
            sub = refresh_request(request, exchange.plan.facts, exchange.request_headers([]))
            if sub is not None:
                response = await cast(AsyncGetResponse, self.get_response)(sub)
                start = await exchange.start(response.status_code, response_headers(response))
                body = await _adrained_body(response, start)
        finally:
            await exchange.finish(body)
