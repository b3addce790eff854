"""``manage.py routecache stats|ls|show|purge|warm``: the store configured by
``ROUTECACHE``, only ever the keys under its prefix.

The subcommands are :mod:`routecache.commands`, shared with ``routecache`` and ``flask
routecache``: same output, same exit codes. From the shell an error is one line on
stderr (``routecache: ...``) and the exit code; called from code (``call_command``) it
is a ``CommandError`` carrying that code as ``returncode``.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ..... import commands
from .....commands import EXIT_USAGE, CommandFailed, Result
from .....middleware.errors import ConfigurationError
from .....middleware.stores import MemoryStore
from ...conf import SETTING, get_state


class Command(BaseCommand):
    """Inspect, purge or warm routecache entries."""

    help = "Inspect (stats, ls, show), purge or warm cached responses."
    # The command reports a bad ROUTECACHE itself, as one line with the exit code the
    # other doors use (the system checks would print their report and exit 1).
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        """The subcommands, each with ``--json`` and ``--setting``."""
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{stats,ls,show,purge,warm}"
        )
        stats = actions.add_parser("stats", help="count what is cached under the prefix")
        ls = actions.add_parser("ls", help="list cached entries")
        ls.add_argument("--limit", type=int, default=commands.LS_LIMIT, help="at most this many")
        show = actions.add_parser("show", help="show the entries of a URL path (or one key)")
        show.add_argument("target", metavar="URL|KEY", help="a URL path (/items/7) or a key")
        purge = actions.add_parser("purge", help="remove cached entries")
        purge.add_argument(
            "--path", action="append", default=[], help="a URL path, e.g. /items/7 (repeatable)"
        )
        purge.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        purge.add_argument(
            "--all", action="store_true", dest="everything", help="every key under the prefix"
        )
        purge.add_argument("--dry-run", action="store_true", help="count, remove nothing")
        warm = actions.add_parser("warm", help="fill the cache by requesting URLs")
        warm.add_argument(
            "--host", help="the Host your clients send (default: ALLOWED_HOSTS[0], else localhost)"
        )
        warm.add_argument("--scheme", default="http", choices=["http", "https"])
        warm.add_argument("--from-file", help="read URLs from this file, one a line ('-': stdin)")
        warm.add_argument("urls", nargs="*", help="paths (with query) to request")
        for sub in (stats, ls, show, purge, warm):
            sub.add_argument("--json", action="store_true", help="print JSON (for scripts)")
            sub.add_argument(
                "--setting", default=SETTING, help=f"the settings dict (default {SETTING})"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the subcommand; print its result; exit with its code."""
        try:
            result = self._run(options)
        except CommandFailed as exc:
            if not getattr(self, "_called_from_command_line", False):
                raise CommandError(str(exc), returncode=exc.code) from None
            self.stderr.write(exc.line)
            sys.exit(exc.code)
        self.stdout.write(commands.render(result, options["json"]))
        if result.code and getattr(self, "_called_from_command_line", False):
            sys.exit(result.code)

    def _run(self, options: dict[str, Any]) -> Result:
        action = options["action"]
        if action == "warm":
            return self._warm(options)
        try:
            store = get_state(options.get("setting") or SETTING).sync_engine().store
        except ConfigurationError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from None
        if isinstance(store, MemoryStore):
            self.stderr.write(
                "routecache: the cache is a MemoryStore (no REDIS_URL): it lives inside "
                "each server process, this command only sees its own, empty one."
            )
        if action == "stats":
            return commands.stats(store)
        if action == "ls":
            return commands.ls(store, options["limit"])
        if action == "show":
            return commands.show(store, options["target"])
        return commands.purge(
            store,
            options["path"],
            options["tag"],
            options["everything"],
            options["dry_run"],
            progress=not options["json"],
        )

    def _warm(self, options: dict[str, Any]) -> Result:
        from django.core.handlers.wsgi import WSGIHandler

        urls = commands.read_urls(options["urls"], options["from_file"])
        try:
            app = WSGIHandler()
        except Exception as exc:
            raise CommandFailed(f"warm: the Django app does not load: {exc}", EXIT_USAGE) from None
        host, source = commands.warm_host(app, options["host"])
        scheme = options["scheme"]
        return commands.warm(
            app, urls, host=host, source=source, scheme=scheme, progress=not options["json"]
        )
