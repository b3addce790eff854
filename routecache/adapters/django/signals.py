"""Invalidate cached pages when models change: ``invalidate_on_save``.

Usage (in an ``AppConfig.ready()`` or a module imported at start-up)::

    from routecache.adapters.django import invalidate_on_save

    invalidate_on_save(Item, tags=["item:{pk}", "items"], paths=["/items/{pk}"])

After every ``post_save`` and ``post_delete`` of ``Item``, the entries tagged
``item:<pk>`` and ``items`` and every entry of ``/items/<pk>`` are removed. Templates
are filled from the instance's attributes (``{pk}``, ``{slug}``, ``{author.id}``);
``tags`` and ``paths`` may also be callables taking the instance. The removal runs
when the transaction commits (``transaction.on_commit``), so a request arriving in
between cannot store the old row again; outside a transaction it runs at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from ...middleware.errors import StoreError
from .conf import SETTING, get_state

__all__ = ["ainvalidate", "invalidate", "invalidate_on_save"]

logger = logging.getLogger("routecache")

Templates = Iterable[str] | Callable[[Any], Iterable[str]]


def invalidate(
    path: str | Iterable[str] | None = None,
    tags: Iterable[str] = (),
    everything: bool = False,
    *,
    setting: str = SETTING,
) -> int:
    """Remove the entries of the paths and tags (or all under the prefix) from the
    cache configured by ``ROUTECACHE``; returns how many keys went.

    Raises :class:`~routecache.StoreError` when the store fails.
    """
    store = get_state(setting).sync_engine().store
    return store.invalidate(path=path, tags=tags, everything=everything)


async def ainvalidate(
    path: str | Iterable[str] | None = None,
    tags: Iterable[str] = (),
    everything: bool = False,
    *,
    setting: str = SETTING,
) -> int:
    """:func:`invalidate` for async code (the async store of the running loop)."""
    store = get_state(setting).async_engine().store
    return await store.invalidate(path=path, tags=tags, everything=everything)


class _Fields:
    """``str.format_map`` access to an instance's attributes."""

    __slots__ = ("instance",)

    def __init__(self, instance: Any) -> None:
        self.instance = instance

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self.instance, name)
        except AttributeError:
            raise KeyError(name) from None


def _expand(templates: Templates, instance: Any) -> list[str]:
    if callable(templates):
        return [str(t) for t in templates(instance)]
    fields = _Fields(instance)
    return [t.format_map(fields) for t in templates]


def invalidate_on_save(
    model: type[models.Model],
    *,
    tags: Templates = (),
    paths: Templates = (),
    setting: str = SETTING,
    on_commit: bool = True,
) -> Callable[[], None]:
    """Invalidate ``tags`` and ``paths`` (templated from the instance) after each save
    and delete of ``model``; returns a function that disconnects the handlers.

    Args:
        model: the model class whose ``post_save`` and ``post_delete`` are connected.
        tags: tag templates filled from the instance's attributes (``"item:{pk}"``,
            ``"author:{author.id}"``), or a callable taking the instance and returning
            the tags.
        paths: URL path templates (``"/items/{pk}"``; every query string and variant
            of the path goes), or a callable taking the instance.
        setting: the name of the settings dict whose store is used (``ROUTECACHE``).
        on_commit: run the removal when the transaction commits
            (``transaction.on_commit``), so a request arriving in between cannot store
            the old row again; outside a transaction it runs at once. ``False`` runs
            it inside the signal handler.

    A store fault is logged, never raised into the code that saved the model.
    """
    if isinstance(tags, str) or isinstance(paths, str):
        raise TypeError("tags and paths are lists of templates (or callables), not strings")
    if not callable(tags):
        tags = tuple(tags)
    if not callable(paths):
        paths = tuple(paths)

    def handler(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
        tag_list = _expand(tags, instance)
        path_list = _expand(paths, instance)

        def run() -> None:
            try:
                invalidate(path=path_list, tags=tag_list, setting=setting)
            except StoreError:
                logger.warning(
                    "routecache: invalidating %s after a change of %r failed",
                    tag_list + path_list,
                    instance,
                    exc_info=True,
                )

        if on_commit:
            transaction.on_commit(run, using=using)
        else:
            run()

    uid = f"routecache:{model._meta.label}:{id(handler)}"
    post_save.connect(handler, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(handler, sender=model, weak=False, dispatch_uid=uid)

    def disconnect() -> None:
        post_save.disconnect(sender=model, dispatch_uid=uid)
        post_delete.disconnect(sender=model, dispatch_uid=uid)

    return disconnect
