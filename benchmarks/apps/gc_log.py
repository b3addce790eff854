"""Collections in a benchmark server, for ``benchmarks.gc_hits --server-log``.

Installed by ``common.py`` when ``BENCH_GC_LOG`` names a directory: every collection
of the process is counted and timed (``gc.callbacks``), and every half second (servers
are stopped by signal, so no exit hook is sure to run) the process rewrites its file
``<configuration>-<pid>.json`` there: collections per generation, the objects found
unreachable, the time spent and the longest pause per generation, the objects tracked.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import Any

_counts = [0, 0, 0]
_collected = [0, 0, 0]
_seconds = [0.0, 0.0, 0.0]
_longest = [0.0, 0.0, 0.0]
_started = 0.0


def _watch(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    took = time.perf_counter() - _started
    generation = info["generation"]
    _counts[generation] += 1
    _collected[generation] += info["collected"]
    _seconds[generation] += took
    _longest[generation] = max(_longest[generation], took)


def install(path: str, name: str) -> None:
    """Count this process's collections; keep ``path/<name>-<pid>.json`` current."""

    tracked = [0]

    def dump(count: int) -> None:
        if count % 10 == 0:  # walking the heap costs a millisecond or two: every 5 s
            tracked[0] = len(gc.get_objects())
        line = {
            "name": name,
            "pid": os.getpid(),
            "collections": _counts,
            "collected": _collected,
            "ms": [round(s * 1e3, 2) for s in _seconds],
            "longest_ms": [round(s * 1e3, 2) for s in _longest],
            "tracked": tracked[0],
        }
        target = os.path.join(path, f"{name}-{os.getpid()}.json")
        with open(target + ".tmp", "w", encoding="utf-8") as out:
            out.write(json.dumps(line))
        os.replace(target + ".tmp", target)

    def keep_writing() -> None:
        count = 0
        while True:
            time.sleep(0.5)
            dump(count)
            count += 1

    gc.callbacks.append(_watch)
    threading.Thread(target=keep_writing, name="gc-log", daemon=True).start()
