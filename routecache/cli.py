"""The ``routecache`` command: inspect, purge and warm a Redis cache from the shell.

Examples::

    routecache stats --redis-url redis://localhost:6379/0
    routecache ls --limit 20
    routecache show /items/7
    routecache purge --path /items/7 --tag items
    routecache purge --all --prefix myapp --dry-run   # only keys under "myapp:"
    routecache warm --app examples.starlette_app:app --host www.example.com /data/1

The Redis URL defaults to ``$ROUTECACHE_REDIS_URL``, then ``$REDIS_URL``. Every
subcommand takes ``--json``. Flask and Django users have the same subcommands, output
and exit codes as ``flask routecache`` and ``manage.py routecache``; they are written
once, in :mod:`routecache.commands` (which lists the exit codes).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import commands
from .commands import EXIT_USAGE, CommandFailed, Result

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routecache", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url",
        default=os.environ.get("ROUTECACHE_REDIS_URL") or os.environ.get("REDIS_URL"),
        help="Redis URL (redis+cluster:// for a cluster, redis+sentinel:// for Sentinel); "
        "default $ROUTECACHE_REDIS_URL, then $REDIS_URL",
    )
    common.add_argument("--prefix", default="routecache", help="key prefix (default routecache)")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    common = argparse.ArgumentParser(add_help=False, parents=[common, output])
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("stats", parents=[common], help="count what is cached")
    ls = subcommands.add_parser("ls", parents=[common], help="list cached entries")
    ls.add_argument("--limit", type=int, default=commands.LS_LIMIT, help="at most this many")
    show = subcommands.add_parser("show", parents=[common], help="show the entries of a URL")
    show.add_argument("target", metavar="URL|KEY", help="a URL path (/items/7) or a key")
    purge = subcommands.add_parser("purge", parents=[common], help="remove cached entries")
    purge.add_argument("--path", action="append", default=[], help="a URL path (repeatable)")
    purge.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    purge.add_argument("--all", action="store_true", help="every key under the prefix")
    purge.add_argument("--dry-run", action="store_true", help="count, remove nothing")
    warm = subcommands.add_parser(
        "warm", parents=[output], help="fill the cache by requesting URLs through an app"
    )
    warm.add_argument("--app", required=True, help="module:attribute of an ASGI or WSGI app")
    warm.add_argument(
        "--host",
        help="the Host your clients send (default: a Flask app's SERVER_NAME, a Django "
        "app's ALLOWED_HOSTS[0], else localhost)",
    )
    warm.add_argument("--scheme", default="http", choices=["http", "https"])
    warm.add_argument("--from-file", help="read URLs from this file, one a line ('-': stdin)")
    warm.add_argument("urls", nargs="*", help="paths (with query) to request")
    return parser


def _store(args: argparse.Namespace) -> Any:
    from .middleware.stores import RedisStore

    if not args.redis_url:
        raise CommandFailed(
            "no Redis URL: pass --redis-url or set ROUTECACHE_REDIS_URL", EXIT_USAGE
        )
    return commands.guarded(lambda: RedisStore(args.redis_url, prefix=args.prefix, timeout=5.0))


def _run(args: argparse.Namespace) -> Result:
    if args.command == "warm":
        urls = commands.read_urls(args.urls, args.from_file)
        app = commands.load_app(args.app)
        host, source = commands.warm_host(app, args.host)
        return commands.warm(
            app, urls, host=host, source=source, scheme=args.scheme, progress=not args.json
        )
    store = _store(args)
    try:
        if args.command == "stats":
            return commands.stats(store)
        if args.command == "ls":
            return commands.ls(store, args.limit)
        if args.command == "show":
            return commands.show(store, args.target)
        return commands.purge(
            store, args.path, args.tag, args.all, args.dry_run, progress=not args.json
        )
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = _run(args)
    except CommandFailed as exc:
        print(exc.line, file=sys.stderr)
        return exc.code
    print(commands.render(result, args.json))
    return result.code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
