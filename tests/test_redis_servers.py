"""Tests for the private Redis/web-server helpers and their fixtures."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as RedisClusterClient

from tests import _redis_servers
from tests._redis_servers import (
    SHARED_REDIS_PORT,
    PortInUseError,
    RedisCluster,
    RedisServer,
    ServerProcess,
    free_port,
    pid_alive,
    redis_command,
)


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _cluster_client(cluster: RedisCluster) -> RedisClusterClient:
    nodes = [
        ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in cluster.startup_nodes
    ]
    return RedisClusterClient(startup_nodes=nodes, socket_timeout=5)


def _dbsize(port: int) -> int:
    size = redis_command(port, "DBSIZE")
    assert isinstance(size, int)
    return size


# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------


def test_free_port_is_private_and_unique() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert SHARED_REDIS_PORT not in ports
    assert all(1024 < port < 65536 for port in ports)


def test_free_port_with_bus_port_leaves_room_for_cluster_bus() -> None:
    port = free_port(bus_port=True)
    assert port + 10000 <= 65535


def test_shared_port_is_refused() -> None:
    with pytest.raises(ValueError, match="shared Redis"):
        RedisServer(port=SHARED_REDIS_PORT)
    with pytest.raises(ValueError, match="refusing"):
        redis_command(SHARED_REDIS_PORT, "PING")


# ---------------------------------------------------------------------------
# Session fixtures
# ---------------------------------------------------------------------------


def test_private_server_answers_on_its_own_port(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.port != SHARED_REDIS_PORT
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_command(redis_server.port, "PING") == "PONG"
    client = _client(redis_url)
    try:
        assert client.config_get("port") == {"port": str(redis_server.port)}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert Path(str(client.config_get("dir")["dir"])).resolve() == redis_server.dir.resolve()
        # The server is our own child process, not something found on the machine.
        assert client.info("server")["process_id"] == redis_server.pid
    finally:
        client.close()


@pytest.mark.parametrize("run", [1, 2])
def test_redis_clean_url_starts_empty(redis_clean_url: str, run: int) -> None:
    # Whichever of the two runs goes second proves the flush happened.
    client = _client(redis_clean_url)
    try:
        assert client.dbsize() == 0
        client.set("left-behind", run)
    finally:
        client.close()


def test_redis_fixture_users_get_the_marker(request: pytest.FixtureRequest, redis_url: str) -> None:
    # Applied at collection because redis_url depends on redis_server.
    assert request.node.get_closest_marker("redis") is not None


@pytest.mark.redis
def test_explicit_redis_marker_provides_server(request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("redis_server")
    assert isinstance(server, RedisServer)
    assert server.running


# ---------------------------------------------------------------------------
# Own servers: restart, kill, stop
# ---------------------------------------------------------------------------


@pytest.mark.redis  # skip, or fail under CI=true, without redis-server
def test_restart_on_same_port_keeps_working() -> None:
    with RedisServer() as server:
        port, url, first_pid = server.port, server.url, server.pid
        client = _client(url)
        try:
            client.set("k", "v")
            server.stop()
            assert not pid_alive(first_pid)
            with pytest.raises(redis.ConnectionError):
                client.get("k")
            server.start()
            assert server.port == port
            assert server.url == url
            assert server.pid != first_pid
            # Same client object reconnects; the data is gone (no persistence).
            assert client.get("k") is None
            client.set("k", "again")
            assert client.get("k") == b"again"
        finally:
            client.close()


@pytest.mark.redis  # skip, or fail under CI=true, without redis-server
def test_kill_then_start() -> None:
    server = RedisServer()
    server.start()
    try:
        pid, temp_dir = server.pid, server.dir
        server.kill()
        assert not server.running
        assert not pid_alive(pid)
        assert not temp_dir.exists()
        with pytest.raises(ConnectionRefusedError):
            redis_command(server.port, "PING")
        server.start()
        assert redis_command(server.port, "PING") == "PONG"
        assert server.pid != pid
    finally:
        server.stop()


@pytest.mark.redis  # skip, or fail under CI=true, without redis-server
def test_stop_leaves_no_process_or_directory() -> None:
    with RedisServer() as server:
        pid, temp_dir = server.pid, server.dir
        assert pid_alive(pid)
        assert temp_dir.is_dir()
    assert not server.running
    assert not pid_alive(pid)
    assert not temp_dir.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.pid
    server.stop()  # idempotent


@pytest.mark.redis  # skip, or fail under CI=true, without redis-server
def test_flush_only_clears_this_server(redis_server: RedisServer) -> None:
    with RedisServer() as other:
        redis_command(redis_server.port, "SET", "mine", "1")
        redis_command(other.port, "SET", "theirs", "1")
        other.flush()
        assert redis_command(other.port, "DBSIZE") == 0
        assert redis_command(redis_server.port, "GET", "mine") == b"1"


@pytest.mark.redis  # skip, or fail under CI=true, without redis-server
def test_startup_failure_reports_the_log() -> None:
    server = RedisServer(extra_args=["--no-such-option", "x"])
    with pytest.raises(RuntimeError, match="no-such-option"):
        server.start()
    assert not server.running


@pytest.mark.redis
def test_fixed_port_taken_raises_port_in_use() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = RedisServer(port=squatter.getsockname()[1])
        with pytest.raises(PortInUseError):
            server.start()
        assert not server.running


@pytest.mark.redis
def test_auto_port_is_repicked_when_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real_free_port = _redis_servers.free_port

        def first_taken(*, bus_port: bool = False) -> int:
            return next(picks, None) or real_free_port(bus_port=bus_port)

        monkeypatch.setattr(_redis_servers, "free_port", first_taken)
        with RedisServer() as server:
            assert server.port != taken
            assert redis_command(server.port, "PING") == "PONG"


# ---------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------


def test_cluster_covers_all_slots(redis_cluster: RedisCluster) -> None:
    ports = [port for _, port in redis_cluster.startup_nodes]
    assert len(set(ports)) == 3
    assert SHARED_REDIS_PORT not in ports
    assert redis_cluster.url == f"redis://127.0.0.1:{ports[0]}/0"
    for node in redis_cluster.nodes:
        info = redis_cluster.cluster_info(node)
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == "16384"
        assert info["cluster_slots_ok"] == "16384"
        assert info["cluster_known_nodes"] == "3"


def test_cluster_client_round_trip(redis_cluster_clean: RedisCluster) -> None:
    client = _cluster_client(redis_cluster_clean)
    try:
        keys = [f"key-{i}" for i in range(30)]
        for key in keys:
            client.set(key, key.upper())
        assert [client.get(key) for key in keys] == [key.upper().encode() for key in keys]
    finally:
        client.close()
    # The keys really are spread over the nodes.
    sizes = [_dbsize(node.port) for node in redis_cluster_clean.nodes]
    assert sum(sizes) == 30
    assert sum(1 for size in sizes if size) >= 2


@pytest.mark.parametrize("run", [1, 2])
def test_redis_cluster_clean_starts_empty(redis_cluster_clean: RedisCluster, run: int) -> None:
    # Whichever of the two runs goes second proves every node was flushed.
    assert [_dbsize(node.port) for node in redis_cluster_clean.nodes] == [0, 0, 0]
    client = _cluster_client(redis_cluster_clean)
    try:
        for i in range(10):
            client.set(f"leftover-{i}", run)
    finally:
        client.close()


@pytest.mark.cluster  # skip, or fail under CI=true, without redis-cli
def test_cluster_stop_leaves_no_process() -> None:
    cluster = RedisCluster()
    with cluster:
        pids = cluster.pids
        dirs = [node.dir for node in cluster.nodes]
        assert all(pid_alive(pid) for pid in pids)
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(path.exists() for path in dirs)
    assert not cluster.running


# ---------------------------------------------------------------------------
# Subprocess web servers
# ---------------------------------------------------------------------------

_WSGI_APP = textwrap.dedent(
    """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello from a worker"]
    """
)


@pytest.mark.slow
def test_server_process_gunicorn_workers_are_stopped(tmp_path: Path) -> None:
    (tmp_path / "wsgi_app.py").write_text(_WSGI_APP)
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "2",
        "--chdir", str(tmp_path),
        "wsgi_app:app",
    ]  # fmt: skip
    server = ServerProcess(argv, port)
    with server:
        with urllib.request.urlopen(server.base_url + "/", timeout=10) as response:
            assert response.read() == b"hello from a worker"
        # The master binds the socket, then forks the workers one by one.
        workers: list[int] = []
        deadline = time.monotonic() + 15
        while len(workers) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = server.child_pids()
        assert len(workers) == 2
        main_pid = server.pid
    assert not pid_alive(main_pid)
    assert not any(pid_alive(pid) for pid in workers)


def test_server_process_that_dies_reports_stderr() -> None:
    port = free_port()
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('boom at startup'); sys.exit(3)"]
    server = ServerProcess(argv, port, startup_timeout=10)
    with pytest.raises(RuntimeError, match="boom at startup"):
        server.start()
    assert not server.running


def test_server_process_env_and_base_url(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "index.txt").write_text("ok")
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with ServerProcess(argv, port, env={"ROUTECACHE_TEST": "1"}, cwd=tmp_path) as server:
        assert server.base_url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(server.base_url + "/index.txt", timeout=10) as response:
            assert response.read() == b"ok"
        environ = Path(f"/proc/{server.pid}/environ")
        if environ.exists():
            assert b"ROUTECACHE_TEST=1" in environ.read_bytes().split(b"\0")
        pid = server.pid
    assert not pid_alive(pid)
