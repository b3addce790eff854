"""System checks of the routecache Django app (registered in ``AppConfig.ready()``).

Errors (``routecache.E001``...) name the bad key of the ``ROUTECACHE`` setting:

- ``E001`` ``ROUTECACHE`` is not a dict;
- ``E002`` unknown key;
- ``E003`` bad value of an option (``DEFAULT_TTL``, ``HONOR_CACHE_CONTROL``...);
- ``E004`` bad rule (the message gives its index in ``RULES``);
- ``E005`` bad ``REDIS_URL`` or ``REDIS_OPTIONS``;
- ``E006`` ``STORE`` is not a store (or cannot be imported);
- ``E007`` ``CACHE`` does not name a Redis entry of ``CACHES``;
- ``E008`` keys that contradict each other (``STORE`` with ``REDIS_URL``...);
- ``E009`` bad ``PREFIX``;
- ``E010`` a ``@cache_route`` view whose options do not fit its URL pattern.

Warnings: ``W001`` the middleware sits below middleware that marks responses as
personal (sessions, authentication, CSRF, locale), so it would store responses before
they are marked; ``W002`` a ``@cache_route`` view under a URL pattern that cannot be
expressed as a rule (it is not cached).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from .conf import SETTING, parse
from .middleware import CacheMiddleware
from .routes import discover_rules

__all__ = ["check_middleware_order", "check_routes", "check_settings", "register_checks"]

#: Middleware whose response processing marks responses as personal.
MARKERS: Final = {
    "django.contrib.sessions.middleware.SessionMiddleware": "adds Vary: Cookie and Set-Cookie",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "reads the session",
    "django.middleware.csrf.CsrfViewMiddleware": "sets the CSRF cookie",
    "django.middleware.locale.LocaleMiddleware": "adds Vary: Accept-Language",
}


def _middleware_classes() -> list[tuple[int, str, Any]]:
    out = []
    for index, path in enumerate(getattr(settings, "MIDDLEWARE", None) or ()):
        try:
            cls = import_string(path)
        except Exception:  # Django reports unimportable middleware itself
            cls = None
        out.append((index, path, cls))
    return out


def _settings_names() -> list[str]:
    names = [SETTING]
    for _, _, cls in _middleware_classes():
        if isinstance(cls, type) and issubclass(cls, CacheMiddleware) and cls.setting not in names:
            names.append(cls.setting)
    return names


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every problem of ``ROUTECACHE`` (and of the dicts of ``CacheMiddleware``
    subclasses in ``MIDDLEWARE``)."""
    messages: list[checks.CheckMessage] = []
    for name in _settings_names():
        _, problems = parse(getattr(settings, name, None), name)
        messages.extend(checks.Error(p.msg, hint=p.hint, id=p.id) for p in problems)
    return messages


def _is(cls: Any, path: str) -> bool:
    """``cls`` is the class at ``path`` or a subclass (compared by name: importing a
    marker could import models of apps that are not installed)."""
    mro = getattr(cls, "__mro__", ())
    return any(f"{c.__module__}.{c.__qualname__}" == path for c in mro)


def check_middleware_order(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``routecache.W001`` when the cache sits below middleware that marks responses."""
    entries = _middleware_classes()
    messages: list[checks.CheckMessage] = []
    for index, path, cls in entries:
        if not (isinstance(cls, type) and issubclass(cls, CacheMiddleware)):
            continue
        above = [
            (other_path, why)
            for other_index, other_path, other in entries
            if other_index < index
            for marker, why in MARKERS.items()
            if other_path == marker or _is(other, marker)
        ]
        if above:
            names = "; ".join(f"{p} ({why})" for p, why in above)
            messages.append(
                checks.Warning(
                    f"{path} is below middleware that marks responses as personal: {names}. "
                    f"It would store responses before they are marked.",
                    hint=(
                        f"Move {path!r} up in MIDDLEWARE, above SessionMiddleware "
                        f"(right after SecurityMiddleware)."
                    ),
                    id="routecache.W001",
                )
            )
    return messages


def check_routes(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``routecache.E010``/``W002`` for ``@cache_route`` views that give no rule."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    _, problems = discover_rules()
    messages: list[checks.CheckMessage] = []
    for problem in problems:
        if problem.id.startswith("routecache.E"):
            messages.append(
                checks.Error(
                    problem.message,
                    hint="Fix the @cache_route options (tags and invalidates may only use "
                    "the URL's parameters).",
                    id=problem.id,
                )
            )
        else:
            messages.append(
                checks.Warning(
                    problem.message,
                    hint="Use path() with converters, or list the path in "
                    "ROUTECACHE['RULES'] instead.",
                    id=problem.id,
                )
            )
    return messages


def register_checks(tags: Iterable[str] = ()) -> None:
    """Register the checks (idempotent)."""
    checks.register(check_settings, checks.Tags.caches, *tags)
    checks.register(check_middleware_order, checks.Tags.caches, *tags)
    checks.register(check_routes, checks.Tags.urls, *tags)
