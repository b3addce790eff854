"""Opt-in normalisation of ``Accept-Encoding`` and ``Accept-Language`` (sans-I/O).

Browsers spell the same preferences in dozens of ways (``gzip, deflate, br``,
``br;q=1.0, gzip;q=0.8, *;q=0.1``), and a response that varies on such a field gets
one entry per spelling. With ``normalize_accept_encoding`` / ``normalize_accept_language``
on (a driver option, or per :class:`~routecache.Rule`), the policy replaces the field
by the one value the app will act on: the best content-coding the app produces
(RFC 9110 §12.5.3), the best language it serves (RFC 4647 §3.4 lookup). The key, the
``Vary`` variants **and the request the view receives** all carry that value (the
drivers rewrite the request), so the view never sees anything but what the entry is
keyed on: normalising stays poisoning-proof (issue 10's rule). ``Accept-Encoding``
then takes at most ``len(codings) + 1`` values (``identity``), ``Accept-Language``
``len(languages)``.

A field too long, with too many members, or that does not parse (a bad ``q``, a
parameter without ``=``, a language range that is not a tag) is treated as absent:
``identity`` and the default language, which every client can take. Nothing here
raises on request input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_CODINGS",
    "MAX_FIELD_LENGTH",
    "MAX_MEMBERS",
    "Normaliser",
    "best_coding",
    "best_language",
    "codings_option",
    "languages_option",
]

#: What ``normalize_accept_encoding=True`` means: the coding Starlette's and Django's
#: ``GZipMiddleware`` produce (flask-compress and brotli middlewares add ``br``/``zstd``:
#: list them explicitly).
DEFAULT_CODINGS: Final = ("gzip",)
#: Longer fields are treated as absent (browsers send well under 200 characters).
MAX_FIELD_LENGTH: Final = 1024
#: Fields with more list members are treated as absent.
MAX_MEMBERS: Final = 32

_ENCODING: Final = "accept-encoding"
_LANGUAGE: Final = "accept-language"
_IDENTITY: Final = "identity"
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_LANGUAGE_RANGE: Final = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8})*")
# RFC 9110 §12.4.2 qvalue; "q" is case-insensitive.
_WEIGHT: Final = re.compile(r"[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")
# RFC 9110 §8.4.1: recipients treat the x- spellings as the registered codings.
_ALIASES: Final = {"x-gzip": "gzip", "x-compress": "compress"}
_MEMO_SIZE: Final = 1024

_CODINGS_EXPECTED: Final = (
    "True, False or a non-empty list of content-codings (such as ['br', 'gzip'])"
)
_LANGUAGES_EXPECTED: Final = "False or a non-empty list of language tags (such as ['en', 'fr-CH'])"

Setting = tuple[str, ...] | None


def _error(where: str, option: str, expected: str, value: Any) -> ConfigurationError:
    prefix = f"{where}: " if where else ""
    return ConfigurationError(f"{prefix}{option} must be {expected}, got {value!r}")


def _names(value: Any) -> list[str] | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return None
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        return None
    return items


def codings_option(value: Any, option: str, where: str = "") -> Setting:
    """A checked ``normalize_accept_encoding`` value: ``None`` when off, else the
    content-codings the app produces, lower-cased, in its order of preference."""
    if value is False:
        return None
    if value is True:
        return DEFAULT_CODINGS
    items = _names(value)
    if not items:
        raise _error(where, option, _CODINGS_EXPECTED, value)
    codings = [_ALIASES.get(c.lower(), c.lower()) for c in items]
    for coding in codings:
        if not _TOKEN.fullmatch(coding) or coding in (_IDENTITY, "*"):
            raise _error(where, option, _CODINGS_EXPECTED, value)
    return tuple(dict.fromkeys(codings))


def languages_option(value: Any, option: str, where: str = "") -> Setting:
    """A checked ``normalize_accept_language`` value: ``None`` when off, else the
    language tags the app serves as it spells them, the first being the default."""
    if value is False:
        return None
    items = _names(value)
    if not items or not all(_LANGUAGE_RANGE.fullmatch(tag.lower()) for tag in items):
        raise _error(where, option, _LANGUAGES_EXPECTED, value)
    return tuple(dict.fromkeys(items))


def _members(value: str) -> list[tuple[str, float]] | None:
    """``(lower-cased name, weight)`` per list member; ``None`` when the field is too
    large or a member does not parse."""
    if len(value) > MAX_FIELD_LENGTH or value.count(",") >= MAX_MEMBERS:
        return None
    out = []
    for member in value.split(","):
        name, _, params = member.partition(";")
        name = name.strip(" \t").lower()
        if not name:
            if params:
                return None
            continue  # empty list elements are allowed (RFC 9110 §5.6.1)
        weight = 1.0
        if params:
            for param in params.split(";"):
                param = param.strip(" \t")
                if not param:
                    continue  # RFC 9110 §5.6.6 allows empty parameters
                if "=" not in param:
                    return None
                if param[:2] in ("q=", "Q="):
                    match = _WEIGHT.fullmatch(param)
                    if match is None:
                        return None
                    weight = float(match.group(1))
        out.append((name, weight))
    return out


def best_coding(value: str | None, codings: Sequence[str]) -> str:
    """The content-coding a response to an ``Accept-Encoding`` of ``value`` should
    use among ``codings`` (the app's, in its order of preference), or ``identity``.

    The highest client weight wins, ties go to the app's order; a coding named with
    ``q=0``, or left to a ``*;q=0``, is never chosen; ``identity`` wins only when the
    client weighs it above every coding (RFC 9110 §12.5.3). An absent, empty, invalid
    or oversized field gives ``identity``.
    """
    if not value:
        return _IDENTITY
    members = _members(value)
    if members is None:
        return _IDENTITY
    weights: dict[str, float] = {}
    for name, weight in members:
        weights.setdefault(_ALIASES.get(name, name), weight)
    star = weights.get("*", 0.0)
    best, best_weight = _IDENTITY, 0.0
    for coding in codings:
        weight = weights.get(coding, star)
        if weight > best_weight:
            best, best_weight = coding, weight
    if best != _IDENTITY and weights.get(_IDENTITY, 0.0) > best_weight:
        return _IDENTITY
    return best


def best_language(value: str | None, languages: Sequence[str]) -> str:
    """The language among ``languages`` (the app's; the first is the default) that
    RFC 4647 §3.4 lookup picks for an ``Accept-Language`` of ``value``.

    Ranges are tried by descending weight (ties in field order), each truncated from
    the end (``de-CH-1996`` -> ``de-CH`` -> ``de``) until it names a served language;
    ``q=0`` ranges and ``*`` are skipped. Nothing found, or an absent, invalid or
    oversized field: the default.
    """
    default = languages[0]
    if not value:
        return default
    members = _members(value)
    if members is None:
        return default
    served = {tag.lower(): tag for tag in languages}
    ranked = sorted(
        (item for item in members if item[1] > 0 and item[0] != "*"), key=lambda m: -m[1]
    )
    for name, _ in ranked:
        if not _LANGUAGE_RANGE.fullmatch(name):
            return default
        tag = name
        while tag:
            found = served.get(tag)
            if found is not None:
                return found
            tag = tag.rpartition("-")[0]
            if len(tag) > 1 and tag[-2] == "-":
                tag = tag[:-2]  # a single-character subtag (x-, a singleton) goes too
    return default


class _Fields(Mapping[str, str]):
    """A request's fields with some replaced by their normalised values."""

    __slots__ = ("base", "changed")

    def __init__(self, base: Mapping[str, str], changed: dict[str, str]) -> None:
        self.base = base
        self.changed = changed

    def __getitem__(self, name: str) -> str:
        value = self.changed.get(name)
        return self.base[name] if value is None else value

    def get(self, name: str, default: Any = None) -> Any:
        value = self.changed.get(name)
        return self.base.get(name, default) if value is None else value

    def __contains__(self, name: object) -> bool:
        return name in self.changed or name in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.changed
        for name in self.base:
            if name not in self.changed:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Normaliser:
    """Decides, per request, which ``Accept-*`` fields are replaced and by what.

    Args:
        normalize_accept_encoding: ``False`` (off), ``True`` (:data:`DEFAULT_CODINGS`)
            or the content-codings the app produces, preferred first.
        normalize_accept_language: ``False`` (off) or the language tags the app
            serves, the default first.

    A rule's own ``normalize_accept_*`` (``None``: these) wins. Raises
    :class:`~routecache.middleware.errors.ConfigurationError` naming the option.
    """

    __slots__ = ("_memo", "codings", "languages")

    def __init__(
        self, normalize_accept_encoding: Any = False, normalize_accept_language: Any = False
    ) -> None:
        #: The driver's codings and languages (``None``: off).
        self.codings = codings_option(normalize_accept_encoding, "normalize_accept_encoding")
        self.languages = languages_option(normalize_accept_language, "normalize_accept_language")
        self._memo: dict[tuple[Setting, Setting, str | None, str | None], _Change] = {}

    def _change(
        self, codings: Setting, languages: Setting, encoding: str | None, language: str | None
    ) -> _Change:
        # Memoised: most traffic repeats a few browser spellings.
        memo_key = (codings, languages, encoding, language)
        change = self._memo.get(memo_key)
        if change is None:
            best = {}
            if codings is not None:
                best[_ENCODING] = best_coding(encoding, codings)
            if languages is not None:
                best[_LANGUAGE] = best_language(language, languages)
            changed = {
                field: value
                for field, value in best.items()
                if value != (encoding if field == _ENCODING else language)
            }
            lines = tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in best.items())
            change = _Change(best, changed, lines)
            if len(encoding or "") + len(language or "") <= MAX_FIELD_LENGTH:
                # Oversized values (treated as absent) are not kept: the memo's memory
                # stays bounded by the field limit, whatever the server lets through.
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()
                self._memo[memo_key] = change
        return change

    def apply(self, facts: Any, rule: Any) -> tuple[Any, tuple[tuple[bytes, bytes], ...]]:
        """``facts`` with the normalised fields in place of the client's, and the
        ``(name, value)`` lines the driver must put in the request the app receives
        (empty when nothing changes)."""
        codings, languages = self.codings, self.languages
        if rule is not None:
            if rule.normalize_accept_encoding is not None:
                codings = rule.normalize_accept_encoding or None
            if rule.normalize_accept_language is not None:
                languages = rule.normalize_accept_language or None
        if codings is None and languages is None:
            return facts, ()
        headers, lines = facts.headers, facts.lines
        change = self._change(
            codings,
            languages,
            headers.get(_ENCODING) if codings is not None else None,
            headers.get(_LANGUAGE) if languages is not None else None,
        )
        changed = change.changed
        if lines is not None and not lines.keys().isdisjoint(change.best):
            # Repeated lines of a normalised field become its one normalised line.
            changed = change.best
            lines = {name: seen for name, seen in lines.items() if name not in changed} or None
        if not changed:
            return facts, ()
        rewrites = change.lines if changed is change.best else change.changed_lines
        return facts.with_fields(_Fields(headers, changed), lines), rewrites


class _Change:
    """The normalised values of one pair of field values: all of them (``best``), those
    that differ from the client's (``changed``), and the lines a driver sets."""

    __slots__ = ("best", "changed", "changed_lines", "lines")

    def __init__(
        self, best: dict[str, str], changed: dict[str, str], lines: tuple[tuple[bytes, bytes], ...]
    ) -> None:
        self.best = best
        self.changed = changed
        self.lines = lines
        self.changed_lines = tuple(line for line in lines if line[0].decode() in changed)
