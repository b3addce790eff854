"""``@cache_route`` and the discovery of cached views through the URLconf.

The decorator only records the rule's options on the view (the view is returned
unchanged, sync or async). On its first request the middleware walks
``get_resolver().url_patterns``, ``include()`` prefixes included, and turns each
decorated view's URL pattern into a :class:`~routecache.Rule`: ``path()`` converters
(``<int:pk>``, ``<slug:s>``, ``<str:s>``, ``<uuid:u>``, ``<path:p>``) carry over as
they are, ``re_path()`` patterns made of literal text and simple named groups
(``(?P<pk>[0-9]+)``) are translated, and anything else is skipped with a warning
(system check ``routecache.W002``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, NamedTuple, TypeVar

from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import (
    IntConverter,
    PathConverter,
    SlugConverter,
    StringConverter,
    UUIDConverter,
)
from django.urls.resolvers import LocalePrefixPattern, RegexPattern, RoutePattern

from ...middleware.errors import ConfigurationError
from ...middleware.rules import RoutedRuleSet, Rule, decorator_options

__all__ = ["ATTRIBUTE", "RouteProblem", "cache_route", "discover_rules", "options_of"]

V = TypeVar("V")
#: Where ``@cache_route`` records the rule options on a view.
ATTRIBUTE: Final = "__routecache__"

_BUILTIN: Final = {
    IntConverter: "int",
    StringConverter: "str",
    SlugConverter: "slug",
    UUIDConverter: "uuid",
    PathConverter: "path",
}
_PATH_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>(?:[^()\\]|\\.)*)\)")
_GROUP_CONVERTERS: Final = {
    r"[0-9]+": "int",
    r"\d+": "int",
    r"[^/]+": "str",
    r"[^/]*": "str",
    r"[-\w]+": "slug",
    r"[\w-]+": "slug",
    r"[-a-zA-Z0-9_]+": "slug",
    r"[a-zA-Z0-9_-]+": "slug",
    r".+": "path",
    r".*": "path",
}
_FIXED_DIGITS = re.compile(r"^(?:\[0-9\]|\\d)\{\d+(?:,\d*)?\}$")
_ESCAPED = re.compile(r"\\(.)")
_REGEX_SPECIALS = frozenset(".^$*+?{}[]()|\\")
_TEMPLATE_SPECIALS = frozenset("{}<>*")


def cache_route(ttl: float | None = None, **rule_options: Any) -> Callable[[V], V]:
    """Cache this view's URL for ``ttl`` seconds; other keyword arguments are
    :class:`~routecache.Rule` options (``vary``, ``tags``, ``stale_while_revalidate``...),
    templated with the URL's parameters (``tags=["item:{pk}"]``).

    Works on function views (sync or async), on class-based views (decorate the class,
    the result of ``as_view()``, or a method through ``method_decorator``), below or
    above other decorators that use ``functools.wraps``. Unknown options raise
    :class:`~routecache.ConfigurationError` at once.
    """
    options = decorator_options({"ttl": ttl, **rule_options}, setting="cache_route")

    def decorate(view: V) -> V:
        setattr(view, ATTRIBUTE, options)
        return view

    return decorate


def options_of(callback: Any) -> dict[str, Any] | None:
    """The ``@cache_route`` options recorded on a URL pattern's callback, if any."""
    seen = 0
    target = callback
    while target is not None and seen < 16:
        options = getattr(target, ATTRIBUTE, None)
        if isinstance(options, dict):
            return options
        view_class = getattr(target, "view_class", None)
        if view_class is not None:
            for candidate in (view_class, getattr(view_class, "dispatch", None)):
                options = getattr(candidate, ATTRIBUTE, None)
                if isinstance(options, dict):
                    return options
            for method in ("get", "head"):
                options = getattr(getattr(view_class, method, None), ATTRIBUTE, None)
                if isinstance(options, dict):
                    return options
        target = getattr(target, "__wrapped__", None)
        seen += 1
    return None


class RouteProblem(NamedTuple):
    """A decorated view whose URL pattern gave no rule."""

    id: str
    message: str


def _route_template(pattern: RoutePattern) -> str | None:
    route = str(pattern)
    out: list[str] = []
    pos = 0
    for m in _PATH_PARAMETER.finditer(route):
        literal = route[pos : m.start()]
        if any(c in _TEMPLATE_SPECIALS for c in literal):
            return None
        out.append(literal)
        name = m.group("parameter")
        converter = pattern.converters.get(name)
        out.append(f"<{_converter_name(converter)}:{name}>")
        pos = m.end()
    rest = route[pos:]
    if any(c in _TEMPLATE_SPECIALS for c in rest):
        return None
    out.append(rest)
    return "".join(out)


def _converter_name(converter: Any) -> str:
    for cls, name in _BUILTIN.items():
        if type(converter) is cls:
            return name
    # A registered custom converter: rules.py does not know its regex; match
    # one segment unless it can span several.
    regex = str(getattr(converter, "regex", "[^/]+"))
    return "path" if "/" in regex.replace("[^/]", "") or regex in (".+", ".*") else "str"


def _literal(text: str) -> str | None:
    unescaped = _ESCAPED.sub("", text)
    if any(c in _REGEX_SPECIALS or c in _TEMPLATE_SPECIALS for c in unescaped):
        return None
    if any(m.group(1) not in "./-_~" for m in _ESCAPED.finditer(text)):
        return None
    return _ESCAPED.sub(lambda m: m.group(1), text)


def _group_converter(body: str) -> str | None:
    if body in _GROUP_CONVERTERS:
        return _GROUP_CONVERTERS[body]
    if _FIXED_DIGITS.match(body):
        return "int"
    if body == UUIDConverter.regex:
        return "uuid"
    return None


def regex_template(regex: str) -> str | None:
    """A rule template for a ``re_path`` regex of literal text and simple named
    groups, or ``None`` when it cannot be expressed."""
    if regex.startswith("^"):
        regex = regex[1:]
    if regex.endswith(r"\Z"):
        regex = regex[:-2]
    elif regex.endswith("$") and not regex.endswith(r"\$"):
        regex = regex[:-1]
    out: list[str] = []
    pos = 0
    for m in _NAMED_GROUP.finditer(regex):
        literal = _literal(regex[pos : m.start()])
        converter = _group_converter(m.group("body"))
        if literal is None or converter is None:
            return None
        out.append(f"{literal}<{converter}:{m.group('name')}>")
        pos = m.end()
    literal = _literal(regex[pos:])
    if literal is None:
        return None
    out.append(literal)
    return "".join(out)


def _segment(pattern: Any) -> str | None:
    if isinstance(pattern, RoutePattern):
        return _route_template(pattern)
    if isinstance(pattern, RegexPattern):
        return regex_template(str(pattern))
    if isinstance(pattern, LocalePrefixPattern):
        return None
    return None


def _walk(
    patterns: Iterable[Any], prefix: str | None, shown: str
) -> Iterator[tuple[str | None, str, URLPattern]]:
    for entry in patterns:
        segment = _segment(entry.pattern)
        template = None if prefix is None or segment is None else prefix + segment
        described = shown + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, template, described)
        elif isinstance(entry, URLPattern):
            yield template, described, entry


def _view_name(entry: URLPattern) -> str:
    if entry.name:
        return entry.name
    callback = entry.callback
    return str(getattr(callback, "__qualname__", None) or getattr(callback, "__name__", callback))


def discover_rules(
    urlconf: str | None = None, *, prefix: str = "/"
) -> tuple[list[Rule], list[RouteProblem]]:
    """The rules of the ``@cache_route`` views of ``urlconf`` (default: ``ROOT_URLCONF``),
    their paths starting with ``prefix`` (the script prefix), and the decorated views
    that gave none."""
    found, problems = discover_views(urlconf, prefix=prefix)
    return [rule for rule, _ in found], problems


def discover_views(
    urlconf: str | None = None, *, prefix: str = "/"
) -> tuple[list[tuple[Rule, Any]], list[RouteProblem]]:
    """Like :func:`discover_rules`, each rule paired with its view callback."""
    rules: list[tuple[Rule, Any]] = []
    problems: list[RouteProblem] = []
    for template, described, entry in _walk(get_resolver(urlconf).url_patterns, "", ""):
        options = options_of(entry.callback)
        if options is None:
            continue
        view = _view_name(entry)
        if template is None:
            problems.append(
                RouteProblem(
                    "routecache.W002",
                    f"@cache_route on view {view!r}: the URL pattern {described!r} cannot be "
                    f"expressed as a rule (only path() converters and re_path() patterns of "
                    f"literal text and simple named groups can); it is not cached.",
                )
            )
            continue
        path = prefix.rstrip("/") + "/" + template.lstrip("/")
        try:
            rules.append((Rule(path, **options), entry.callback))
        except ConfigurationError as exc:
            problems.append(
                RouteProblem(
                    "routecache.E010",
                    f"@cache_route on view {view!r} ({path}): {exc}",
                )
            )
    return rules, problems


class ResolvedRuleSet(RoutedRuleSet):
    """Discovered rules checked against the URLconf (see :class:`RoutedRuleSet`): a
    rule matches a path only when the URLconf resolves it to the decorated view."""

    __slots__ = ("_prefix", "_urlconf")

    def __init__(
        self,
        explicit: Iterable[Rule],
        found: list[tuple[Rule, Any]],
        *,
        prefix: str = "/",
        urlconf: str | None = None,
    ) -> None:
        super().__init__(explicit, found)
        self._prefix = prefix
        self._urlconf = urlconf

    def routes_to(self, path: str, view: Any) -> bool:
        """Whether the URLconf resolves ``path`` (under the script prefix) to ``view``."""
        prefix = self._prefix.rstrip("/")
        if prefix and not path.startswith(prefix + "/"):
            return False
        try:
            resolved = resolve(path[len(prefix) :], self._urlconf)
        except Resolver404:
            return False
        return resolved.func is view
