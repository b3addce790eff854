"""``manage.py routecache purge --path P | --tag T | --all`` and ``manage.py routecache stats``.

Both act on the store configured by ``ROUTECACHE`` and only ever touch keys under its
prefix (``SCAN`` with the prefix, never ``KEYS``, ``FLUSHDB`` or ``FLUSHALL``).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....middleware.errors import StoreError
from .....middleware.stores import MemoryStore
from ...conf import SETTING, get_state


class Command(BaseCommand):
    """Purge or count routecache entries."""

    help = "Purge cached responses (--path, --tag, --all) or count them (stats)."

    def add_arguments(self, parser: CommandParser) -> None:
        """``purge`` and ``stats`` subcommands."""
        actions = parser.add_subparsers(dest="action", required=True, metavar="{purge,stats}")
        purge = actions.add_parser("purge", help="remove cached entries")
        purge.add_argument(
            "--path", action="append", default=[], help="a URL path, e.g. /items/7 (repeatable)"
        )
        purge.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        purge.add_argument(
            "--all", action="store_true", dest="everything", help="every entry under the prefix"
        )
        stats = actions.add_parser("stats", help="count what is cached under the prefix")
        stats.add_argument("--json", action="store_true", help="print JSON")
        for sub in (purge, stats):
            sub.add_argument(
                "--setting", default=SETTING, help=f"the settings dict (default {SETTING})"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the subcommand."""
        state = get_state(options.get("setting") or SETTING)
        store = state.sync_engine().store
        if isinstance(store, MemoryStore):
            self.stderr.write(
                "routecache: the cache is a MemoryStore (no REDIS_URL): it lives inside "
                "each server process, this command only sees its own, empty one."
            )
        try:
            if options["action"] == "purge":
                self._purge(store, options)
            else:
                self._stats(store, options)
        except StoreError as exc:
            raise CommandError(f"routecache: the store failed: {exc}") from exc

    def _purge(self, store: Any, options: dict[str, Any]) -> None:
        paths, tags, everything = options["path"], options["tag"], options["everything"]
        if not (paths or tags or everything):
            raise CommandError("routecache purge: name --path, --tag or --all")
        removed = store.invalidate(path=paths, tags=tags, everything=everything)
        self.stdout.write(f"removed {removed} key(s) under prefix {store.prefix!r}")

    def _stats(self, store: Any, options: dict[str, Any]) -> None:
        stats = store.stats()
        if options["json"]:
            self.stdout.write(json.dumps(stats, indent=2, sort_keys=True, default=str))
            return
        for key in sorted(stats):
            self.stdout.write(f"{key}: {stats[key]}")
