"""Conversions between Django's request/response objects and the core's plain facts.

Nothing here decides anything: requests become
:class:`~routecache.middleware.policy.RequestFacts`, responses become ``(status,
[(name, value)])`` and back, and entries become :class:`ServedResponse` objects.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.cookie import SimpleCookie
from django.http.response import ResponseHeaders

from ...middleware.policy import HeaderList, RequestFacts, Served
from ...middleware.refresh import refresh_environ, refresh_scope
from ...middleware.wsgi import EnvironHeaders, raw_target

__all__ = [
    "ServedResponse",
    "apply_headers",
    "close_quietly",
    "facts_from_request",
    "refresh_request",
    "response_headers",
    "rewrite_fields",
    "swapped_conditionals",
]

_CONDITIONAL_KEYS: Final = frozenset(
    {
        "HTTP_IF_NONE_MATCH",
        "HTTP_IF_MODIFIED_SINCE",
        "HTTP_IF_MATCH",
        "HTTP_IF_UNMODIFIED_SINCE",
        "HTTP_IF_RANGE",
    }
)
_NAMES: Final = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}


def _meta_key(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


def _raw_query(request: HttpRequest) -> bytes:
    scope = getattr(request, "scope", None)
    raw = scope.get("query_string", b"") if isinstance(scope, Mapping) else None
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    query = str(raw if raw is not None else request.META.get("QUERY_STRING", ""))
    try:
        return query.encode("latin-1")  # PEP 3333: bytes decoded as latin-1
    except UnicodeEncodeError:
        return query.encode("utf-8")


_PROXY_SETTINGS: Final = frozenset(
    {"USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT", "SECURE_PROXY_SSL_HEADER"}
)
_trusted_now: list[frozenset[str]] = []


def _trusted() -> frozenset[str]:
    """The rewriting headers Django itself honours under the current settings: their
    effect is in ``get_host()``/``scheme``, and they are keyed rather than bypassed."""
    if _trusted_now:
        return _trusted_now[0]
    names = set()
    if settings.USE_X_FORWARDED_HOST:
        names.add("x-forwarded-host")
    if settings.USE_X_FORWARDED_PORT:
        names.add("x-forwarded-port")
    proxy_ssl = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if isinstance(proxy_ssl, (tuple, list)) and proxy_ssl and isinstance(proxy_ssl[0], str):
        key = proxy_ssl[0]
        if key.startswith("HTTP_"):
            names.add(key[5:].lower().replace("_", "-"))
    trusted = frozenset(names)
    _trusted_now[:] = [trusted]
    return trusted


@receiver(setting_changed)
def _proxy_settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _PROXY_SETTINGS:
        _trusted_now.clear()


def facts_from_request(request: HttpRequest) -> RequestFacts:
    """The policy's view of a Django request, as Django gives it to the view:
    ``get_host()`` and ``scheme`` (so ``USE_X_FORWARDED_HOST``/``_PORT`` and
    ``SECURE_PROXY_SSL_HEADER`` count, and those headers are keyed), ``request.path``
    with its script prefix (``FORCE_SCRIPT_NAME`` included) keyed apart from the
    ``path_info`` Django routes on, the raw target and query, and ``request.META``."""
    meta = request.META
    # META is a WSGI environ (or Django's equivalent under ASGI): fields are read from
    # it on demand, as the WSGI driver does.
    headers = EnvironHeaders(meta)
    length = str(meta.get("CONTENT_LENGTH") or "").strip()
    unkeyable = None
    # What get_host() returns when it does not raise (USE_X_FORWARDED_HOST/_PORT
    # honoured), without its ALLOWED_HOSTS check (a third of a hit's facts otherwise);
    # a disallowed host is Django's to refuse, a malformed one bypasses.
    raw_host = getattr(request, "_get_raw_host", None)
    try:
        host = raw_host() if raw_host is not None else request.get_host()
    except Exception:  # DisallowedHost: Django answers 400 itself
        host, unkeyable = "", "host"
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping):
        raw = scope.get("raw_path")
        raw_path = raw if type(raw) is bytes else None
    else:
        raw_path, reason = raw_target(meta)
        unkeyable = unkeyable or reason
    path, path_info = request.path, request.path_info
    if path.endswith(path_info):
        prefix = path[: len(path) - len(path_info)]
    else:
        prefix, unkeyable = "", unkeyable or "raw-target"
    return RequestFacts(
        method=(request.method or "GET").upper(),
        scheme=request.scheme or "http",
        host=host,
        path=path,
        query=_raw_query(request),
        headers=headers,
        has_body=(bool(length) and length != "0") or "HTTP_TRANSFER_ENCODING" in meta,
        raw_path=raw_path,
        prefix=prefix,
        trusted=_trusted(),
        unkeyable=unkeyable,
    )


def _latin1(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("latin-1", "replace")


def response_headers(response: HttpResponseBase) -> HeaderList:
    """Every header the handler will send: ``items()`` plus one ``Set-Cookie`` per
    cookie of ``response.cookies``; names lower-cased."""
    out = [(str(k).lower().encode("latin-1"), _latin1(v)) for k, v in response.items()]
    for cookie in response.cookies.values():
        out.append((b"set-cookie", cookie.output(header="").strip().encode("latin-1")))
    return out


def _display(name: str) -> str:
    return _NAMES.get(name) or "-".join(part.capitalize() for part in name.split("-"))


def apply_headers(response: HttpResponseBase, headers: HeaderList) -> None:
    """Make ``response`` send ``headers`` (the engine's version of its own).

    Headers keep their place and spelling; removed ones go, new ones are appended.
    ``Set-Cookie`` stays where Django keeps it (``response.cookies`` or a plain
    header). A field repeated in ``headers`` is joined with ``", "``: a Django
    response holds one value per name.
    """
    wanted: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        if name != "set-cookie":
            wanted.setdefault(name, []).append(raw_value.decode("latin-1"))
    current = response.headers
    spelled = {}
    for name in list(current):
        lower = name.lower()
        if lower not in wanted and lower != "set-cookie":
            del current[name]
        else:
            spelled[lower] = name
    for name, values in wanted.items():
        value = ", ".join(values)
        if current.get(name) != value:
            current[spelled.get(name) or _display(name)] = value


class ServedResponse(HttpResponse):
    """A response built from a cache entry; sends its headers as stored, byte for
    byte, repeated fields and order included.

    Building Django's header mapping costs more than the rest of a hit, so it is made
    only when something (middleware above) looks at ``response.headers``. Middleware
    may still change headers through ``response[...]``: a changed or added field is sent
    as changed, the others exactly as stored.
    """

    def __init__(self, served: Served) -> None:
        # What HttpResponseBase/HttpResponse.__init__ set, without rebuilding the
        # headers through ResponseHeaders (that happens lazily, in ``headers``).
        self._charset = None
        self._resource_closers: list[Any] = []
        self._handler_class = None
        self.cookies = SimpleCookie()
        self.closed = False
        self.status_code = served.status
        self._reason_phrase = None
        self._container = [served.body]
        self.served_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in served.headers
        ]
        self._mapping: ResponseHeaders | None = None
        self._as_served: dict[str, str] = {}

    @property
    def headers(self) -> ResponseHeaders:
        """Django's header mapping, built on first use from the stored fields."""
        if self._mapping is None:
            joined: dict[str, str] = {}
            for name, value in self.served_headers:
                lower = name.lower()
                joined[lower] = f"{joined[lower]}, {value}" if lower in joined else value
            mapping = ResponseHeaders({})
            for name, _ in self.served_headers:
                lower = name.lower()
                if lower in joined:
                    mapping[name] = joined.pop(lower)
            self._as_served = {name.lower(): value for name, value in mapping.items()}
            self._mapping = mapping
        return self._mapping

    @headers.setter
    def headers(self, value: ResponseHeaders) -> None:
        self._mapping = value

    def items(self) -> Iterator[tuple[str, str]]:
        """The stored fields as stored, then whatever middleware changed or added."""
        if self._mapping is None:  # nobody looked: exactly as stored
            yield from self.served_headers
            return
        current = self._mapping
        changed: set[str] = set()
        for name, value in self.served_headers:
            lower = name.lower()
            now = current.get(lower)
            if now is None:
                continue
            if now == self._as_served.get(lower):
                yield name, value
            elif lower not in changed:
                changed.add(lower)
                yield name, now
        for name, value in current.items():
            if name.lower() not in self._as_served:
                yield name, value


def rewrite_fields(request: HttpRequest, fields: Iterable[tuple[bytes, bytes]]) -> None:
    """Put ``fields`` (normalised values) in ``request.META`` in place of the client's,
    for the rest of the request: the view and every middleware below see them."""
    for name, value in fields:
        request.META[_meta_key(name.decode("latin-1"))] = value.decode("latin-1")
    request.__dict__.pop("headers", None)


@contextmanager
def swapped_conditionals(request: HttpRequest, conditional: HeaderList | None) -> Iterator[None]:
    """While the block runs, ``request.META`` is a copy whose conditional fields are
    the engine's validators (a revalidation); the original is put back after."""
    if conditional is None:
        yield
        return
    original = request.META
    meta = {k: v for k, v in original.items() if k not in _CONDITIONAL_KEYS}
    for name, value in conditional:
        meta[_meta_key(name.decode("latin-1"))] = value.decode("latin-1")
    request.META = meta
    request.__dict__.pop("headers", None)
    try:
        yield
    finally:
        request.META = original
        request.__dict__.pop("headers", None)


def refresh_request(
    request: HttpRequest, facts: RequestFacts, conditional: HeaderList | None
) -> HttpRequest | None:
    """An anonymous ``GET`` with the headers of ``facts`` (a background refresh), or
    ``None`` for a request class this adapter cannot copy.

    It is built from the key's facts and a clean scope / environ: nothing the server
    or a middleware above set for the user who triggered it (``user``, ``session``,
    ``REMOTE_USER``, the client address) goes along; the middleware below the cache
    runs again on it as on any request.
    """
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in facts.headers.items()
    ]
    if conditional is not None:
        headers.extend(conditional)
    sub: HttpRequest
    if isinstance(request, ASGIRequest):
        sub = type(request)(refresh_scope(request.scope, headers, facts.query), io.BytesIO(b""))
    elif isinstance(request, WSGIRequest):
        sub = type(request)(refresh_environ(request.environ, headers))
    else:
        return None
    return sub


def close_quietly(response: HttpResponseBase) -> None:
    """Release a response that will not be sent (its files, its iterator), without
    the ``request_finished`` signal that ``close()`` sends."""
    closers = getattr(response, "_resource_closers", [])
    for closer in closers:
        with contextlib.suppress(Exception):  # as Django's own close() does
            closer()
    closers.clear()
    response.closed = True
