"""Per-route cache rules: what is cached, for how long, and keyed on what.

A :class:`Rule` pairs a route template with options. Templates use the Starlette
syntax (``/items/{id}``, ``/items/{id:int}``, ``/files/{rest:path}``), the Flask/Django
syntax (``/items/<int:id>``) or end in a ``*`` glob (``/static/*``). Every option is
validated when the rule is built, so a bad rule fails at start-up with a message that
names the option. A :class:`RuleSet` compiles all templates into one regular
expression, matched once per request; the first rule in order wins.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from .errors import CheckedOptions, ConfigurationError, check_options, invalid
from .vary_normalise import codings_option, languages_option

__all__ = [
    "DEFAULT_CACHE_STATUSES",
    "DEFAULT_IGNORED_COOKIES",
    "DEFAULT_MAX_BODY_SIZE",
    "RoutedRuleSet",
    "Rule",
    "RuleMatch",
    "RuleSet",
    "check_rule_options",
    "compile_globs",
    "decorator_options",
]

#: RFC 9110 §15.1: status codes heuristically cacheable by default.
DEFAULT_CACHE_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
#: Analytics cookies that never make a page personal (Google Analytics, Meta, Hotjar...).
DEFAULT_IGNORED_COOKIES: Final = (
    "_ga",
    "_ga_*",
    "_gid",
    "_gat",
    "_gat_*",
    "_gcl_*",
    "__utm*",
    "_fbp",
    "_fbc",
    "_hj*",
    "_pk_*",
    "_uetsid",
    "_uetvid",
)
#: Largest body kept for storage by default; larger responses stream through unstored.
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONVERTERS: Final = {
    "str": r"[^/]+",
    "string": r"[^/]+",
    "path": r".*",
    "int": r"[0-9]+",
    "float": r"[0-9]+(?:\.[0-9]+)?",
    "slug": r"[-a-zA-Z0-9_]+",
    "uuid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}|<([^<>]*)>")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COOKIE_MODES: Final = ("bypass", "ignore")
#: ``params=[]``: no query parameter is part of the key.
_MATCH_NOTHING: Final = re.compile(r"(?!)")


def compile_globs(patterns: Iterable[str], setting: str) -> re.Pattern[str] | None:
    """One regex matching any of the shell-style globs (``utm_*``); ``None`` if empty."""
    parts = []
    for pattern in _strings(patterns, setting):
        parts.append(fnmatch.translate(pattern))
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts))


def _strings(values: Any, setting: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{setting} must be a list of strings, got {values!r}")
    out = tuple(values)
    for v in out:
        if not isinstance(v, str) or not v:
            raise ConfigurationError(f"{setting} must hold non-empty strings, got {v!r}")
    return out


def _seconds(value: Any, setting: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{setting} must be a number of seconds, got {value!r}")
    if value < 0 or value != value:
        raise ConfigurationError(f"{setting} must not be negative, got {value!r}")
    if value == float("inf"):
        # An entry that never expires cannot be stored (Redis needs a finite PX).
        raise ConfigurationError(f"{setting} must be a finite number of seconds, got {value!r}")
    return float(value)


def _template_regex(path: str) -> tuple[str, tuple[str, ...]]:
    """Translate a route template into a regex body and its parameter names."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"Rule path must be a string starting with '/', got {path!r}")
    glob = path.endswith("*")
    if glob:
        path = path[:-1]
    if "*" in path:
        raise ConfigurationError(f"Rule path {path!r}: '*' is only allowed at the end")
    names: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(path):
        out.append(re.escape(path[pos : m.start()]))
        pos = m.end()
        if m.group(1) is not None:
            name, _, conv = m.group(1).partition(":")
        else:
            conv, _, name = m.group(2).rpartition(":")
        name, conv = name.strip(), (conv.strip() or "str")
        if not _NAME.match(name):
            raise ConfigurationError(f"Rule path {path!r}: bad parameter name {name!r}")
        if conv not in _CONVERTERS:
            raise ConfigurationError(
                f"Rule path {path!r}: unknown converter {conv!r} "
                f"(known: {', '.join(sorted(_CONVERTERS))})"
            )
        if name in names:
            raise ConfigurationError(f"Rule path {path!r}: parameter {name!r} appears twice")
        names.append(name)
        out.append(f"(?P<{name}>{_CONVERTERS[conv]})")
    rest = path[pos:]
    if any(c in rest for c in "{}<>"):
        raise ConfigurationError(f"Rule path {path!r}: unbalanced '{{' or '<'")
    out.append(re.escape(rest))
    if glob:
        out.append(".*")
    return "".join(out), tuple(names)


def _check_template_fields(
    templates: tuple[str, ...], names: tuple[str, ...], setting: str
) -> None:
    for template in templates:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ConfigurationError(f"{setting}: bad template {template!r}: {exc}") from None
        for f in fields:
            if f not in names:
                raise ConfigurationError(
                    f"{setting}: template {template!r} uses {{{f}}}, "
                    f"which is not a parameter of the rule's path"
                )


class Rule(CheckedOptions):
    """How one route is cached.

    Args:
        path: route template: ``/items/{id}``, ``/files/{rest:path}``, ``/static/*``.
        ttl: seconds a response stays fresh where the app's own ``Cache-Control`` /
            ``Expires`` says nothing (``None``: the driver's ``default_ttl``).
        methods: methods the rule applies to. ``GET`` implies ``HEAD`` (answered from
            the GET entry); unsafe methods listed here make the rule an invalidation
            rule for them (see ``invalidates``).
        vary: request headers the response depends on; part of the primary key, so no
            extra round trip is needed to find the variant.
        params: only these query parameters (names or globs) are part of the key;
            ``None`` keeps all of them.
        ignore_params: query parameters dropped from the key (``utm_*``).
        cookies: ``"bypass"`` (default): a request with a cookie that is neither ignored
            nor in ``vary_cookies`` bypasses the cache; ``"ignore"``: the route is the same
            for everyone, cookies are not looked at.
        ignore_cookies: cookie names (globs) that never make a page personal; defaults
            to well-known analytics cookies.
        vary_cookies: cookies whose values are part of the key (per-user entries on
            purpose, e.g. ``["lang"]``).
        tags: tags of stored entries, templated from path parameters (``"item:{id}"``).
        invalidates: what a successful unsafe request on this route invalidates: paths
            (starting with ``/``) and tags, templated from path parameters.
        override: the rule's ``ttl`` wins over the app's ``max-age``/``s-maxage``/``Expires``.
        stale_while_revalidate: seconds past expiry during which a stale entry is served
            while one worker refreshes it in the background.
        stale_if_error: seconds past expiry during which a stale entry is served when the
            app raises or answers 5xx.
        refresh_ahead: fraction of the TTL (0 < x < 1) after which a hit triggers one
            background refresh, so hot keys never expire into a miss.
        jitter: spread each rule-given TTL by up to ``+/- jitter`` (0 <= x < 1).
        cache_statuses: status codes that may be stored.
        max_body_size: larger bodies stream through without being stored.
        normalize_accept_encoding: ``None`` (the driver's setting), ``False`` (off),
            ``True`` (``gzip``) or the content-codings the app produces: the request's
            ``Accept-Encoding`` is replaced by the best of them (or ``identity``) for
            the key, the ``Vary`` variants and the view alike.
        normalize_accept_language: ``None`` (the driver's setting), ``False`` (off) or
            the language tags the app serves, the default first: ``Accept-Language``
            is replaced by the best match (RFC 4647 lookup).
    """

    __slots__ = (
        "cache_statuses",
        "compiled",
        "cookies",
        "ignore_cookies",
        "ignore_cookies_re",
        "ignore_params",
        "ignore_params_re",
        "invalidates",
        "jitter",
        "max_body_size",
        "methods",
        "normalize_accept_encoding",
        "normalize_accept_language",
        "override",
        "param_names",
        "params",
        "params_re",
        "path",
        "refresh_ahead",
        "regex",
        "stale_if_error",
        "stale_while_revalidate",
        "tags",
        "ttl",
        "vary",
        "vary_cookies",
    )

    @classmethod
    def _describe(cls, args: tuple[Any, ...], options: Mapping[str, Any]) -> str:
        return f"Rule({(args[0] if args else options.get('path'))!r})"

    def __init__(
        self,
        path: str,
        *,
        ttl: float | None = None,
        methods: Iterable[str] = ("GET", "HEAD"),
        vary: Iterable[str] = (),
        params: Iterable[str] | None = None,
        ignore_params: Iterable[str] = (),
        cookies: str = "bypass",
        ignore_cookies: Iterable[str] = DEFAULT_IGNORED_COOKIES,
        vary_cookies: Iterable[str] = (),
        tags: Iterable[str] = (),
        invalidates: Iterable[str] = (),
        override: bool = False,
        stale_while_revalidate: float = 0,
        stale_if_error: float = 0,
        refresh_ahead: float | None = None,
        jitter: float = 0,
        cache_statuses: Iterable[int] = DEFAULT_CACHE_STATUSES,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        normalize_accept_encoding: bool | Iterable[str] | None = None,
        normalize_accept_language: Literal[False] | Iterable[str] | None = None,
    ) -> None:
        self.path = path
        self.regex, self.param_names = _template_regex(path)
        self.compiled = re.compile(self.regex)
        where = f"Rule({path!r})"
        self.ttl = _seconds(ttl, f"{where}: ttl", allow_none=True)
        meths = tuple(m.upper() for m in _strings(methods, f"{where}: methods"))
        for m in meths:
            if not _TOKEN.match(m):
                raise invalid(where, "methods", "HTTP method names", m)
        if "GET" in meths and "HEAD" not in meths:
            meths += ("HEAD",)
        if not meths:
            raise invalid(where, "methods", "a non-empty list of HTTP methods", methods)
        self.methods = frozenset(meths)
        self.vary = tuple(v.lower() for v in _strings(vary, f"{where}: vary"))
        for v in self.vary:
            if not _TOKEN.match(v):
                raise invalid(where, "vary", "a list of header names", v)
        self.params = None if params is None else _strings(params, f"{where}: params")
        self.params_re = (
            None if params is None else compile_globs(params, f"{where}: params") or _MATCH_NOTHING
        )
        self.ignore_params = _strings(ignore_params, f"{where}: ignore_params")
        self.ignore_params_re = compile_globs(ignore_params, f"{where}: ignore_params")
        if cookies not in _COOKIE_MODES:
            raise ConfigurationError(
                f"{where}: cookies must be 'bypass' or 'ignore', got {cookies!r}"
            )
        self.cookies = cookies
        self.ignore_cookies = _strings(ignore_cookies, f"{where}: ignore_cookies")
        self.ignore_cookies_re = compile_globs(ignore_cookies, f"{where}: ignore_cookies")
        self.vary_cookies = _strings(vary_cookies, f"{where}: vary_cookies")
        self.tags = _strings(tags, f"{where}: tags")
        _check_template_fields(self.tags, self.param_names, f"{where}: tags")
        self.invalidates = _strings(invalidates, f"{where}: invalidates")
        _check_template_fields(self.invalidates, self.param_names, f"{where}: invalidates")
        if not isinstance(override, bool):
            raise invalid(where, "override", "True or False", override)
        self.override = override
        swr = _seconds(stale_while_revalidate, f"{where}: stale_while_revalidate")
        sie = _seconds(stale_if_error, f"{where}: stale_if_error")
        assert swr is not None
        assert sie is not None
        self.stale_while_revalidate, self.stale_if_error = swr, sie
        if refresh_ahead is not None and (
            isinstance(refresh_ahead, bool)
            or not isinstance(refresh_ahead, (int, float))
            or not 0 < refresh_ahead < 1
        ):
            raise ConfigurationError(
                f"{where}: refresh_ahead must be a fraction of the TTL between 0 and 1, "
                f"got {refresh_ahead!r}"
            )
        self.refresh_ahead = None if refresh_ahead is None else float(refresh_ahead)
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter < 1:
            raise ConfigurationError(f"{where}: jitter must be between 0 and 1, got {jitter!r}")
        self.jitter = float(jitter)
        statuses = tuple(cache_statuses) if isinstance(cache_statuses, Iterable) else None
        if statuses is None or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
        ):
            raise ConfigurationError(
                f"{where}: cache_statuses must be HTTP status codes, got {cache_statuses!r}"
            )
        self.cache_statuses = frozenset(statuses)
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 0
        ):
            raise ConfigurationError(
                f"{where}: max_body_size must be a number of bytes, got {max_body_size!r}"
            )
        self.max_body_size = max_body_size
        # None: the driver's setting; an empty tuple: off for this rule.
        self.normalize_accept_encoding = (
            None
            if normalize_accept_encoding is None
            else codings_option(normalize_accept_encoding, "normalize_accept_encoding", where) or ()
        )
        self.normalize_accept_language = (
            None
            if normalize_accept_language is None
            else languages_option(normalize_accept_language, "normalize_accept_language", where)
            or ()
        )

    @classmethod
    def from_dict(cls, options: Mapping[str, Any], *, setting: str = "rule") -> Rule:
        """Build a rule from a settings dict (Django ``RULES``, Flask ``ROUTECACHE_RULES``).

        Unknown keys raise :class:`ConfigurationError` naming ``setting`` and the key.
        """
        if isinstance(options, Rule):
            return options
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{setting} must be a dict of Rule options, got {options!r}")
        opts = dict(options)
        if "path" not in opts:
            raise ConfigurationError(f"{setting} needs a 'path'")
        path = opts.pop("path")
        check_rule_options(opts, setting=setting)
        try:
            return cls(path, **opts)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{setting}: {exc}") from None

    def replace(self, **changes: Any) -> Rule:
        """A copy of this rule with some options changed (``path`` included)."""
        opts = self.options()
        opts.update(changes)
        return Rule(**opts)

    def options(self) -> dict[str, Any]:
        """The rule's constructor arguments, ``path`` included."""
        return {
            "path": self.path,
            "ttl": self.ttl,
            "methods": tuple(sorted(self.methods)),
            "vary": self.vary,
            "params": self.params,
            "ignore_params": self.ignore_params,
            "cookies": self.cookies,
            "ignore_cookies": self.ignore_cookies,
            "vary_cookies": self.vary_cookies,
            "tags": self.tags,
            "invalidates": self.invalidates,
            "override": self.override,
            "stale_while_revalidate": self.stale_while_revalidate,
            "stale_if_error": self.stale_if_error,
            "refresh_ahead": self.refresh_ahead,
            "jitter": self.jitter,
            "cache_statuses": tuple(sorted(self.cache_statuses)),
            "max_body_size": self.max_body_size,
            "normalize_accept_encoding": _setting(self.normalize_accept_encoding),
            "normalize_accept_language": _setting(self.normalize_accept_language),
        }

    @property
    def caches(self) -> bool:
        """True when the rule caches responses (it applies to GET)."""
        return "GET" in self.methods

    def keep_param(self, name: str) -> bool:
        """Whether query parameter ``name`` is part of the key under this rule."""
        if self.params_re is not None and not self.params_re.match(name):
            return False
        return self.ignore_params_re is None or not self.ignore_params_re.match(name)

    def __repr__(self) -> str:
        return f"Rule({self.path!r}, ttl={self.ttl!r}, methods={sorted(self.methods)!r})"


def _setting(value: tuple[str, ...] | None) -> tuple[str, ...] | bool | None:
    # The constructor's spelling of a normalisation setting: () is off.
    return False if value == () else value


_OPTION_NAMES: Final = frozenset(inspect.signature(Rule).parameters) - {"path"}


def check_rule_options(options: Mapping[str, Any], *, setting: str) -> None:
    """Raise :class:`ConfigurationError` if ``options`` has a key ``Rule`` does not take."""
    check_options(setting, options, _OPTION_NAMES)


class RuleMatch:
    """A rule that matched a request path, with the path's parameters."""

    __slots__ = ("params", "rule")

    def __init__(self, rule: Rule, params: dict[str, str]) -> None:
        self.rule = rule
        self.params = params

    def expand(self, templates: Sequence[str]) -> list[str]:
        """Fill ``{name}`` placeholders of tag or path templates with the path params."""
        if not self.params:
            return list(templates)
        return [t.format_map(self.params) for t in templates]


class RuleSet:
    """Rules compiled into one regular expression; the first matching rule wins."""

    __slots__ = ("_by_group", "_regex", "rules")

    def __init__(
        self, rules: Iterable[Rule | Mapping[str, Any]], *, setting: str = "rules"
    ) -> None:
        if isinstance(rules, (str, bytes, Rule)) or not isinstance(rules, Iterable):
            raise ConfigurationError(f"{setting} must be a list of Rule objects, got {rules!r}")
        built = []
        for i, r in enumerate(rules):
            if isinstance(r, Rule):
                built.append(r)
            elif isinstance(r, Mapping):
                built.append(Rule.from_dict(r, setting=f"{setting}[{i}]"))
            else:
                raise ConfigurationError(f"{setting}[{i}] must be a Rule or a dict, got {r!r}")
        self.rules: tuple[Rule, ...] = tuple(built)
        self._by_group: dict[int, tuple[Rule, tuple[tuple[str, int], ...]]] = {}
        alternatives = []
        group = 1
        for n, rule in enumerate(self.rules):
            body = rule.regex.replace("(?P<", f"(?P<r{n}_")
            alternatives.append(f"({body})")
            outer = group
            inner = []
            # Each named parameter is one capturing group after the outer one.
            for k, name in enumerate(rule.param_names, start=1):
                inner.append((name, outer + k))
            self._by_group[outer] = (rule, tuple(inner))
            group = outer + 1 + len(rule.param_names)
        self._regex = re.compile("|".join(alternatives)) if alternatives else None

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def match(self, path: str) -> RuleMatch | None:
        """The first rule whose template matches ``path`` (whatever its methods)."""
        if self._regex is None:
            return None
        m = self._regex.fullmatch(path)
        if m is None:
            return None
        rule, inner = self._by_group[m.lastindex or 0]
        return RuleMatch(rule, {name: m.group(i) for name, i in inner} if inner else {})

    def match_all(self, path: str) -> list[RuleMatch]:
        """Every rule whose template matches ``path``, in order."""
        found = []
        for rule in self.rules:
            m = rule.compiled.fullmatch(path)
            if m is not None:
                found.append(RuleMatch(rule, m.groupdict()))
        return found


def decorator_options(options: Mapping[str, Any], *, setting: str) -> dict[str, Any]:
    """Check the options of a route decorator (``@cache_route``, ``@cache.route``)
    before the route's path is known; returns them with one-shot iterables made tuples.

    Unknown names and bad values raise :class:`ConfigurationError` naming ``setting``:
    a throw-away rule is built on a stand-in path with one parameter per field that
    the ``tags``/``invalidates`` templates use. A template naming a parameter the real
    route lacks is reported when the route is known.
    """
    check_rule_options(options, setting=setting)
    checked = dict(options)
    for name, value in checked.items():
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
            checked[name] = tuple(value)
    fields: list[str] = []
    for name in ("tags", "invalidates"):
        templates = checked.get(name)
        if not isinstance(templates, tuple):
            continue
        for template in templates:
            if not isinstance(template, str):
                continue
            try:
                parsed = list(string.Formatter().parse(template))
            except ValueError:
                continue  # the Rule reports the bad template
            for _, field, _, _ in parsed:
                if field and field.isidentifier() and field not in fields:
                    fields.append(field)
    path = "/" + "/".join(f"{{{field}}}" for field in fields)
    try:
        Rule(path, **checked)
    except ConfigurationError as exc:
        message = str(exc).replace(f"Rule({path!r}): ", "")
        raise ConfigurationError(f"{setting}: {message}") from None
    return checked


class RoutedRuleSet(RuleSet):
    """Explicit rules, then rules discovered from a framework's routes.

    A discovered rule matches a path only when the framework itself routes that path
    to the view the rule came from (:meth:`routes_to`, the adapter's hook): a literal
    ``/items/new`` beside a cached ``/items/{id}`` is not cached by the latter's rule.
    The policy memoises matches per path, so the framework's router runs once per new
    path.
    """

    __slots__ = ("_views",)

    def __init__(self, explicit: Iterable[Rule], found: Iterable[tuple[Rule, Any]]) -> None:
        pairs = list(found)
        super().__init__([*explicit, *(rule for rule, _ in pairs)])
        self._views: dict[int, Any] = {id(rule): view for rule, view in pairs}

    def routes_to(self, path: str, view: Any) -> bool:
        """Whether the framework routes ``GET path`` to ``view`` (the adapter's hook)."""
        raise NotImplementedError

    def _routed(self, match: RuleMatch, path: str) -> bool:
        view = self._views.get(id(match.rule))
        return view is None or self.routes_to(path, view)

    def match(self, path: str) -> RuleMatch | None:
        """The first rule matching ``path`` that the framework's router agrees with."""
        first = super().match(path)
        if first is None or self._routed(first, path):
            return first
        for other in super().match_all(path):
            if self._routed(other, path):
                return other
        return None

    def match_all(self, path: str) -> list[RuleMatch]:
        """Every rule matching ``path`` that the framework's router agrees with."""
        return [m for m in super().match_all(path) if self._routed(m, path)]
