"""Every caching decision routecache makes, as pure functions of plain facts (sans-I/O).

This module owns the rules; the drivers (ASGI, WSGI, Django) and the engines only
carry bytes between a server, a store and the app. The flow for one request:

1. :meth:`CachePolicy.plan` turns the request's facts into a :class:`RequestPlan`:
   pass through untouched, bypass (with a reason), look up, or forward an unsafe
   request and invalidate after it.
2. For a lookup, :meth:`CachePolicy.judge` turns the stored entry (or its absence)
   into a :class:`Verdict`: serve it fresh, serve it stale and refresh, revalidate it,
   fetch the variant, or forward.
3. The app's response start goes through :meth:`CachePolicy.on_response`, which says
   whether the body is worth keeping and what headers go out; the complete body turns
   into an :class:`~routecache.middleware.entry.Entry` with :meth:`ResponsePlan.entry`.
4. :meth:`CachePolicy.serve` builds the replayed response (200, 304 or HEAD) with its
   ``Age`` and ``Cache-Status``.

Section numbers cite RFC 9111 (HTTP Caching) unless they name another RFC.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

from .cache_control import INVALID, parse_cache_control
from .cache_status import append_cache_status, format_cache_status
from .entry import (
    FLAG_GENERATED_ETAG,
    FLAG_MUST_REVALIDATE,
    FLAG_NO_CACHE,
    FLAG_SHARED_AUTH,
    Entry,
)
from .errors import ConfigurationError
from .freshness import corrected_initial_age, explicit_freshness, heuristic_lifetime
from .headers import (
    HOP_BY_HOP,
    cookie_names,
    etag_matches,
    format_http_date,
    parse_etag_list,
    parse_http_date,
    parse_uint,
    split_list,
)
from .keys import CacheKey, KeyGuard, canonical_host, field_value, request_key, variant_hash
from .plans import (
    Action,
    HeaderList,
    Invalidation,
    RequestFacts,
    RequestPlan,
    ResponsePlan,
    Served,
    Verdict,
    VerdictKind,
    first_value,
    header_values,
    make_etag,
)
from .ranges import UNSATISFIABLE, if_range_holds, select_range
from .rules import (
    DEFAULT_IGNORED_COOKIES,
    DEFAULT_MAX_BODY_SIZE,
    SAFE_METHODS,
    Rule,
    RuleMatch,
    RuleSet,
    compile_globs,
)
from .targeted import DEFAULT_TARGETS, Targets
from .vary_normalise import Normaliser

__all__ = [
    "Action",
    "CachePolicy",
    "HeaderList",
    "Invalidation",
    "RequestFacts",
    "RequestPlan",
    "ResponsePlan",
    "Served",
    "Verdict",
    "VerdictKind",
    "make_etag",
]


#: Fields never stored with an entry: hop-by-hop ones, the proxy-specific
#: Proxy-Authentication-Info (§3.1), and those recomputed on replay.
_NOT_STORED: Final = frozenset(
    h.encode()
    for h in (
        *HOP_BY_HOP,
        "proxy-authentication-info",
        "age",
        "content-length",
        "cache-status",
        "set-cookie",
    )
)
#: Fields a 304 carries (RFC 9110 §15.4.5); Last-Modified only without an ETag.
_NOT_MODIFIED_FIELDS: Final = frozenset(
    {b"cache-control", b"content-location", b"etag", b"expires", b"vary"}
)
#: Fields a 304 from the origin does not overwrite in the stored response (§3.2): the
#: ones never stored, and Content-Length (the stored body keeps its own length).
_NO_UPDATE_FROM_304: Final = _NOT_STORED
#: Status codes whose caching rules routecache implements (§5.2.2.3 must-understand).
_UNDERSTOOD: Final = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501}
)
_UNSAFE_OK_STATUS = range(200, 400)
#: Safe methods that are never cached: passed on with ``fwd=method``, invalidating nothing.
_SAFE_UNCACHED: Final = frozenset({"OPTIONS", "TRACE"})
#: How long past its freshness an entry with a validator is kept for revalidation: as
#: long as it was fresh, at least a minute, at most a day.
_VALIDATION_KEEP_MIN: Final = 60.0
_VALIDATION_KEEP_MAX: Final = 86400.0


class CachePolicy:
    """The decisions for one configured cache (rules plus driver options).

    Args:
        rules: the per-route :class:`Rule` objects (or dicts of their options).
        honor_cache_control: without a matching rule, cache what the origin marks
            cacheable (``s-maxage``, ``max-age``, ``Expires``, ``public``), as a
            standards-following shared cache.
        honor_request_cache_control: obey the client's ``Cache-Control`` request
            directives (``no-cache``, ``max-age``, ``only-if-cached``...). Off by
            default, as in nginx and Varnish: a client must not be able to empty the
            cache's benefit at will.
        default_ttl: freshness for rules without ``ttl``, and for ``public`` responses
            without explicit freshness when no rule matches.
        heuristic_freshness: give responses with ``Last-Modified`` but no explicit
            freshness 10% of their age, capped at a day (§4.2.2). ``None`` (the
            default): on in proxy mode (``honor_cache_control`` without any rule),
            off otherwise.
        stale_if_error: seconds a stale entry may answer for an app that fails (raises,
            or answers 500/502/503/504), for responses no rule matched that state no
            ``stale-if-error`` of their own; never for ``must-revalidate``,
            ``proxy-revalidate``, ``s-maxage`` or ``no-cache`` responses.
        cache_name: the name of this cache in ``Cache-Status``.
        tag_header: response field the app uses to tag entries (stripped on the way
            out unless ``expose_tag_header``); on a successful unsafe request, the tags
            it names are invalidated.
        cache_control_targets: targeted cache-control fields (RFC 9213) that address
            routecache, first wins; a valid one stands in for ``Cache-Control`` and
            ``Expires``. Add ``"CDN-Cache-Control"`` to act as the CDN tier.
        debug: add ``key=`` to ``Cache-Status``.
        invalidate_location: after a 2xx answer to an unsafe request, also invalidate
            the same-origin paths of its ``Location`` and ``Content-Location`` (RFC
            9111 §4.4 makes this a MAY). Off by default: any client could otherwise
            purge a neighbouring page (a redirect's ``Location`` never counts).
    """

    def __init__(
        self,
        rules: Iterable[Rule | Mapping[str, object]] = (),
        *,
        honor_cache_control: bool = False,
        honor_request_cache_control: bool = False,
        default_ttl: float | None = None,
        heuristic_freshness: bool | None = None,
        stale_if_error: float = 0.0,
        cache_name: str = "routecache",
        tag_header: str = "cache-tag",
        expose_tag_header: bool = False,
        debug: bool = False,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        cache_control_targets: Iterable[str] = DEFAULT_TARGETS,
        invalidate_location: bool = False,
    ) -> None:
        self._rules = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        self._matches: dict[str, RuleMatch | None] = {}
        self._keys: dict[tuple[object, ...], CacheKey] = {}
        #: What makes a request unkeyable, what it normalises: the driver options' own.
        self.guard, self.normaliser = KeyGuard(), Normaliser()
        for name, value in (
            ("honor_cache_control", honor_cache_control),
            ("honor_request_cache_control", honor_request_cache_control),
            ("expose_tag_header", expose_tag_header),
            ("debug", debug),
            ("invalidate_location", invalidate_location),
        ):
            if not isinstance(value, bool):
                raise ConfigurationError(f"{name} must be True or False, got {value!r}")
        if heuristic_freshness is not None and not isinstance(heuristic_freshness, bool):
            raise ConfigurationError(
                f"heuristic_freshness must be True, False or None, got {heuristic_freshness!r}"
            )
        if (
            isinstance(stale_if_error, bool)
            or not isinstance(stale_if_error, (int, float))
            or not 0 <= stale_if_error < float("inf")
        ):
            raise ConfigurationError(
                f"stale_if_error must be a non-negative number of seconds, got {stale_if_error!r}"
            )
        if default_ttl is not None and (
            isinstance(default_ttl, bool)
            or not isinstance(default_ttl, (int, float))
            or not 0 <= default_ttl < float("inf")
        ):
            raise ConfigurationError(
                f"default_ttl must be a non-negative number of seconds, got {default_ttl!r}"
            )
        if (
            not isinstance(cache_name, str)
            or not cache_name
            or any(c in cache_name for c in ' ;,="')
        ):
            raise ConfigurationError(f"cache_name must be a token, got {cache_name!r}")
        if not isinstance(tag_header, str) or not tag_header:
            raise ConfigurationError(f"tag_header must be a header name, got {tag_header!r}")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 0
        ):
            raise ConfigurationError(
                f"max_body_size must be a number of bytes, got {max_body_size!r}"
            )
        self.honor_cache_control = honor_cache_control
        self.honor_request_cache_control = honor_request_cache_control
        self.default_ttl = None if default_ttl is None else float(default_ttl)
        self.heuristic_freshness = heuristic_freshness
        self.stale_if_error = float(stale_if_error)
        self.cache_name = cache_name
        self.tag_header = tag_header.lower().encode("latin-1")
        self.expose_tag_header = expose_tag_header
        self.targets = Targets(cache_control_targets)
        # Fields never stored, and those removed from what the client gets.
        self._not_kept = self.targets.strip | {self.tag_header}
        self._not_sent = self.targets.strip if expose_tag_header else self._not_kept
        self.debug = debug
        self.max_body_size = max_body_size
        self.invalidate_location = invalidate_location
        self._forward_members: dict[tuple[str, str | None], bytes] = {}
        self._hit_members: dict[tuple[int, str | None], bytes] = {}

    @property
    def rules(self) -> RuleSet:
        """The rules, compiled; assigning new ones forgets what was memoised."""
        return self._rules

    @rules.setter
    def rules(self, rules: RuleSet) -> None:
        self._rules = rules
        self._matches.clear()
        self._keys.clear()

    def _match(self, path: str) -> RuleMatch | None:
        # Memoised per path (bounded): most traffic repeats a small set of paths.
        try:
            return self._matches[path]
        except KeyError:
            pass
        match = self._rules.match(path) if self._rules.rules else None
        if len(self._matches) >= _MEMO_SIZE:
            self._matches.clear()
        self._matches[path] = match
        return match

    def _key(self, facts: RequestFacts, rule: Rule | None) -> CacheKey:
        memo = None
        guard = self.guard
        trusted = guard.keyed(facts) if guard.trusted or facts.trusted else ()
        if rule is None or not (rule.vary or rule.vary_cookies):
            # Without header-dependent parts the key depends on these facts only.
            memo = (
                "GET" if facts.method in SAFE_METHODS else facts.method,
                facts.scheme,
                facts.host,
                facts.path,
                facts.query,
                facts.raw_path,
                facts.prefix,
                trusted,
            )
            key = self._keys.get(memo)
            if key is not None:
                return key
        key = request_key(
            method=facts.method,
            scheme=facts.scheme,
            host=facts.host,
            path=facts.path,
            query=facts.query,
            headers=facts.headers,
            rule=rule,
            raw_path=facts.raw_path,
            prefix=facts.prefix,
            lines=facts.lines,
            trusted=trusted,
        )
        if memo is not None:
            if len(self._keys) >= _MEMO_SIZE:
                self._keys.clear()
            self._keys[memo] = key
        return key

    # -- Cache-Status ---------------------------------------------------------------

    def status_member(self, plan: RequestPlan | None = None, **fields: object) -> str:
        """A ``Cache-Status`` member for this cache (``key`` added in debug mode)."""
        if self.debug and plan is not None and plan.key is not None and "key" not in fields:
            fields["key"] = f"{plan.key.path_hash}:{plan.key.digest}"
        return format_cache_status(self.cache_name, **fields)  # type: ignore[arg-type]

    def forward_member(self, fwd: str, detail: str | None = None) -> bytes:
        """The (memoised) ``Cache-Status`` member of a forwarded, unstored response."""
        member = self._forward_members.get((fwd, detail))
        if member is None:
            member = format_cache_status(self.cache_name, fwd=fwd, detail=detail).encode("latin-1")
            self._forward_members[(fwd, detail)] = member
        return member

    def forwarded_headers(self, headers: HeaderList, member: bytes) -> HeaderList:
        """The app's headers for a response the cache does not keep (bypass, unsafe
        method): the tag header stripped and the ``Cache-Status`` ``member`` added."""
        drop = self._not_sent
        out = [h for h in headers if h[0] not in drop] if drop else list(headers)
        return append_cache_status(out, member)

    # -- 1. the request -------------------------------------------------------------

    def plan(self, facts: RequestFacts) -> RequestPlan:
        """Decide what to do with a request before anything else happens."""
        headers = facts.headers
        method = facts.method
        if ("upgrade" in headers or "text/event-stream" in headers.get("accept", "")) and (
            method in SAFE_METHODS or method in _SAFE_UNCACHED
        ):
            # Websockets and event streams pass through; an unsafe request never does
            # (``Upgrade: h2c`` on a PUT): its success must still invalidate (§4.4).
            return RequestPlan(Action.PASS, facts)
        match = self._match(facts.path)
        if method not in SAFE_METHODS:
            if method in _SAFE_UNCACHED:
                # Safe methods (RFC 9110 §9.2.1) invalidate nothing (RFC 9111 §4.4):
                # a CORS preflight must not empty the cache.
                return RequestPlan(Action.BYPASS, facts, fwd="method", match=match)
            return self._plan_unsafe(facts, match)
        if match is not None and method not in match.rule.methods:
            # An invalidation-only rule listed first does not hide a caching rule.
            for other in self._rules.match_all(facts.path):
                if method in other.rule.methods:
                    match = other
                    break
        rule = match.rule if match is not None else None
        if rule is None:
            if not self.honor_cache_control:
                return RequestPlan(Action.BYPASS, facts, fwd="bypass", detail="no-rule")
        elif method not in rule.methods:
            return RequestPlan(Action.BYPASS, facts, fwd="method", match=match, rule=rule)
        if facts.has_body:
            return RequestPlan(Action.BYPASS, facts, fwd="bypass", detail="body", rule=rule)
        if "if-match" in headers or "if-unmodified-since" in headers:
            # RFC 9111 §4.3.2: preconditions meant for the origin are not evaluated by a
            # cache; the origin answers them.
            return RequestPlan(Action.BYPASS, facts, fwd="bypass", detail="precondition", rule=rule)
        cookie = headers.get("cookie")
        if (
            cookie
            and (rule is None or rule.cookies == "bypass")
            and not _cookies_ignorable(cookie, rule)
        ):
            return RequestPlan(Action.BYPASS, facts, fwd="bypass", detail="cookie", rule=rule)
        unkeyable = self.guard.check(facts, rule)
        if unkeyable is not None:
            return RequestPlan(Action.BYPASS, facts, fwd="bypass", detail=unkeyable, rule=rule)
        request_cc = None
        store_ok = method == "GET"
        if self.honor_request_cache_control:
            request_cc = parse_cache_control(headers.get("cache-control"))
            if request_cc.empty and "no-cache" in headers.get("pragma", ""):
                request_cc.no_cache = True  # §5.4: Pragma only without Cache-Control
            if request_cc.no_store:
                store_ok = False
        facts, rewrites = self.normaliser.apply(facts, rule)
        return RequestPlan(
            Action.LOOKUP,
            facts,
            match=match,
            rule=rule,
            key=self._key(facts, rule),
            request_cc=request_cc,
            authorized="authorization" in headers,
            store_ok=store_ok,
            rewrites=rewrites,
        )

    def _plan_unsafe(self, facts: RequestFacts, match: RuleMatch | None) -> RequestPlan:
        return RequestPlan(
            Action.INVALIDATE,
            facts,
            fwd="method",
            match=match,
            rule=match.rule if match is not None else None,
        )

    def invalidation(
        self, plan: RequestPlan, status: int, headers: Sequence[tuple[bytes, bytes]]
    ) -> Invalidation:
        """What a finished unsafe request invalidates (§4.4); empty for error answers.

        The target path, with ``invalidate_location`` the same-origin ``Location``
        and ``Content-Location`` paths of a 2xx answer, what the matching rules
        declare in ``invalidates`` (paths and tags), and the tags the app names in the
        tag header.
        """
        if status not in _UNSAFE_OK_STATUS:
            return Invalidation()
        facts = plan.facts
        paths = []
        matches = self._rules.match_all(facts.path)
        if self.honor_cache_control or any(m.rule.caches for m in matches):
            paths.append(facts.path)
        if self.invalidate_location and 200 <= status < 300:
            for field in (b"location", b"content-location"):
                uri = first_value(headers, field)
                if uri is not None:
                    path = self._same_origin_path(facts, uri.decode("latin-1"))
                    if path is not None:
                        paths.append(path)
        tags: list[str] = []
        for m in matches:
            rule = m.rule
            if facts.method in rule.methods or rule.methods <= SAFE_METHODS:
                for target in m.expand(rule.invalidates):
                    (paths if target.startswith("/") else tags).append(target)
        for tag_value in header_values(headers, self.tag_header):
            tags.extend(split_list(tag_value))
        return Invalidation(paths, tags)

    @staticmethod
    def _same_origin_path(facts: RequestFacts, uri: str) -> str | None:
        try:
            base = f"{facts.scheme}://{facts.host}{facts.path}"
            target = urlsplit(urljoin(base, uri.strip()))
        except ValueError:
            return None
        if target.scheme != facts.scheme:
            return None
        host = canonical_host(target.netloc, target.scheme)
        if host is None or host != canonical_host(facts.host, facts.scheme):
            return None
        return unquote(target.path or "/", errors="surrogateescape")

    # -- 2. the lookup --------------------------------------------------------------

    def judge(
        self, plan: RequestPlan, entry: Entry | None, now: float, *, variant: bool = False
    ) -> Verdict:
        """Judge the entry found for ``plan`` (``None``: nothing stored).

        ``variant=True`` when ``entry`` came from the secondary (``Vary``) key.
        """
        cc = plan.request_cc
        if entry is None:
            if cc is not None and cc.only_if_cached:
                return Verdict(VerdictKind.GATEWAY_TIMEOUT, detail="only-if-cached")
            return Verdict(VerdictKind.FORWARD, fwd="vary-miss" if variant else "uri-miss")
        if entry.vary and not self._vary_matches(entry, plan.facts):
            if not variant:
                names = [name for name, _ in entry.vary]
                return Verdict(
                    VerdictKind.NEED_VARIANT,
                    variant=variant_hash(names, plan.facts.headers, plan.facts.lines),
                )
            if cc is not None and cc.only_if_cached:
                return Verdict(VerdictKind.GATEWAY_TIMEOUT, detail="only-if-cached")
            return Verdict(VerdictKind.FORWARD, fwd="vary-miss")
        if plan.authorized and not entry.flags & FLAG_SHARED_AUTH:
            # §3.5: a shared entry answers an authenticated request only if it said so.
            return Verdict(VerdictKind.FORWARD, fwd="bypass", detail="authorization")
        age = entry.age(now)
        ttl = entry.fresh_for - age
        must_revalidate = bool(entry.flags & (FLAG_MUST_REVALIDATE | FLAG_NO_CACHE))
        fresh = ttl > 0
        #: The request's own max-age/min-fresh refuse the entry (§5.2.1.1, §5.2.1.3):
        #: neither max-stale nor stale-while-revalidate may then serve it.
        refused = False
        if cc is not None:
            if cc.no_cache:
                if cc.only_if_cached:
                    return Verdict(VerdictKind.GATEWAY_TIMEOUT, detail="only-if-cached")
                if _has_validator(entry):
                    return Verdict(VerdictKind.REVALIDATE, entry, fwd="request")
                return Verdict(VerdictKind.FORWARD, entry, fwd="request")
            if cc.max_age is not None and (cc.max_age == INVALID or age > cc.max_age):
                fresh = False
                refused = True
            if fresh and cc.min_fresh is not None and ttl < max(cc.min_fresh, 0):
                fresh = False
                refused = True
        if entry.flags & FLAG_NO_CACHE:
            fresh = False
        if fresh:
            rule = plan.rule
            if (
                rule is not None
                and rule.refresh_ahead is not None
                and age >= entry.fresh_for * rule.refresh_ahead
            ):
                return Verdict(VerdictKind.REFRESH_AHEAD, entry, detail="refresh-ahead")
            return Verdict(VerdictKind.FRESH, entry)
        staleness = -ttl
        if (
            cc is not None
            and not must_revalidate
            and not refused
            and (cc.max_stale_any or (cc.max_stale is not None and staleness <= cc.max_stale))
        ):
            return Verdict(VerdictKind.FRESH, entry, detail="max-stale")
        if cc is not None and cc.only_if_cached:
            return Verdict(VerdictKind.GATEWAY_TIMEOUT, detail="only-if-cached")
        stale_ok = not must_revalidate and ttl <= 0 and entry.sie > 0 and staleness <= entry.sie
        if (
            not must_revalidate
            and not refused
            and ttl <= 0
            and entry.swr > 0
            and staleness <= entry.swr
        ):
            return Verdict(
                VerdictKind.STALE_WHILE_REVALIDATE, entry, detail="stale-while-revalidate"
            )
        # RFC 9211 §2.2: "request" when only the request's directives stood in the way.
        fwd = "request" if refused and ttl > 0 else "stale"
        if _has_validator(entry):
            return Verdict(VerdictKind.REVALIDATE, entry, fwd=fwd, stale_ok=stale_ok)
        return Verdict(VerdictKind.FORWARD, entry, fwd=fwd, stale_ok=stale_ok)

    @staticmethod
    def _vary_matches(entry: Entry, facts: RequestFacts) -> bool:
        headers, lines = facts.headers, facts.lines
        return all(field_value(headers, name, lines) == stored for name, stored in entry.vary)

    @staticmethod
    def conditional_headers(entry: Entry) -> HeaderList:
        """The validators to send the app when revalidating ``entry`` (§4.3.1)."""
        out: HeaderList = []
        if entry.etag is not None and not entry.flags & FLAG_GENERATED_ETAG:
            out.append((b"if-none-match", entry.etag))
        last_modified = entry.header(b"last-modified")
        if last_modified is not None:
            out.append((b"if-modified-since", last_modified))
        return out

    # -- 3. the app's response ------------------------------------------------------

    def on_response(
        self,
        plan: RequestPlan,
        status: int,
        headers: HeaderList,
        *,
        request_time: float,
        response_time: float,
        fwd: str = "uri-miss",
        fwd_status: int | None = None,
        collapsed: bool = False,
        detail: str | None = None,
    ) -> ResponsePlan:
        """Decide whether to keep the response and what headers go to the client.

        ``fwd`` names why the request was forwarded (``uri-miss``, ``vary-miss``,
        ``stale``, ``bypass``...), for ``Cache-Status``.
        """
        drop = self._not_sent
        out = [h for h in headers if h[0] not in drop] if drop else list(headers)
        rp = ResponsePlan(status, out, response_time)
        content_type = first_value(headers, b"content-type")
        if content_type is not None and content_type.startswith(b"text/event-stream"):
            rp.passthrough = True
            rp.headers = list(headers)
            return rp
        # No Date of ours: the server adds the one Date line (see _replayed).
        if plan.store_ok and plan.key is not None:
            rp.detail = self._storable(plan, rp, headers, request_time, response_time)
            rp.store = rp.detail is None
        elif plan.head:
            rp.detail = "head"
        else:
            rp.detail = detail or "request-no-store"
        if detail is not None and rp.detail is None:
            rp.detail = detail
        member = self.status_member(
            plan,
            fwd=fwd,
            fwd_status=fwd_status,
            stored=rp.store,
            collapsed=collapsed,
            detail=rp.detail,
        )
        append_cache_status(out, member.encode("latin-1"))
        return rp

    def _storable(
        self,
        plan: RequestPlan,
        rp: ResponsePlan,
        headers: HeaderList,
        request_time: float,
        response_time: float,
    ) -> str | None:
        """Fill ``rp`` for storing; return why the response may not be stored, or None."""
        status = rp.status
        rule = plan.rule
        # §3.3 is about incomplete responses: a 206. Content-Range has no meaning on a
        # 200 (RFC 9110 §14.4), whose body is the complete representation.
        if status == 206:
            return "partial"
        targeted = self.targets.select(headers)
        cc = parse_cache_control(
            targeted if targeted is not None else header_values(headers, b"cache-control")
        )
        if cc.must_understand:
            # §5.2.2.3: no-store yields to must-understand for statuses we understand.
            if status not in _UNDERSTOOD:
                return "must-understand"
        elif cc.no_store:
            return "no-store"
        if cc.private and not cc.private_fields:
            return "private"
        # Fields the entry leaves out: private="..." (§5.2.2.7), and no-cache="..."
        # (§5.2.2.4: the rest of the response is reusable without revalidation).
        private_fields = frozenset(
            f.encode("latin-1") for f in (*cc.private_fields, *cc.no_cache_fields)
        )
        if b"set-cookie" not in private_fields and first_value(headers, b"set-cookie") is not None:
            return "set-cookie"
        vary_names: list[str] = []
        for value in header_values(headers, b"vary"):
            vary_names.extend(v.lower() for v in split_list(value))
        if "*" in vary_names:
            return "vary-star"
        if plan.authorized and not (cc.public or cc.s_maxage is not None or cc.must_revalidate):
            return "authorization"
        # RFC 9213 §2.2: a targeted field replaces Expires as well as Cache-Control.
        explicit = explicit_freshness(cc, headers, response_time, targeted is None)
        if rule is not None:
            if status not in rule.cache_statuses:
                return "status"
        elif status not in _HEURISTIC_STATUSES and explicit is None and not cc.public:
            return "status"
        if not 200 <= status < 600 or status == 304:
            return "status"
        limit = rule.max_body_size if rule is not None else self.max_body_size
        length = first_value(headers, b"content-length")
        declared = None if length is None else parse_uint(length.strip(), limit + 1)
        if declared is not None:
            if declared > limit:
                return "too-large"  # known up front: do not announce "stored"
            rp.content_length = declared
        # Freshness lifetime (§4.2.1): explicit > rule ttl > default > heuristic.
        jitter = 0.0
        if explicit is not None and not (
            rule is not None and rule.override and rule.ttl is not None
        ):
            fresh_for = explicit
        elif rule is not None and (rule.ttl is not None or self.default_ttl is not None):
            fresh_for = rule.ttl if rule.ttl is not None else self.default_ttl or 0.0
            jitter = rule.jitter
        elif rule is None and cc.public and self.default_ttl is not None:
            fresh_for = self.default_ttl
        elif (
            self.heuristic_freshness
            or (self.heuristic_freshness is None and self.honor_cache_control and not self._rules)
        ) and (heuristic := heuristic_lifetime(headers, response_time)) is not None:
            fresh_for = heuristic
        elif cc.no_cache and not cc.no_cache_fields:
            fresh_for = 0.0  # §5.2.2.4: validated before every reuse, whatever its lifetime
        else:
            return "no-freshness"
        if jitter and fresh_for > 0:
            fresh_for *= 1.0 + random.uniform(-jitter, jitter)
        etag = first_value(headers, b"etag")
        has_validator = etag is not None or first_value(headers, b"last-modified") is not None
        flags = 0
        if cc.no_cache and not cc.no_cache_fields:
            flags |= FLAG_NO_CACHE
        if cc.must_revalidate or cc.proxy_revalidate or cc.s_maxage is not None:
            flags |= FLAG_MUST_REVALIDATE
        if cc.public or cc.s_maxage is not None or cc.must_revalidate:
            flags |= FLAG_SHARED_AUTH
        swr = _window(cc.stale_while_revalidate, rule.stale_while_revalidate if rule else 0.0)
        sie = _window(cc.stale_if_error, rule.stale_if_error if rule else self.stale_if_error)
        if flags & FLAG_MUST_REVALIDATE:
            swr = sie = 0.0
        initial_age = corrected_initial_age(headers, request_time, response_time)
        storage = fresh_for - initial_age + max(swr, sie)
        if flags & FLAG_NO_CACHE or (
            fresh_for <= initial_age and has_validator and flags & FLAG_MUST_REVALIDATE
        ):
            if not has_validator:
                return "no-cache"
            keep = (
                fresh_for
                if fresh_for > 0
                else (
                    rule.ttl
                    if rule is not None and rule.ttl
                    else self.default_ttl or _VALIDATION_KEEP_MIN
                )
            )
            storage = max(storage, keep)
        elif has_validator and fresh_for > initial_age:
            # §4.3: an entry the origin can validate outlives its freshness for a while,
            # so that it is revalidated (usually a cheap 304) rather than fetched again.
            keep = min(max(fresh_for, _VALIDATION_KEEP_MIN), _VALIDATION_KEEP_MAX)
            storage = max(storage, fresh_for - initial_age + keep)
        if storage <= 0:
            return "stale"
        stored: HeaderList = []
        for field, raw in headers:
            if field in _NOT_STORED or field in private_fields or field in self._not_kept:
                continue
            stored.append((field, raw))
        connection = header_values(headers, b"connection")
        if connection:
            drop = {n.lower().encode("latin-1") for n in split_list(connection)}
            stored = [h for h in stored if h[0] not in drop]
        if first_value(stored, b"date") is None:
            stored.append((b"date", format_http_date(response_time).encode()))
        tags: list[str] = []
        if rule is not None and rule.tags and plan.match is not None:
            tags.extend(plan.match.expand(rule.tags))
        for value in header_values(headers, self.tag_header):
            tags.extend(split_list(value))
        rp.stored_headers = stored
        rp.fresh_for = fresh_for
        rp.initial_age = initial_age
        rp.swr, rp.sie = swr, sie
        rp.flags = flags
        rp.etag = etag
        rp.generate_etag = etag is None and 200 <= status < 300
        rp.tags = tuple(dict.fromkeys(tags))
        rp.vary = tuple(
            (n, field_value(plan.facts.headers, n, plan.facts.lines))
            for n in dict.fromkeys(vary_names)
            if rule is None or n not in rule.vary
        )
        rp.max_body_size = rule.max_body_size if rule is not None else self.max_body_size
        rp.storage_ttl = storage
        return None

    def freshen(
        self,
        plan: RequestPlan,
        entry: Entry,
        headers: HeaderList,
        *,
        request_time: float,
        response_time: float,
    ) -> ResponsePlan:
        """Merge a ``304`` from the app into the stored entry (§4.3.4, §3.2).

        Returns the plan for the updated entry: ``store`` is False when the merged
        response may no longer be stored (then the entry must not be reused).
        """
        if first_value(headers, b"date") is None:
            # RFC 9110 §6.6.1: the 304 is dated when received; keeping the old Date
            # would age the refreshed entry by the old response's age.
            headers = [*headers, (b"date", format_http_date(response_time).encode())]
        updates = {k for k, _ in headers if k not in _NO_UPDATE_FROM_304}
        merged = [h for h in entry.headers if h[0] not in updates]
        merged.extend(h for h in headers if h[0] in updates)
        if entry.etag is not None and entry.flags & FLAG_GENERATED_ETAG:
            merged = [h for h in merged if h[0] != b"etag"]
        rp = ResponsePlan(entry.status, merged, response_time)
        rp.detail = self._storable(plan, rp, merged, request_time, response_time)
        rp.store = rp.detail is None
        if not rp.store:
            # Not stored again, but this request is still answered from the merged
            # response: keep its fields (``_storable`` filled none).
            rp.stored_headers = [h for h in merged if h[0] not in self._not_kept]
        if rp.store and entry.flags & FLAG_GENERATED_ETAG:
            rp.etag = entry.etag
            rp.generate_etag = False
            rp.flags |= FLAG_GENERATED_ETAG
            rp.stored_headers.append((b"etag", entry.etag or b""))
        return rp

    # -- 4. replaying an entry ------------------------------------------------------

    def serve(
        self,
        plan: RequestPlan,
        entry: Entry,
        now: float,
        *,
        hit: bool = True,
        fwd: str | None = None,
        fwd_status: int | None = None,
        stored: bool = False,
        collapsed: bool = False,
        detail: str | None = None,
    ) -> Served:
        """The response to send for ``entry``: full, ``304`` or bodiless for ``HEAD``."""
        age = entry.age(now)
        ttl = entry.fresh_for - age
        if hit and not (fwd or fwd_status or stored or collapsed or self.debug):
            # The common hit: its member depends on the rounded ttl and detail only.
            memo = (round(ttl), detail)
            member = self._hit_members.get(memo)
            if member is None:
                member = format_cache_status(
                    self.cache_name, hit=True, ttl=ttl, detail=detail
                ).encode("latin-1")
                if len(self._hit_members) >= _MEMO_SIZE:
                    self._hit_members.clear()
                self._hit_members[memo] = member
        else:
            member = self.status_member(
                plan,
                hit=hit,
                fwd=fwd,
                fwd_status=fwd_status,
                ttl=ttl if hit else None,
                stored=stored,
                collapsed=collapsed,
                detail=detail,
            ).encode("latin-1")
        age_value = str(int(age)).encode()
        request_headers = plan.facts.headers
        if (
            ("if-none-match" in request_headers or "if-modified-since" in request_headers)
            and 200 <= entry.status < 300
            and self._not_modified(request_headers, entry)
        ):
            headers = [
                h
                for h in entry.headers
                if h[0] in _NOT_MODIFIED_FIELDS or (h[0] == b"last-modified" and entry.etag is None)
            ]
            headers += ((b"age", age_value), (b"cache-status", member))
            return Served(304, headers, b"")
        if "range" in request_headers and entry.status == 200 and not plan.head:
            ranged = _ranged(request_headers, entry, age_value, member)
            if ranged is not None:
                return ranged
        # Stored headers never hold Cache-Status or Age (they are not stored).
        if entry.status != 204:  # RFC 9110 §8.6: never a Content-Length on a 204
            headers = [
                *_replayed(entry),
                (b"content-length", str(len(entry.body)).encode()),
                (b"age", age_value),
                (b"cache-status", member),
            ]
        else:
            headers = [*_replayed(entry), (b"age", age_value), (b"cache-status", member)]
        return Served(entry.status, headers, b"" if plan.head else entry.body)

    @staticmethod
    def _not_modified(request_headers: Mapping[str, str], entry: Entry) -> bool:
        """Evaluate the client's ``If-None-Match``/``If-Modified-Since`` (RFC 9110 §13.2.2)."""
        inm = request_headers.get("if-none-match")
        if inm is not None:
            tags = parse_etag_list(inm)
            if tags is None or entry.etag is None:
                return False
            return etag_matches(entry.etag.decode("latin-1"), tags, weak=True)
        ims = request_headers.get("if-modified-since")
        if ims is None:
            return False
        since = parse_http_date(ims)
        if since is None:
            return False
        raw = entry.header(b"last-modified") or entry.header(b"date")
        modified = parse_http_date(raw.decode("latin-1")) if raw is not None else entry.stored_at
        return modified is not None and modified <= since

    def gateway_timeout(self, plan: RequestPlan) -> Served:
        """The ``504`` for ``only-if-cached`` with nothing usable stored (§5.2.1.7)."""
        member = self.status_member(plan, fwd="miss", detail="only-if-cached")
        return Served(
            504,
            [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"0"),
                (b"cache-status", member.encode("latin-1")),
            ],
            b"",
        )


#: Bound of the per-path rule-match and key memos.
_MEMO_SIZE: Final = 4096
_HEURISTIC_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})


def _ranged(
    request_headers: Mapping[str, str], entry: Entry, age_value: bytes, member: bytes
) -> Served | None:
    """A ``206`` or ``416`` for a ``Range`` request on a stored complete ``200``
    (RFC 9110 §14.2, §15.3.7), or ``None`` to send the whole response."""
    body = entry.body
    selected = select_range(request_headers["range"], len(body))
    if selected is None:
        return None
    if_range = request_headers.get("if-range")
    if if_range is not None and not if_range_holds(
        if_range, entry.etag, entry.header(b"last-modified"), entry.header(b"date")
    ):
        return None  # §13.1.5: the representation changed, send all of it
    total = len(body)
    if selected == UNSATISFIABLE:
        return Served(
            416,
            [
                (b"content-range", b"bytes */%d" % total),
                (b"content-length", b"0"),
                (b"age", age_value),
                (b"cache-status", member),
            ],
            b"",
        )
    first, last = selected
    headers = [h for h in entry.headers if h[0] != b"content-range"]
    headers += (
        (b"content-range", b"bytes %d-%d/%d" % (first, last, total)),
        (b"content-length", b"%d" % (last - first + 1)),
        (b"age", age_value),
        (b"cache-status", member),
    )
    return Served(206, headers, body[first : last + 1])


def _has_validator(entry: Entry) -> bool:
    """True when the app can validate the entry (an ETag of its own, or Last-Modified)."""
    if entry.etag is not None and not entry.flags & FLAG_GENERATED_ETAG:
        return True
    return entry.header(b"last-modified") is not None


def _window(directive: int | None, configured: float) -> float:
    """A stale window: the response's directive when valid, else the rule's."""
    if directive is None or directive == INVALID:
        return configured
    return float(directive)


def _replayed(entry: Entry) -> HeaderList:
    """The stored fields a hit sends: all but ``Date``. ``Date`` is a singleton field
    (RFC 9110 §6.6.1) and servers add their own (uvicorn, hypercorn: always; gunicorn
    drops the app's; werkzeug, waitress, wsgiref: when there is none), so the server's
    current date goes out and the entry's age is told by ``Age``. The stored ``Date``
    stays in the entry (age, ``If-Modified-Since``). Computed once per decoded entry
    (hot entries are decoded once per write)."""
    replayed = entry.replayed
    if replayed is None:
        replayed = entry.replayed = [h for h in entry.headers if h[0] != b"date"]
    return replayed


def _cookies_ignorable(cookie: str, rule: Rule | None) -> bool:
    """True when every cookie is ignored by the rule or keyed on by ``vary_cookies``."""
    if rule is None:
        pattern = _DEFAULT_IGNORED
        vary: tuple[str, ...] = ()
    else:
        pattern = rule.ignore_cookies_re
        vary = rule.vary_cookies
    for name in cookie_names(cookie):
        if name in vary:
            continue
        if pattern is None or not pattern.match(name):
            return False
    return True


_DEFAULT_IGNORED: Final = compile_globs(DEFAULT_IGNORED_COOKIES, "ignore_cookies")
