"""Cross-process wake-ups for single flight, over Redis pub/sub.

When a worker stores an entry (or gives up on one), it publishes the entry's name on
the store's channel. Every process keeps at most one subscription per store; requests
waiting for another worker's fetch register here and are woken by that message,
instead of polling Redis at fixed intervals. Waiters always pass a timeout and poll
the store after it, so a lost message (or a broken subscription) only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

__all__ = ["AsyncNotifier", "SyncNotifier"]

logger = logging.getLogger("routecache.store")


class AsyncNotifier:
    """Pub/sub wake-ups for asyncio code (one listener task per event loop)."""

    def __init__(self, client: Any, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None

    async def _listen(self, ready: asyncio.Event) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            ready.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                name = message["data"]
                if isinstance(name, bytes):
                    name = name.decode("latin-1")
                for future in self._waiters.pop(name, ()):
                    if not future.done():
                        future.set_result(True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("routecache: pub/sub listener stopped (%s); waiters poll", exc)
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _ensure(self) -> None:
        task = self._task
        if task is not None and not task.done():
            return
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._listen(self._ready))
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 0.5)

    async def wait(self, name: str, timeout: float) -> bool:
        """Wait until ``name`` is published or ``timeout`` passes; True if woken."""
        try:
            await self._ensure()
        except Exception:
            await asyncio.sleep(timeout)
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return False
        finally:
            waiting = self._waiters.get(name)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[name]

    async def close(self) -> None:
        """Stop the listener."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class SyncNotifier:
    """Pub/sub wake-ups for threads (one daemon listener thread per store)."""

    def __init__(self, client: Any, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._waiters: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _listen(self, ready: threading.Event) -> None:
        pubsub = self.client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            ready.set()
            while not self._stop.is_set():
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                name = message["data"]
                if isinstance(name, bytes):
                    name = name.decode("latin-1")
                with self._lock:
                    events = self._waiters.pop(name, [])
                for event in events:
                    event.set()
        except Exception as exc:
            logger.debug("routecache: pub/sub listener stopped (%s); waiters poll", exc)
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                pubsub.close()

    def _ensure(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                return
            ready = threading.Event()
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._listen, args=(ready,), name="routecache-notify", daemon=True
            )
            self._thread.start()
        ready.wait(0.5)

    def wait(self, name: str, timeout: float) -> bool:
        """Wait until ``name`` is published or ``timeout`` passes; True if woken."""
        self._ensure()
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(name, []).append(event)
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(name)
                if waiting is not None and event in waiting:
                    waiting.remove(event)
                    if not waiting:
                        del self._waiters[name]

    def close(self) -> None:
        """Stop the listener thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)
