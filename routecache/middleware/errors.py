"""Errors routecache raises.

Two kinds, as in h11: :class:`ConfigurationError` means "you misused us" and is raised
at start-up, naming the setting; :class:`StoreError` means "the outside world
misbehaved" (Redis down, slow or full) and never reaches a client: the drivers catch it
and serve the request from the app.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CheckedOptions",
    "ConfigurationError",
    "StoreError",
    "check_options",
    "invalid",
    "unknown_option",
]


class ConfigurationError(ValueError):
    """A setting or rule option is invalid; the message names the setting.

    Every message has one of two forms (built by :func:`invalid` and
    :func:`unknown_option`)::

        Rule('/items/{id}'): ttl must be a number of seconds >= 0, got -1
        CacheMiddleware: unknown option 'defualt_ttl' (did you mean 'default_ttl'?)
    """


def invalid(where: str, option: str, expected: str, value: Any) -> ConfigurationError:
    """``<where>: <option> must be <expected>, got <value>``."""
    return ConfigurationError(f"{where}: {option} must be {expected}, got {value!r}")


def unknown_option(where: str, name: str, known: Iterable[str]) -> ConfigurationError:
    """``<where>: unknown option 'x' (did you mean 'y'?)``, or with the valid options
    listed when none is close."""
    choices = sorted(known)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"valid options: {', '.join(choices)}"
    return ConfigurationError(f"{where}: unknown option {name!r} ({hint})")


def check_options(where: str, options: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise :func:`unknown_option` for the first name of ``options`` not in ``known``."""
    allowed = frozenset(known)
    for name in options:
        if name not in allowed:
            raise unknown_option(where, str(name), allowed)


class CheckedOptions:
    """Base of the classes users configure: an unknown keyword argument is a
    :class:`ConfigurationError` naming the object and the closest option
    (``Rule('/search'): unknown option 'ignore_param' (did you mean 'ignore_params'?)``),
    not Python's ``TypeError``. The signature seen by ``inspect`` and type checkers
    stays that of ``__init__``."""

    __slots__ = ()
    _keywords: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = inspect.signature(cls.__init__)
        params = list(init.parameters.values())[1:]  # without ``self``
        cls._keywords = frozenset(
            p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        cls.__signature__ = init.replace(parameters=params)  # type: ignore[attr-defined]

    def __new__(cls, *args: Any, **options: Any) -> Any:
        """Refuse unknown keyword arguments before ``__init__`` sees them."""
        for name in options:
            if name not in cls._keywords:
                raise unknown_option(cls._describe(args, options), name, cls._keywords)
        return super().__new__(cls)

    @classmethod
    def _describe(cls, args: tuple[Any, ...], options: Mapping[str, Any]) -> str:
        """How error messages name the object being built."""
        return cls.__name__


class StoreError(Exception):
    """The cache store failed (connection, timeout, out of memory, circuit open)."""
