"""The ``routecache`` command: purge and inspect a Redis cache from the shell.

Examples::

    routecache stats --redis-url redis://localhost:6379/0
    routecache purge --path /items/7 --tag items
    routecache purge --all --prefix myapp        # only keys under "myapp:"
    routecache warm --app examples.starlette_app:app /data/1 /data/2

The Redis URL defaults to ``$ROUTECACHE_REDIS_URL``, then ``$REDIS_URL``. Purge and
stats only ever touch keys under the prefix (SCAN, never KEYS or FLUSHDB). Flask and
Django users have the same commands as ``flask routecache`` and
``manage.py routecache``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .middleware.errors import ConfigurationError, StoreError
from .middleware.stores import RedisStore

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routecache", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url",
        default=os.environ.get("ROUTECACHE_REDIS_URL") or os.environ.get("REDIS_URL"),
        help="Redis URL (redis+cluster://host:port for a cluster); default $ROUTECACHE_REDIS_URL",
    )
    common.add_argument("--prefix", default="routecache", help="key prefix (default routecache)")
    commands = parser.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge", parents=[common], help="remove cached entries")
    purge.add_argument("--path", action="append", default=[], help="a URL path (repeatable)")
    purge.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    purge.add_argument("--all", action="store_true", help="every entry under the prefix")
    stats = commands.add_parser("stats", parents=[common], help="count what is cached")
    stats.add_argument("--json", action="store_true", help="print JSON")
    warm = commands.add_parser("warm", help="fill the cache by requesting URLs through an app")
    warm.add_argument("--app", required=True, help="module:attribute of an ASGI or WSGI app")
    warm.add_argument("--host", default="localhost", help="the Host your clients send")
    warm.add_argument("--scheme", default="http", choices=["http", "https"])
    warm.add_argument("urls", nargs="+", help="paths (with query) to request")
    return parser


def _store(args: argparse.Namespace) -> RedisStore:
    if not args.redis_url:
        raise ConfigurationError("no Redis URL: pass --redis-url or set ROUTECACHE_REDIS_URL")
    return RedisStore(args.redis_url, prefix=args.prefix, timeout=5.0)


def _purge(args: argparse.Namespace) -> int:
    if not (args.path or args.tag or args.all):
        print("routecache purge: name --path, --tag or --all", file=sys.stderr)
        return 2
    store = _store(args)
    try:
        removed = store.invalidate(path=args.path, tags=args.tag, everything=args.all)
    finally:
        store.close()
    print(f"removed {removed} key(s) under prefix {args.prefix!r}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        stats = store.stats()
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        for name, value in stats.items():
            print(f"{name:>14}: {value}")
    return 0


def _warm(args: argparse.Namespace) -> int:
    from .warm import load_app, warm

    sys.path.insert(0, os.getcwd())
    results = warm(load_app(args.app), args.urls, host=args.host, scheme=args.scheme)
    failed = 0
    for url, status, cache_status in results:
        print(f"{status}  {url}  {cache_status}")
        failed += status >= 400
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    handlers: dict[str, Any] = {"purge": _purge, "stats": _stats, "warm": _warm}
    try:
        return int(handlers[args.command](args))
    except ConfigurationError as exc:
        print(f"routecache: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"routecache: the store failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
