"""A bounded copy of a body on its way to the client (every driver keeps one)."""

from __future__ import annotations

__all__ = ["BodyTee"]


class BodyTee:
    """Keeps the chunks of a streamed body while ``keep`` and the total stays within
    ``limit`` bytes; past the limit (or on :meth:`stop`) it drops what it held."""

    __slots__ = ("chunks", "keep", "limit", "size")

    def __init__(self, keep: bool, limit: int) -> None:
        self.keep = keep
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> bool:
        """Keep a copy of ``chunk`` (a no-op once no longer keeping); whether the body
        is still kept (False from the chunk that went past the limit on)."""
        if not self.keep:
            return False
        self.size += len(chunk)
        if self.size > self.limit:
            self.stop()
            return False
        if chunk:
            self.chunks.append(bytes(chunk))
        return True

    def stop(self) -> None:
        """Stop keeping: the body will not be stored."""
        self.keep = False
        self.chunks = []

    def body(self, complete: bool) -> bytes | None:
        """The whole body if it was kept and the response ``complete``d, else ``None``."""
        return b"".join(self.chunks) if self.keep and complete else None
