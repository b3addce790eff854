"""The plain data the policy's decisions travel in: what a request is
(:class:`RequestFacts`), what to do with it (:class:`RequestPlan`, :class:`Verdict`),
what the app's response becomes (:class:`ResponsePlan`) and what a hit sends
(:class:`Served`). The decisions themselves are in :mod:`~routecache.middleware.policy`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b

from .cache_control import Directives
from .entry import FLAG_GENERATED_ETAG, Entry
from .keys import CacheKey
from .rules import DEFAULT_MAX_BODY_SIZE, Rule, RuleMatch

__all__ = [
    "Action",
    "HeaderList",
    "Invalidation",
    "RequestFacts",
    "RequestPlan",
    "ResponsePlan",
    "Served",
    "Verdict",
    "VerdictKind",
    "first_value",
    "header_values",
    "make_etag",
]

HeaderList = list[tuple[bytes, bytes]]


class Action(enum.IntEnum):
    """What a driver does with a request."""

    #: Do nothing at all: call the app, add no header (safe upgrades, event streams).
    PASS = 0
    #: Call the app, add ``Cache-Status`` saying why, store nothing.
    BYPASS = 1
    #: Look the request up in the store.
    LOOKUP = 2
    #: Unsafe method: call the app; after a 2xx/3xx answer, invalidate (§4.4).
    INVALIDATE = 3


class VerdictKind(enum.IntEnum):
    """What to do with the result of a lookup."""

    #: Serve the entry; nothing else to do.
    FRESH = 0
    #: Serve the entry, then refresh it in the background (refresh-ahead).
    REFRESH_AHEAD = 1
    #: Serve the stale entry, then refresh it in the background (RFC 5861).
    STALE_WHILE_REVALIDATE = 2
    #: The entry varies on request headers and this request needs another variant.
    NEED_VARIANT = 3
    #: Forward a conditional request built from the entry's validators (§4.3).
    REVALIDATE = 4
    #: Forward; the entry (if any) may still answer if the app fails (stale-if-error).
    FORWARD = 5
    #: ``only-if-cached`` and nothing usable: answer 504 (§5.2.1.7).
    GATEWAY_TIMEOUT = 6


class RequestFacts:
    """What the policy needs to know about a request, taken from any framework.

    ``headers`` maps lower-case field names to their combined value (repeated lines
    joined with ``", "``, cookies with ``"; "``). ``path`` is the decoded path, the
    mount prefix included; ``query`` the raw query string's bytes.

    What keeps keys poisoning-proof (see :mod:`~routecache.middleware.keys`):
    ``raw_path`` is the path as the server received it (``None`` when the app cannot
    see it either), ``prefix`` the part of ``path`` the app treats as its mount point
    (``SCRIPT_NAME``, ``root_path``), ``lines`` every line of the fields the request
    repeats when the app can tell them apart, ``trusted`` the rewriting headers the
    framework itself honours (keyed, not bypassed), ``unkeyable`` the driver's reason
    why the request cannot be keyed (``Cache-Status`` detail of a bypass).
    """

    __slots__ = (
        "has_body",
        "headers",
        "host",
        "lines",
        "method",
        "path",
        "prefix",
        "query",
        "raw_path",
        "scheme",
        "trusted",
        "unkeyable",
    )

    def __init__(
        self,
        *,
        method: str,
        scheme: str,
        host: str,
        path: str,
        query: bytes,
        headers: Mapping[str, str],
        has_body: bool = False,
        raw_path: bytes | None = None,
        prefix: str = "",
        lines: Mapping[str, Sequence[str]] | None = None,
        trusted: frozenset[str] = frozenset(),
        unkeyable: str | None = None,
    ) -> None:
        self.method = method
        self.scheme = scheme
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
        self.has_body = has_body
        self.raw_path = raw_path
        self.prefix = prefix
        self.lines = lines
        self.trusted = trusted
        self.unkeyable = unkeyable

    def with_fields(
        self, headers: Mapping[str, str], lines: Mapping[str, Sequence[str]] | None
    ) -> RequestFacts:
        """The same request with other ``headers`` and ``lines`` (normalised fields)."""
        return RequestFacts(
            method=self.method,
            scheme=self.scheme,
            host=self.host,
            path=self.path,
            query=self.query,
            headers=headers,
            has_body=self.has_body,
            raw_path=self.raw_path,
            prefix=self.prefix,
            lines=lines,
            trusted=self.trusted,
            unkeyable=self.unkeyable,
        )

    def __repr__(self) -> str:
        return f"<RequestFacts {self.method} {self.scheme}://{self.host}{self.path}>"


class Invalidation:
    """What a successful unsafe request invalidates: whole paths and tags."""

    __slots__ = ("paths", "tags")

    def __init__(self, paths: Iterable[str] = (), tags: Iterable[str] = ()) -> None:
        self.paths = tuple(dict.fromkeys(paths))
        self.tags = tuple(dict.fromkeys(tags))

    def __bool__(self) -> bool:
        return bool(self.paths or self.tags)

    def __repr__(self) -> str:
        return f"Invalidation(paths={self.paths!r}, tags={self.tags!r})"


class RequestPlan:
    """The policy's decision about one request, carried through the whole exchange."""

    __slots__ = (
        "action",
        "authorized",
        "detail",
        "facts",
        "fwd",
        "head",
        "key",
        "match",
        "request_cc",
        "rewrites",
        "rule",
        "store_ok",
    )

    def __init__(
        self,
        action: Action,
        facts: RequestFacts,
        *,
        fwd: str | None = None,
        detail: str | None = None,
        match: RuleMatch | None = None,
        rule: Rule | None = None,
        key: CacheKey | None = None,
        request_cc: Directives | None = None,
        authorized: bool = False,
        store_ok: bool = True,
        rewrites: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.action = action
        self.facts = facts
        self.fwd = fwd
        self.detail = detail
        self.match = match
        self.rule = rule
        self.key = key
        self.request_cc = request_cc
        self.authorized = authorized
        self.head = facts.method == "HEAD"
        self.store_ok = store_ok
        #: Request fields the driver replaces before the app sees the request
        #: (normalised ``Accept-*`` values; see ``vary_normalise.py``).
        self.rewrites = rewrites

    def __repr__(self) -> str:
        return f"<RequestPlan {self.action.name} fwd={self.fwd} detail={self.detail}>"


class Verdict:
    """The judgement on a looked-up entry; ``fwd`` and ``detail`` feed ``Cache-Status``."""

    __slots__ = (
        "collapsed",
        "detail",
        "entry",
        "fence",
        "flight",
        "fwd",
        "kind",
        "stale_ok",
        "variant",
    )

    def __init__(
        self,
        kind: VerdictKind,
        entry: Entry | None = None,
        *,
        fwd: str | None = None,
        detail: str | None = None,
        variant: str | None = None,
        stale_ok: bool = False,
    ) -> None:
        self.kind = kind
        self.entry = entry
        self.fwd = fwd
        self.detail = detail
        self.variant = variant
        #: The entry may answer instead of a failed or 5xx origin (stale-if-error).
        self.stale_ok = stale_ok
        #: The entry was produced by another request's work (single flight).
        self.collapsed = False
        #: The engine's single-flight ticket when this request must fetch for others.
        self.flight: object | None = None
        #: The store's write fence read before the fetch (the engine's business).
        self.fence: object | None = None

    @property
    def collapsible(self) -> bool:
        """Whether concurrent requests with this verdict may wait on one fetch: misses,
        and stale entries (a revalidation is a fetch too), but not what the client
        itself asked to be fetched (``fwd=request``) or another variant."""
        if self.kind == VerdictKind.FORWARD:
            return self.fwd in ("uri-miss", "stale")
        return self.kind == VerdictKind.REVALIDATE and self.fwd == "stale"

    @property
    def answers_alone(self) -> bool:
        """A fresh entry of the store's own, with nothing left to do after it is sent (no
        refresh, no flight): what a front wrapper may answer before the framework runs."""
        return self.kind == VerdictKind.FRESH and not self.collapsed

    def __repr__(self) -> str:
        return f"<Verdict {self.kind.name} fwd={self.fwd} detail={self.detail}>"


class Served:
    """A response built from an entry, ready to send."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: HeaderList, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class ResponsePlan:
    """The policy's decision about the app's response: what goes out, what is kept."""

    __slots__ = (
        "content_length",
        "detail",
        "etag",
        "flags",
        "fresh_for",
        "generate_etag",
        "headers",
        "initial_age",
        "max_body_size",
        "passthrough",
        "response_time",
        "sie",
        "status",
        "storage_ttl",
        "store",
        "stored_headers",
        "swr",
        "tags",
        "vary",
    )

    def __init__(self, status: int, headers: HeaderList, response_time: float = 0.0) -> None:
        self.status = status
        #: When the response (its header section) was received.
        self.response_time = response_time
        #: Headers to send to the client (``Cache-Status`` included).
        self.headers = headers
        #: Keep a copy of the body and store it once complete.
        self.store = False
        #: Why the response is not stored (``Cache-Status`` detail).
        self.detail: str | None = None
        #: Send the response on untouched (event streams).
        self.passthrough = False
        self.stored_headers: HeaderList = []
        self.fresh_for = 0.0
        self.initial_age = 0.0
        self.swr = 0.0
        self.sie = 0.0
        self.flags = 0
        self.etag: bytes | None = None
        self.generate_etag = False
        self.tags: tuple[str, ...] = ()
        self.vary: tuple[tuple[str, str | None], ...] = ()
        self.max_body_size = DEFAULT_MAX_BODY_SIZE
        #: Seconds the store keeps the entry: freshness plus the stale windows.
        self.storage_ttl = 0.0
        #: The body length the response declared (Content-Length), if any.
        self.content_length: int | None = None

    def complete(self, body: bytes) -> bool:
        """False when ``body`` is shorter or longer than the response's Content-Length:
        an incomplete response is never stored (§3.3, RFC 9112 §6.3)."""
        return self.content_length is None or len(body) == self.content_length

    def entry(self, body: bytes) -> Entry:
        """The entry to store once ``body`` is complete."""
        etag = self.etag
        flags = self.flags
        if etag is None and self.generate_etag:
            etag = make_etag(body)
            flags |= FLAG_GENERATED_ETAG
        headers = self.stored_headers
        if etag is not None and self.generate_etag:
            headers = [*headers, (b"etag", etag)]
        return Entry(
            status=self.status,
            headers=headers,
            body=body,
            stored_at=self.response_time,
            fresh_for=self.fresh_for,
            initial_age=self.initial_age,
            swr=self.swr,
            sie=self.sie,
            flags=flags,
            etag=etag,
            vary=self.vary,
            tags=self.tags,
        )


def make_etag(body: bytes) -> bytes:
    """A strong entity-tag derived from the body's bytes."""
    return b'"' + blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """All values of response field ``name`` (lower-case), decoded as latin-1."""
    return [v.decode("latin-1") for k, v in headers if k == name]


def first_value(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of response field ``name`` (lower-case), or ``None``."""
    for k, v in headers:
        if k == name:
            return v
    return None
