"""The command line's subcommands, written once for its three doors.

``routecache`` (argparse, :mod:`routecache.cli`), ``flask routecache`` (click) and
``manage.py routecache`` (Django) only parse their arguments and find the store (and,
for ``warm``, the app and the host); the subcommands are the functions here. Each
returns a :class:`Result` that :func:`render` prints as text for people or as JSON for
scripts (``--json``); a failure is a :class:`CommandFailed`, which every door prints as
one line on stderr (``routecache: <message>``, no traceback) before exiting with its
code.

Exit codes (the same through every door):

== ==========================================================================
0  done
1  the store failed: Redis unreachable, timed out, or refused the command
2  usage or configuration: a bad option or Redis URL, an ``--app`` that does not
   load, nothing named to purge, a URL file that cannot be read
3  done, but not all of it: ``show`` found nothing, ``warm`` had a URL answer an
   error status (or fail)
== ==========================================================================

Every subcommand only ever touches keys under the store's prefix (``SCAN`` with the
prefix, never ``KEYS``, ``FLUSHDB`` or ``FLUSHALL``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from .middleware.entry import decode_entry
from .middleware.errors import ConfigurationError, StoreError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "CommandFailed",
    "Result",
    "guarded",
    "load_app",
    "ls",
    "purge",
    "read_urls",
    "render",
    "show",
    "stats",
    "warm",
    "warm_host",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_PARTIAL: Final = 3

#: Entries ``ls`` lists by default.
LS_LIMIT: Final = 100
#: Upper bound of the entries one ``show`` or ``purge --dry-run`` looks at per path or tag.
INSPECT_LIMIT: Final = 100_000
#: Items (URLs to warm, paths and tags to purge) from which a progress bar is shown.
PROGRESS_MIN: Final = 10
#: What ``stats`` counts (keys under the prefix, by kind).
KEY_KINDS: Final = (
    "entries",
    "variants",
    "path_indexes",
    "tag_indexes",
    "locks",
    "fences",
    "metrics",
)

T = TypeVar("T")


class CommandFailed(Exception):
    """A subcommand could not do its job; ``code`` is the exit code (see the module)."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        # One line, whatever the underlying error said.
        super().__init__(" ".join(message.split()))
        self.code = code

    @property
    def line(self) -> str:
        """What the doors print on stderr."""
        return f"routecache: {self}"


@dataclass
class Result:
    """What a subcommand found or did: ``data`` for ``--json``, ``lines`` for people,
    and the exit ``code``."""

    data: Any
    lines: list[str] = field(default_factory=list)
    code: int = EXIT_OK


def render(result: Result, as_json: bool = False) -> str:
    """The text a door prints on stdout (without the final newline)."""
    if as_json:
        return json.dumps(result.data, indent=2, sort_keys=True, default=str)
    return "\n".join(result.lines)


@contextlib.contextmanager
def _quiet(store: Any) -> Iterator[None]:
    """Keep the store's fault log quiet: the command reports the error itself."""
    faults = getattr(store, "faults", None)
    if faults is None:
        yield
        return
    before, faults.quiet = faults.quiet, True
    try:
        yield
    finally:
        faults.quiet = before


def guarded(call: Callable[[], T]) -> T:
    """Run ``call``, turning store faults and configuration errors into
    :class:`CommandFailed` (exit codes 1 and 2)."""
    try:
        return call()
    except StoreError as exc:
        raise CommandFailed(f"the store failed: {exc}", EXIT_FAILED) from None
    except ConfigurationError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None


def stats(store: Any) -> Result:
    """Keys under the prefix by kind (a ``SCAN``); on Redis, the fleet's requests by rule
    over the last 5 minutes (what the processes with ``metrics_flush``
    flushed) and the memory under the prefix by rule, with the server's settings.

    The store's ``faults`` and ``breaker_open`` are left out: in this process they
    describe the command's own connection, not the application's.
    """
    with _quiet(store):
        found: dict[str, Any] = guarded(store.stats)
    data = {k: v for k, v in found.items() if k not in ("faults", "breaker_open")}
    width = max(len(name) for name in data)
    lines = [f"{name:>{width}}: {value}" for name, value in data.items()]
    client = getattr(store, "client", None)
    if client is not None and hasattr(client, "pipeline"):
        from .metrics import fleet

        with _quiet(store):
            data["fleet"] = guarded(lambda: _redis(fleet.fleet_stats, client, store.prefix))
            data["memory"] = guarded(lambda: _redis(fleet.memory_stats, client, store.prefix))
        lines += _fleet_lines(data["fleet"]) + _memory_lines(data["memory"])
    return Result(data, lines)


def _redis(call: Callable[..., T], client: Any, prefix: str) -> T:
    """``call(client, prefix)`` with redis-py's errors as a ``StoreError``."""
    import redis

    try:
        return call(client, prefix)
    except redis.RedisError as exc:
        raise StoreError(f"stats: {exc}") from exc


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _fleet_lines(fleet: dict[str, Any]) -> list[str]:
    rules = fleet["rules"]
    head = f"fleet, last {fleet['minutes']:g} min ({fleet['processes']} processes reporting):"
    if not rules:
        return ["", head, "  nothing flushed (turn it on with the option metrics_flush)"]
    width = max(len("rule"), *(len(r) for r in rules))
    lines = [
        "",
        head,
        f"  {'rule':<{width}}  {'requests':>8}  {'hit ratio':>9}  {'hit':>7}  {'stale':>6}"
        f"  {'collapsed':>9}  {'miss':>7}  {'bypass':>7}",
    ]
    for name, row in rules.items():
        ratio = "-" if row["hit_ratio"] is None else f"{row['hit_ratio']:.1%}"
        lines.append(
            f"  {name:<{width}}  {row['requests']:>8}  {ratio:>9}  {row['hit']:>7}"
            f"  {row['stale']:>6}  {row['collapsed']:>9}  {row['miss']:>7}  {row['bypass']:>7}"
        )
    return lines


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"memory under the prefix: ~{_size(memory['bytes'])} in {memory['keys']} keys "
        f"(MEMORY USAGE of {memory['sampled']} sampled)",
    ]
    by_rule = memory["bytes_by_rule"]
    width = max((len(r) for r in by_rule), default=0)
    lines += [f"  {name:<{width}}  ~{_size(n)}" for name, n in by_rule.items()]
    maxmemory = _size(memory["maxmemory"]) if memory["maxmemory"] else "0 (no limit)"
    lines.append(
        f"redis: used_memory {_size(memory['used_memory'])}, maxmemory {maxmemory}, "
        f"maxmemory-policy {memory['maxmemory_policy']}"
    )
    lines += [f"warning: {w}" for w in memory["warnings"]]
    return lines


@contextlib.contextmanager
def _bar(total: int, what: str, unit: str, show: bool) -> Iterator[Callable[[object], None]]:
    """A step function advancing a progress bar on stderr: shown only when asked
    (``show``: the doors ask unless ``--json``), for at least :data:`PROGRESS_MIN`
    items, when stderr is a terminal and tqdm is installed (``routecache[cli]``); else
    it does nothing, so piped output stays quiet and identical."""
    bar: Any = None
    if show and total >= PROGRESS_MIN and sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(total=total, desc=what, unit=unit, leave=False, file=sys.stderr)
    if bar is None:
        yield lambda _: None
        return
    try:
        yield lambda _: bar.update(1)
    finally:
        bar.close()


def _describe(key: str, data: bytes | None, left: float | None, now: float) -> dict[str, Any]:
    entry = decode_entry(data)
    row: dict[str, Any] = {
        "key": key,
        "kind": "variant" if key.count(":", key.find("}")) >= 2 else "entry",
        "expires_in": None if left is None else round(left, 1),
    }
    if entry is None:
        row.update(status=None, bytes=len(data or b""), readable=False)
        return row
    content_type = entry.header(b"content-type")
    row.update(
        readable=True,
        status=entry.status,
        bytes=len(entry.body),
        age=round(entry.age(now), 1),
        fresh_for=round(entry.fresh_for, 1),
        content_type=None if content_type is None else content_type.decode("latin-1"),
        etag=None if entry.etag is None else entry.etag.decode("latin-1"),
        tags=list(entry.tags),
        vary=dict(entry.vary),
        headers=[[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.headers],
    )
    return row


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def ls(store: Any, limit: int = LS_LIMIT) -> Result:
    """The first ``limit`` entries under the prefix, sorted by key: status, size, age,
    freshness, time left in the store and tags."""
    if limit < 1:
        raise CommandFailed(f"ls: --limit must be a number >= 1, got {limit}", EXIT_USAGE)
    with _quiet(store):
        found = guarded(lambda: store.inspect(limit=limit))
    now = time.time()
    rows = [_describe(key, data, left, now) for key, data, left in found]
    lines = [f"{'STATUS':>6} {'BYTES':>8} {'AGE':>8} {'FRESH':>8} {'EXPIRES':>8}  KEY  TAGS"]
    for row in rows:
        lines.append(
            f"{row['status'] or '?':>6} {row['bytes']:>8} {_seconds(row.get('age')):>8} "
            f"{_seconds(row.get('fresh_for')):>8} {_seconds(row['expires_in']):>8}  "
            f"{row['key']}  {','.join(row.get('tags', []))}"
        )
    more = " (the first --limit; there may be more)" if len(rows) >= limit else ""
    lines.append(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} under prefix "
                 f"{store.prefix!r}{more}")  # fmt: skip
    return Result({"prefix": store.prefix, "entries": rows, "limit": limit}, lines)


def show(store: Any, target: str) -> Result:
    """Every stored entry of a URL's path (all query strings, hosts and variants), or
    the one entry of a key under the prefix, in full (headers included, not bodies)."""
    prefix_mark = f"{store.prefix}:{{"
    if target.startswith(prefix_mark):
        query: dict[str, str] = {"key": target}
    elif target.startswith("/") or "://" in target:
        path = urlsplit(target).path or "/"
        query = {"path": path}
    else:
        raise CommandFailed(
            f"show: give a URL path such as /items/7, a URL, or a key starting with "
            f"{prefix_mark!r}; got {target!r}",
            EXIT_USAGE,
        )
    with _quiet(store):
        found = guarded(lambda: store.inspect(limit=INSPECT_LIMIT, **query))
    now = time.time()
    rows = [_describe(key, data, left, now) for key, data, left in found]
    data = {"prefix": store.prefix, **query, "entries": rows}
    what = f"path {query['path']}" if "path" in query else f"key {target}"
    if not rows:
        return Result(data, [f"nothing cached for {what} under prefix {store.prefix!r}"],
                      EXIT_PARTIAL)  # fmt: skip
    lines = [f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} for {what}"]
    for row in rows:
        lines += ["", f"key: {row['key']} ({row['kind']})"]
        if not row["readable"]:
            lines.append(f"  not a readable entry ({row['bytes']} bytes)")
            continue
        lines += [
            f"  status: {row['status']}   body: {row['bytes']} bytes",
            f"  age: {_seconds(row['age'])}   fresh for: {_seconds(row['fresh_for'])}"
            f"   expires from the store in: {_seconds(row['expires_in'])}",
        ]
        if row["tags"]:
            lines.append(f"  tags: {', '.join(row['tags'])}")
        if row["vary"]:
            varies = ", ".join(f"{k}={v!r}" for k, v in row["vary"].items())
            lines.append(f"  vary: {varies}")
        lines += [f"  {name}: {value}" for name, value in row["headers"]]
    return Result(data, lines)


def purge(
    store: Any,
    paths: Sequence[str] = (),
    tags: Sequence[str] = (),
    everything: bool = False,
    dry_run: bool = False,
    progress: bool = False,
) -> Result:
    """Remove every entry of the paths and tags, or every key under the prefix
    (``everything``); with ``dry_run``, only count what would go. ``progress``: a bar
    on stderr for many paths and tags, on a terminal (see :func:`_bar`)."""
    if not (paths or tags or everything):
        raise CommandFailed("purge: name what to purge: --path, --tag or --all", EXIT_USAGE)
    with _quiet(store):
        if dry_run:
            count = guarded(lambda: _would_remove(store, paths, tags, everything))
        else:
            count = guarded(lambda: _remove(store, paths, tags, everything, progress))
    verb = "would remove" if dry_run else "removed"
    data = {
        "prefix": store.prefix,
        "paths": list(paths),
        "tags": list(tags),
        "all": everything,
        "dry_run": dry_run,
        "removed": None if dry_run else count,
        "would_remove": count if dry_run else None,
    }
    return Result(data, [f"{verb} {count} key(s) under prefix {store.prefix!r}"])


def _remove(
    store: Any, paths: Sequence[str], tags: Sequence[str], everything: bool, progress: bool
) -> int:
    if everything:
        return int(store.invalidate(everything=True))
    removed = 0
    # One call per path or tag (each is fenced before its call returns), so a bar
    # can follow them.
    with _bar(len(paths) + len(tags), "purge", "target", progress) as step:
        for path in paths:
            removed += int(store.invalidate(path=path))
            step(path)
        for tag in tags:
            removed += int(store.invalidate(tags=[tag]))
            step(tag)
    return removed


def _would_remove(store: Any, paths: Sequence[str], tags: Sequence[str], everything: bool) -> int:
    if everything:
        counts = store.stats()
        return sum(int(counts.get(kind, 0)) for kind in KEY_KINDS)
    keys: set[str] = set()
    for path in paths:
        keys.update(key for key, _, _ in store.inspect(path=path, limit=INSPECT_LIMIT))
    for tag in tags:
        keys.update(key for key, _, _ in store.inspect(tag=tag, limit=INSPECT_LIMIT))
    return len(keys)


def read_urls(urls: Iterable[str], from_file: str | None = None) -> list[str]:
    """The URLs to warm: the arguments, then the lines of ``from_file`` (``-`` for
    stdin; blank lines and ``#`` comments skipped)."""
    found = [url for url in urls if url]
    if from_file is not None:
        try:
            if from_file == "-":
                text = sys.stdin.read()
            else:
                with open(from_file, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as exc:
            raise CommandFailed(f"warm: cannot read --from-file: {exc}", EXIT_USAGE) from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    if not found:
        raise CommandFailed("warm: name the URLs to request (or --from-file)", EXIT_USAGE)
    bad = [url for url in found if not url.startswith("/")]
    if bad:
        raise CommandFailed(
            f"warm: URLs are paths with an optional query (/items/7?page=2), got {bad[0]!r}",
            EXIT_USAGE,
        )
    return found


def load_app(spec: str) -> Any:
    """Import ``"package.module:attribute"``; a failure is a :class:`CommandFailed`
    (exit code 2) naming the spec."""
    from .warm import load_app as load

    if sys.path[:1] != [""]:
        sys.path.insert(0, "")  # the current directory, as uvicorn and gunicorn do
    try:
        return load(spec)
    except Exception as exc:
        raise CommandFailed(
            f"--app {spec!r} does not load: {type(exc).__name__}: {exc}", EXIT_USAGE
        ) from None


def warm_host(app: Any, given: str | None = None) -> tuple[str, str]:
    """``warm``'s host and where it came from: ``given`` (``--host``), else the app's
    framework configuration (Flask ``SERVER_NAME``; Django ``ALLOWED_HOSTS[0]`` unless
    it is a wildcard), else ``localhost``."""
    if given:
        return given, "--host"
    config = getattr(app, "config", None)
    if isinstance(config, Mapping) and "SERVER_NAME" in config:  # Flask
        if config["SERVER_NAME"]:
            return str(config["SERVER_NAME"]), "SERVER_NAME"
        return "localhost", "the default (no SERVER_NAME)"
    if type(app).__module__.startswith("django."):
        from django.conf import settings

        allowed = list(getattr(settings, "ALLOWED_HOSTS", None) or [])
        if allowed and allowed[0] != "*" and not allowed[0].startswith("."):
            return str(allowed[0]), "ALLOWED_HOSTS[0]"
        return "localhost", "the default (ALLOWED_HOSTS[0] is a wildcard or unset)"
    return "localhost", "the default"


def warm(
    app: Any,
    urls: Sequence[str],
    *,
    host: str,
    source: str,
    scheme: str = "http",
    progress: bool = False,
) -> Result:
    """GET each URL through ``app`` (so its cache stores them) as ``scheme://host``;
    ``source`` says where the host came from (printed: keys include the host).
    ``progress``: a bar on stderr for long lists, on a terminal (see :func:`_bar`)."""
    from .warm import warm as request_all

    try:
        with _bar(len(urls), "warm", "url", progress) as step:
            results = request_all(app, urls, host=host, scheme=scheme, done=step)
    except Exception as exc:
        raise CommandFailed(f"warm: the app failed: {type(exc).__name__}: {exc}") from None
    failed = sum(1 for _, status, _ in results if not 200 <= status < 400)
    lines = [f"warming {len(urls)} URL(s) as {scheme}://{host} (host: {source})"]
    lines += [f"{status}  {url}  {cache_status}" for url, status, cache_status in results]
    lines.append(f"{len(results) - failed} of {len(results)} answered without an error")
    data = {
        "host": host,
        "host_source": source,
        "scheme": scheme,
        "results": [
            {"url": url, "status": status, "cache_status": cache_status}
            for url, status, cache_status in results
        ],
        "failed": failed,
    }
    return Result(data, lines, EXIT_PARTIAL if failed else EXIT_OK)
