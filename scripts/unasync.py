"""Generate the sync twins of the async modules (the httpcore/hishel approach).

The async code is the source of truth; its sync twin is produced by token
replacement. Run ``python scripts/unasync.py`` after editing an ``*_async.py`` file, and
``python scripts/unasync.py --check`` in lint to prove the twins are up to date.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [
    ("routecache/middleware/stores/redis_async.py", "routecache/middleware/stores/redis_sync.py"),
    ("routecache/middleware/engine_async.py", "routecache/middleware/engine_sync.py"),
]
SUBS = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\bAsyncRedisStore\b", "RedisStore"),
    (r"\bAsyncStore\b", "Store"),
    (r"\bAsyncEngine\b", "SyncEngine"),
    (r"\bAsyncNotifier\b", "SyncNotifier"),
    (r"\bAsyncConnections\b", "SyncConnections"),
    (r"\basync_multiplexer\b", "sync_multiplexer"),
    (r"\bASYNC_CLIENT_TYPES\b", "SYNC_CLIENT_TYPES"),
    (r"\bmake_async_client\b", "make_sync_client"),
    (r"\bredis_async\b", "redis_sync"),
    (r"\bengine_async\b", "engine_sync"),
    (r"\bconcurrency_async\b", "concurrency_sync"),
    (r"\bis_async = True\b", "is_async = False"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bAwaitable\[([^\]]*)\]", r"\1"),
    (r"for asyncio code", "for threaded or sync code"),
    (r"\(ASGI apps, async Django\)", "(WSGI apps, sync Django)"),
]
COMPILED = [(re.compile(pattern), repl) for pattern, repl in SUBS]


def transform(source: str, origin: str) -> str:
    """The sync twin of ``source``."""
    out = []
    for line in source.splitlines(keepends=True):
        for pattern, repl in COMPILED:
            line = pattern.sub(repl, line)
        out.append(line)
    banner = f"# Generated from {origin} by scripts/unasync.py: do not edit.\n"
    return _ruff(banner + "".join(out))


def _ruff(text: str) -> str:
    """Sort imports and format, so the twin is lint-clean and the check is stable."""
    ruff = [sys.executable, "-m", "ruff"]
    name = "--stdin-filename=routecache/middleware/_twin.py"
    fixed = subprocess.run(
        [*ruff, "check", "--select", "I,RUF022", "--fix", "--quiet", name, "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    text = fixed.stdout or text
    formatted = subprocess.run(
        [*ruff, "format", "--quiet", name, "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return formatted.stdout


def main(argv: list[str]) -> int:
    """Write the twins, or with ``--check`` report the stale ones and fail."""
    check = "--check" in argv
    stale = []
    for src, dst in PAIRS:
        source_path, target_path = ROOT / src, ROOT / dst
        if not source_path.exists():
            continue
        wanted = transform(source_path.read_text(), Path(src).name)
        current = target_path.read_text() if target_path.exists() else None
        if current != wanted:
            if check:
                stale.append(dst)
            else:
                target_path.write_text(wanted)
                print(f"wrote {dst}")
    if stale:
        print("out of date (run python scripts/unasync.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
