"""Private Redis servers and subprocess web servers for the test suite.

Everything here starts processes that *we* own: ``redis-server`` runs in the
foreground (no daemonize) as our direct child, bound to 127.0.0.1 on a free port,
with persistence disabled (``--save ""``, ``--appendonly no``) and a private
temporary directory as ``--dir``. Processes are stopped by PID (SIGTERM, then
SIGKILL after a timeout) and their temporary directories are removed.

The shared Redis on 127.0.0.1:6379 is never used: no helper in this module
connects to, flushes or starts anything on that port (``SHARED_REDIS_PORT`` is
refused explicitly).

A process-wide registry stops anything still running when the interpreter exits,
as a safety net for interrupted runs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Protocol, TypeAlias

__all__ = [
    "LOOPBACK",
    "SHARED_REDIS_PORT",
    "PortInUseError",
    "RedisCluster",
    "RedisReplyError",
    "RedisSentinel",
    "RedisServer",
    "ServerProcess",
    "free_port",
    "missing_redis_binaries",
    "pid_alive",
    "redis_command",
    "wait_for_port",
]

LOOPBACK: Final = "127.0.0.1"
SHARED_REDIS_PORT: Final = 6379
"""The shared/system Redis port. Nothing in this module ever touches it."""

CLUSTER_BUS_OFFSET: Final = 10000
"""Redis Cluster listens on ``port + 10000`` for its node-to-node bus."""

CLUSTER_SLOTS: Final = 16384

_STOP_TIMEOUT: Final = 10.0
_POLL_INTERVAL: Final = 0.02
_START_ATTEMPTS: Final = 5

# Ports handed out by free_port() in this process, so that two servers started
# by the same test run never get the same port even if the kernel reuses it.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------


def _port_is_bindable(port: int, host: str = LOOPBACK) -> bool:
    """Return True if ``host:port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, bus_port: bool = False) -> int:
    """Return a TCP port on ``host`` that is free right now.

    The kernel picks the port (bind to port 0, read it back, close). A port is
    never returned twice in the same process, and never :data:`SHARED_REDIS_PORT`.
    There is still a small window in which another process can take the port;
    callers that start a server on it should retry with a new port when the
    server fails with "address already in use" (``RedisServer`` does).

    With ``bus_port=True`` the port is also chosen so that ``port + 10000`` (the
    Redis Cluster bus port) is a valid, currently free port.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port == SHARED_REDIS_PORT:
            continue
        if bus_port and (
            port + CLUSTER_BUS_OFFSET > 65535
            or not _port_is_bindable(port + CLUSTER_BUS_OFFSET, host)
        ):
            continue
        with _handed_out_lock:
            if port in _handed_out or (bus_port and port + CLUSTER_BUS_OFFSET in _handed_out):
                continue
            _handed_out.add(port)
            if bus_port:
                _handed_out.add(port + CLUSTER_BUS_OFFSET)
        return port
    raise RuntimeError(f"could not find a free TCP port on {host}")


def wait_for_port(
    port: int,
    host: str = LOOPBACK,
    *,
    timeout: float = 30.0,
    alive: Iterable[subprocess.Popen[bytes]] = (),
) -> None:
    """Wait until ``host:port`` accepts TCP connections.

    Raises :class:`TimeoutError` after ``timeout`` seconds, and
    :class:`ChildProcessError` early if any process in ``alive`` exits first.
    """
    procs = list(alive)
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise ChildProcessError(
                    f"process {proc.pid} exited with status {proc.returncode} "
                    f"before {host}:{port} accepted connections"
                )
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s")
        time.sleep(_POLL_INTERVAL)


# ---------------------------------------------------------------------------
# A minimal RESP2 client (no dependency on redis-py, used for readiness checks)
# ---------------------------------------------------------------------------


class RedisReplyError(Exception):
    """An error reply (``-ERR ...``) from a Redis server."""


RespValue: TypeAlias = str | int | bytes | list["RespValue"] | None


def _encode_command(args: Sequence[str | bytes | int]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(reader: BinaryIO) -> RespValue:
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed while reading a Redis reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise RedisReplyError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        length = int(body)
        if length < 0:
            return None
        data = reader.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError("connection closed while reading a Redis reply")
        return data[:-2]
    if kind == b"*":
        count = int(body)
        if count < 0:
            return None
        return [_read_reply(reader) for _ in range(count)]
    raise ConnectionError(f"unexpected Redis reply line: {line!r}")


def redis_command(
    port: int, *args: str | bytes | int, host: str = LOOPBACK, timeout: float = 5.0
) -> RespValue:
    """Send one command to a private Redis server and return the decoded reply.

    Bulk strings come back as ``bytes``, status replies as ``str``. Error replies
    raise :class:`RedisReplyError`. Refuses :data:`SHARED_REDIS_PORT`.
    """
    if port == SHARED_REDIS_PORT:
        raise ValueError(f"refusing to talk to the shared Redis on port {SHARED_REDIS_PORT}")
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        sock.makefile("rb") as reader,
    ):
        sock.sendall(_encode_command(args))
        return _read_reply(reader)


def _ping(port: int) -> bool:
    try:
        return redis_command(port, "PING", timeout=0.25) == "PONG"
    except (OSError, RedisReplyError):  # not listening yet, or -LOADING
        return False


# ---------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------


def missing_redis_binaries(*names: str) -> list[str]:
    """Return the names in ``names`` (default: redis-server) not found on PATH."""
    return [name for name in names or ("redis-server",) if shutil.which(name) is None]


_HAVE_PROCFS: Final = Path("/proc/self/stat").exists()


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces/parens.
    return raw[raw.rfind(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _HAVE_PROCFS:
        return True
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) PIDs in process group ``pgid``."""
    if not _HAVE_PROCFS:  # ask the kernel instead
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        # fields: state ppid pgrp ...
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (all threads), via procfs or ``ps``."""
    task_dir = Path(f"/proc/{pid}/task")
    children: set[int] = set()
    files = list(task_dir.glob("*/children")) if task_dir.is_dir() else []
    if files:
        for path in files:
            with contextlib.suppress(OSError):
                children.update(int(tok) for tok in path.read_text().split())
        return sorted(children)
    if _HAVE_PROCFS:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields and int(fields[1]) == pid:
                    children.add(int(entry.name))
        return sorted(children)
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return sorted(int(tok) for tok in out.split())


def _terminate(proc: subprocess.Popen[bytes], timeout: float, *, group: bool) -> None:
    """SIGTERM ``proc`` (or its process group), SIGKILL after ``timeout``, reap it."""

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)

    if proc.poll() is None or (group and _group_members(proc.pid)):
        send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()
    if group:
        # Children (e.g. gunicorn workers) may outlive the leader briefly.
        deadline = time.monotonic() + timeout
        killed = False
        while members := _group_members(proc.pid):
            if time.monotonic() >= deadline:
                if killed:
                    raise RuntimeError(f"process group {proc.pid} did not exit: {members}")
                send(signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + timeout
            time.sleep(_POLL_INTERVAL)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# Everything started and not yet stopped; stopped at interpreter exit if leaked.
_live: set[_Stoppable] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for item in list(_live):
        with contextlib.suppress(Exception):
            item.stop()


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


class PortInUseError(RuntimeError):
    """The server could not bind its port (someone else took it)."""


class RedisServer:
    """A private ``redis-server`` process on a loopback port.

    The port is chosen once (or given) and kept for the object's life, so
    :meth:`start` after :meth:`stop`/:meth:`kill` brings the server back on the
    *same* URL, like a crashed Redis coming back. Persistence is disabled and
    each start gets a fresh temporary ``--dir``, so a restarted server is empty.

    Usage::

        with RedisServer() as server:
            client = redis.Redis.from_url(server.url)
    """

    host: str = LOOPBACK

    def __init__(
        self,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        executable: str = "redis-server",
        startup_timeout: float = 10.0,
        stop_timeout: float = _STOP_TIMEOUT,
        cluster_bus: bool = False,
    ) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        ``port``: a fixed port (never 6379); by default a free one is picked and
        re-picked if it turns out to be taken at first start. ``extra_args`` are
        appended to the command line (e.g. ``["--maxmemory", "10mb"]``).
        ``cluster_bus=True`` also requires ``port + 10000`` to be free.
        """
        if port == SHARED_REDIS_PORT:
            raise ValueError(
                f"port {SHARED_REDIS_PORT} belongs to the shared Redis; use a private port"
            )
        self._auto_port = port is None
        self._cluster_bus = cluster_bus
        self.port: int = port if port is not None else free_port(bus_port=cluster_bus)
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._started_once = False

    # -- properties ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while our redis-server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """PID of the running redis-server (RuntimeError if not running)."""
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("redis-server is not running")
        return self._proc.pid

    @property
    def dir(self) -> Path:
        """The running server's temporary ``--dir`` (RuntimeError if stopped)."""
        if self._dir is None:
            raise RuntimeError("redis-server is not running")
        return self._dir

    def log_text(self) -> str:
        """The server's log output so far ("" if not running)."""
        if self._dir is None:
            return ""
        try:
            return (self._dir / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle ----------------------------------------------------------

    def command_line(self) -> list[str]:
        """The full argv used to start the server (needs a running temp dir)."""
        return [
            self.executable,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", "",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> RedisServer:
        """Start the server (on the same port as before) and wait for PING.

        Raises :class:`PortInUseError` if a fixed port is taken, RuntimeError
        with the server log if it dies or does not answer in time. No-op if it
        is already running.
        """
        if self.running:
            return self
        attempts = _START_ATTEMPTS if self._auto_port and not self._started_once else 1
        for attempt in range(attempts):
            try:
                self._start_once()
            except PortInUseError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port(bus_port=self._cluster_bus)
            else:
                self._started_once = True
                _live.add(self)
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_once(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"routecache-redis-{self.port}-"))
        with open(self._dir / "redis.log", "wb") as log:
            self._proc = subprocess.Popen(
                self.command_line(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # a terminal Ctrl-C is handled by pytest, not Redis
            )
        deadline = time.monotonic() + self.startup_timeout
        while not self._answers_as_ours():
            status = self._proc.poll()
            if status is not None or time.monotonic() >= deadline:
                log_text = self.log_text()
                self._cleanup_after_exit()
                if "already in use" in log_text:
                    raise PortInUseError(f"port {self.port} is in use:\n{log_text}")
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start "
                    f"(exit status {status}):\n{log_text}"
                )
            time.sleep(_POLL_INTERVAL)

    def _answers_as_ours(self) -> bool:
        """PING answers, and the server on the port is our process (not a squatter)."""
        if self._proc is None or self._proc.poll() is not None or not _ping(self.port):
            return False
        try:
            info = redis_command(self.port, "INFO", "server", timeout=1.0)
        except (OSError, RedisReplyError):
            return False
        return isinstance(info, bytes) and f"process_id:{self._proc.pid}\r\n".encode() in info

    def _cleanup_after_exit(self) -> None:
        if self._proc is not None:
            _terminate(self._proc, self.stop_timeout, group=False)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._proc = None

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after ``stop_timeout``), reap it, remove its dir.

        Idempotent. The port is kept so that :meth:`start` can bring it back.
        """
        self._cleanup_after_exit()
        _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the server (a crash), reap it and remove its dir."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop()

    def flush(self) -> None:
        """FLUSHALL on this private server (never any other)."""
        redis_command(self.port, "FLUSHALL")

    # -- context manager ----------------------------------------------------

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}" if self.running and self._proc else "stopped"
        return f"<RedisServer {self.host}:{self.port} {state}>"


class RedisSentinel(RedisServer):
    """A private ``redis-server --sentinel`` watching one master as ``service``.

    Its configuration file is generated in the server's temporary ``--dir`` at each
    start (Sentinel rewrites it). ``down_after_ms`` and ``failover_timeout_ms`` are
    short by default, so a failover takes a few seconds.
    """

    def __init__(
        self,
        master_port: int,
        *,
        service: str = "mymaster",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        executable: str = "redis-server",
    ) -> None:
        """Prepare a sentinel for the master on ``master_port``; nothing runs until
        :meth:`start`."""
        super().__init__(executable=executable)
        self.master_port = master_port
        self.service = service
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def command_line(self) -> list[str]:
        """Write the sentinel's configuration, return the argv that starts it."""
        config = self.dir / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {self.service} {LOOPBACK} {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.service} 1\n"
        )
        return [
            self.executable,
            str(config),
            "--sentinel",
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def master_address(self) -> tuple[str, int] | None:
        """``SENTINEL GET-MASTER-ADDR-BY-NAME``: the master this sentinel names."""
        reply = redis_command(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        if not isinstance(reply, list) or len(reply) != 2:
            return None
        host, port = reply
        assert isinstance(host, bytes)
        assert isinstance(port, bytes)
        return host.decode(), int(port)

    def replicas(self) -> int:
        """How many replicas of the master this sentinel knows about."""
        reply = redis_command(self.port, "SENTINEL", "REPLICAS", self.service)
        return len(reply) if isinstance(reply, list) else 0

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:PORT/<service>/0``."""
        return f"redis+sentinel://{self.host}:{self.port}/{self.service}/0"


_CLUSTER_NODE_ARGS: Final = (
    "--cluster-enabled", "yes",
    "--cluster-config-file", "nodes.conf",  # relative to the node's temp --dir
    "--cluster-node-timeout", "5000",
)  # fmt: skip


class RedisCluster:
    """A private 3-master Redis Cluster (no replicas) on loopback ports.

    Each node is a :class:`RedisServer` with ``cluster-enabled yes`` and its
    nodes file in its own temporary directory. The cluster is created with
    ``redis-cli --cluster create`` and :meth:`start` returns once every node
    reports ``cluster_state:ok`` with all 16384 slots assigned.
    """

    def __init__(
        self,
        masters: int = 3,
        *,
        redis_cli: str = "redis-cli",
        executable: str = "redis-server",
        startup_timeout: float = 30.0,
    ) -> None:
        """Prepare ``masters`` nodes (at least 3); nothing runs until :meth:`start`."""
        if masters < 3:
            raise ValueError("a Redis Cluster needs at least 3 masters")
        self.redis_cli = redis_cli
        self.startup_timeout = startup_timeout
        self.nodes: list[RedisServer] = [
            RedisServer(
                executable=executable,
                cluster_bus=True,
                extra_args=_CLUSTER_NODE_ARGS,
            )
            for _ in range(masters)
        ]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` for every node."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """URL of the first node (any node works as a cluster entry point)."""
        return self.nodes[0].url

    @property
    def running(self) -> bool:
        """True while every node process is alive."""
        return all(node.running for node in self.nodes)

    @property
    def pids(self) -> list[int]:
        """PIDs of the node processes."""
        return [node.pid for node in self.nodes]

    def start(self) -> RedisCluster:
        """Start the nodes, create the cluster and wait until it is healthy."""
        try:
            for node in self.nodes:
                node.start()
            self._create()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        _live.add(self)
        return self

    def _create(self) -> None:
        argv = [
            self.redis_cli,
            "--cluster", "create",
            *(f"{host}:{port}" for host, port in self.startup_nodes),
            "--cluster-replicas", "0",
            "--cluster-yes",
        ]  # fmt: skip
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )

    def cluster_info(self, node: RedisServer) -> dict[str, str]:
        """``CLUSTER INFO`` of one node, parsed into a dict."""
        raw = redis_command(node.port, "CLUSTER", "INFO")
        if not isinstance(raw, bytes):
            raise TypeError(f"unexpected CLUSTER INFO reply: {raw!r}")
        pairs = (line.split(":", 1) for line in raw.decode().splitlines() if ":" in line)
        return dict(pairs)

    def healthy(self) -> bool:
        """True if every node says the cluster is ok with all slots covered."""
        want = str(CLUSTER_SLOTS)
        for node in self.nodes:
            try:
                info = self.cluster_info(node)
            except (OSError, RedisReplyError):
                return False
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_assigned") != want
                or info.get("cluster_slots_ok") != want
                or info.get("cluster_known_nodes") != str(len(self.nodes))
            ):
                return False
        return True

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not self.healthy():
            if time.monotonic() >= deadline:
                details = {node.port: self.cluster_info(node) for node in self.nodes}
                raise RuntimeError(f"cluster did not become healthy: {details}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove their dirs. Idempotent."""
        for node in self.nodes:
            node.stop()
        _live.discard(self)

    def flush(self) -> None:
        """FLUSHALL on each node of this private cluster."""
        for node in self.nodes:
            node.flush()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisCluster {self.startup_nodes}>"


# ---------------------------------------------------------------------------
# Web servers in subprocesses (uvicorn, gunicorn, ...)
# ---------------------------------------------------------------------------


class ServerProcess:
    """A web server subprocess (e.g. uvicorn/gunicorn) on a loopback port.

    ``argv`` is the full command line and must make the server listen on
    ``127.0.0.1:port`` (take ``port`` from :func:`free_port`). ``env`` entries are
    added to a copy of ``os.environ``. The process runs in its own session, so
    :meth:`stop` signals the whole process group (workers included)::

        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port)]
        with ServerProcess(argv, port, env={"REDIS_URL": url}) as server:
            httpx.get(server.base_url + "/")
    """

    host: str = LOOPBACK

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = _STOP_TIMEOUT,
    ) -> None:
        """Prepare the server; nothing runs until :meth:`start`."""
        self.argv = list(argv)
        self.port = port
        self.env = dict(env or {})
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the main process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """PID of the main process (also its process group id)."""
        if self._proc is None:
            raise RuntimeError("server process was not started")
        return self._proc.pid

    def child_pids(self) -> list[int]:
        """PIDs of the main process's direct children (e.g. gunicorn workers)."""
        return _child_pids(self.pid)

    def stdout_text(self) -> str:
        """Captured stdout so far."""
        return self._read_output("stdout")

    def stderr_text(self) -> str:
        """Captured stderr so far."""
        return self._read_output("stderr")

    def _read_output(self, name: str) -> str:
        if self._dir is None:
            return ""
        try:
            return (self._dir / name).read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> ServerProcess:
        """Start the process and wait until its port accepts TCP connections.

        Raises RuntimeError with the captured stderr if it exits or times out.
        """
        if self.running:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="routecache-server-"))
        with open(self._dir / "stdout", "wb") as out, open(self._dir / "stderr", "wb") as err:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        _live.add(self)
        try:
            wait_for_port(self.port, self.host, timeout=self.startup_timeout, alive=[self._proc])
        except (ChildProcessError, TimeoutError) as exc:
            stderr = self.stderr_text()
            self.stop()
            raise RuntimeError(f"{exc}\ncommand: {self.argv}\nstderr:\n{stderr}") from None
        return self

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after ``stop_timeout``; remove logs."""
        if self._proc is not None:
            _terminate(self._proc, self.stop_timeout, group=True)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        _live.discard(self)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.base_url} argv={self.argv!r}>"
