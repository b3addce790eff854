"""One command line, three doors: ``routecache``, ``flask routecache`` and ``manage.py
routecache`` run as subprocesses against a PRIVATE Redis give the same output and the
same exit codes for every subcommand, and errors as one line on stderr.

The apps (one Flask, one Django, same routes) are in ``tests/cli_apps``, configured
from the environment; ``routecache`` warms through the Flask app (``--app``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests._redis_servers import RedisServer, free_port, redis_command

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "clitest"
DOORS = ("routecache", "flask", "django")
FLASK_APP = "tests.cli_apps.flask_app:app"
URLS = ("/items/1", "/items/1?page=2", "/items/2", "/about")
#: Keys of somebody else's on the same Redis: no subcommand may touch them.
FOREIGN = ("otherapp:{x}:y", f"{PREFIX}X:{{y}}:z", f"{PREFIX}:z")


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def _run_on_a_terminal(argv: list[str], env: dict[str, str]) -> Ran:
    """Run with stderr on a pseudo-terminal (stdout piped); what the terminal got."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    # A real terminal has a size; a new pty has 0 columns (tqdm would draw nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=follower, text=True
        )
    finally:
        os.close(follower)
    received = bytearray()
    try:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child's side closed
                break
            if not chunk:
                break
            received += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    return Ran(proc.returncode, out, received.decode(errors="replace"))


class Doors:
    """Runs a subcommand through one door, as a subprocess of the test's Python."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.env: dict[str, str] = {
            "CLI_REDIS_URL": url,
            "CLI_PREFIX": PREFIX,
            "DJANGO_SETTINGS_MODULE": "tests.cli_apps.django_settings",
        }

    def run(self, door: str, *args: str, tty: bool = False, **env: str) -> Ran:
        command, rest = args[0], list(args[1:])
        if door == "routecache":
            if command == "warm":
                options = ["--app", FLASK_APP]
            else:
                options = ["--redis-url", env.get("CLI_REDIS_URL", self.url), "--prefix", PREFIX]
            argv = ["-m", "routecache.cli", command, *options, *rest]
        elif door == "flask":
            argv = ["-m", "flask", "--app", env.pop("FLASK_APP", FLASK_APP), "routecache", *args]
        else:
            argv = ["-m", "django", "routecache", *args]
        environ = {**os.environ, **self.env, **env}
        environ.pop("ROUTECACHE_REDIS_URL", None)
        environ.pop("REDIS_URL", None)
        if tty:
            return _run_on_a_terminal([sys.executable, *argv], environ)
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def every(self, *args: str) -> dict[str, Ran]:
        """The same subcommand through each door."""
        return {door: self.run(door, *args) for door in DOORS}


@pytest.fixture
def doors(redis_clean_url: str, redis_server: RedisServer) -> Doors:
    for key in FOREIGN:
        redis_command(redis_server.port, "SET", key, "keep me")
    return Doors(redis_clean_url)


def warm(doors: Doors) -> None:
    done = doors.run("routecache", "warm", "--host", "testserver", *URLS)
    assert done.code == 0, done
    assert done.out.count("stored") == len(URLS), done.out


def steady(text: str) -> str:
    """Output without the figures that move between two runs (ages, times left, the
    server's memory)."""
    text = re.sub(r"used_memory [\d.]+ \w+,", "used_memory N,", text)
    return re.sub(r" *\d+(\.\d+)?s\b", " Ns", text)


def steady_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: steady_json(v)
            for k, v in data.items()
            if k not in ("age", "expires_in", "used_memory")
        }
    if isinstance(data, list):
        return [steady_json(v) for v in data]
    return data


def same(results: dict[str, Ran], *, as_json: bool = False) -> Ran:
    """Assert every door answered alike; return one answer."""
    first = results["routecache"]
    for door, ran in results.items():
        assert ran.code == first.code, (door, ran, first)
        assert ran.err == first.err, (door, ran.err, first.err)
        if as_json:
            assert steady_json(json.loads(ran.out)) == steady_json(json.loads(first.out)), door
        else:
            assert steady(ran.out) == steady(first.out), (door, ran.out, first.out)
    return first


def test_stats_ls_show_agree_through_every_door(doors: Doors) -> None:
    warm(doors)
    stats = same(doors.every("stats"))
    assert stats.code == 0
    assert f"prefix: {PREFIX}\n" in stats.out
    assert "entries: 4\n" in stats.out
    data = json.loads(same(doors.every("stats", "--json"), as_json=True).out)
    assert (data["store"], data["prefix"], data["entries"]) == ("redis", PREFIX, 4)

    listed = json.loads(same(doors.every("ls", "--json"), as_json=True).out)
    assert len(listed["entries"]) == 4
    assert all(row["status"] == 200 for row in listed["entries"])
    human = same(doors.every("ls", "--limit", "2"))
    assert human.out.splitlines()[-1].startswith("2 entries under prefix 'clitest' (the first")

    shown = json.loads(same(doors.every("show", "/items/1", "--json"), as_json=True).out)
    assert len(shown["entries"]) == 2  # with and without the query
    assert shown["entries"][0]["tags"] == ["items", "item:1"]
    key = shown["entries"][0]["key"]
    one = same(doors.every("show", key))
    assert one.out.startswith(f"1 entry for key {key}\n")
    assert "  content-type: text/html; charset=utf-8" in one.out

    nothing = same(doors.every("show", "/nothing"))
    assert nothing.code == 3
    assert nothing.out == f"nothing cached for path /nothing under prefix '{PREFIX}'\n"


def test_purge_agrees_and_leaves_foreign_keys_alone(
    doors: Doors, redis_server: RedisServer
) -> None:
    outputs: dict[str, list[Ran]] = {}
    for door in DOORS:
        warm(doors)
        outputs[door] = [
            doors.run(door, "purge", "--path", "/items/1", "--dry-run"),
            doors.run(door, "purge", "--path", "/items/1"),
            doors.run(door, "purge", "--tag", "items"),
            doors.run(door, "purge", "--all", "--dry-run", "--json"),
            doors.run(door, "purge", "--all"),
        ]
        left = redis_command(redis_server.port, "KEYS", "*")
        assert isinstance(left, list)
        assert sorted(left) == sorted(key.encode() for key in FOREIGN), door  # type: ignore[type-var]
    first = outputs["routecache"]
    assert [ran.out for ran in first[:3]] == [
        f"would remove 2 key(s) under prefix '{PREFIX}'\n",
        f"removed 2 key(s) under prefix '{PREFIX}'\n",
        f"removed 1 key(s) under prefix '{PREFIX}'\n",
    ]
    assert json.loads(first[3].out)["would_remove"] > 0
    for door in DOORS:
        assert outputs[door] == first, door


def test_warm_says_which_host_it_used(doors: Doors, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("# warmed at deploy\n/items/7\n\n/broken\n")
    expected = {
        "routecache": "as http://routecache.example (host: SERVER_NAME)",  # a Flask --app
        "flask": "as http://flask.example (host: SERVER_NAME)",
        "django": "as http://django.example (host: ALLOWED_HOSTS[0])",
    }
    for door in DOORS:
        env = {"CLI_SERVER_NAME": f"{door}.example", "CLI_ALLOWED_HOST": f"{door}.example"}
        done = doors.run(door, "warm", "--from-file", str(listing), "/about", **env)
        assert done.code == 3, done  # /broken answered 500
        lines = done.out.splitlines()
        assert lines[0] == f"warming 3 URL(s) {expected[door]}", done.out
        assert lines[1:3] == [
            "200  /about  routecache; fwd=uri-miss; stored",
            "200  /items/7  routecache; fwd=uri-miss; stored",
        ]
        assert lines[3].startswith("500  /broken  ")
        assert lines[4] == "2 of 3 answered without an error"
        default = doors.run(door, "warm", "/about")
        assert default.code == 0, default
        assert default.out.startswith("warming 1 URL(s) as http://localhost (host: the default")
        given = doors.run(door, "warm", "--host", "h.example", "--json", "/about", **env)
        assert given.code == 0, given
        data = json.loads(given.out)
        assert (data["host"], data["host_source"], data["failed"]) == ("h.example", "--host", 0)


def one_line_error(ran: Ran, code: int, start: str) -> None:
    assert ran.code == code, ran
    assert ran.out == "", ran
    assert ran.err.startswith(f"routecache: {start}"), ran.err
    assert ran.err.count("\n") == 1, ran.err  # one line: no traceback, no fault log


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(
    "args", [("stats",), ("ls",), ("show", "/items/1"), ("purge", "--all")], ids=str
)
def test_unreachable_redis_is_one_line(doors: Doors, door: str, args: Sequence[str]) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    one_line_error(doors.run(door, *args, CLI_REDIS_URL=down), 1, "the store failed: ")


@pytest.mark.parametrize("door", DOORS)
def test_a_bad_redis_url_is_one_line(doors: Doors, door: str) -> None:
    ran = doors.run(door, "stats", CLI_REDIS_URL="redis+sentinel://h1:x/master")
    assert "the port of sentinel 'h1' must be 1..65535" in ran.err
    one_line_error(ran, 2, "")


def test_a_bad_app_is_one_line(doors: Doors) -> None:
    ran = doors.run("routecache", "warm", "/about", "--app", "tests.nosuch:app")
    one_line_error(ran, 2, "--app 'tests.nosuch:app' does not load: ModuleNotFoundError")
    ran = doors.run("flask", "stats", FLASK_APP="tests.nosuch:app")
    one_line_error(ran, 2, "")
    assert "tests.nosuch" in ran.err


@pytest.mark.parametrize("door", DOORS)
def test_usage_errors_are_one_line(doors: Doors, door: str) -> None:
    one_line_error(doors.run(door, "purge"), 2, "purge: name what to purge: --path, --tag or --all")
    one_line_error(doors.run(door, "show", "items"), 2, "show: give a URL path")
    one_line_error(doors.run(door, "warm"), 2, "warm: name the URLs to request")


def test_the_commands_on_a_memory_store() -> None:
    from flask import Flask

    from routecache import MemoryStore
    from routecache.adapters.flask import RouteCache

    store = MemoryStore(prefix=PREFIX)
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    @RouteCache.route(ttl=60, tags=["items"])
    def item(id: int) -> str:
        return f"item {id}"

    RouteCache(app, store=store)
    runner = app.test_cli_runner()
    for target in ("/items/1", "/items/2"):
        assert app.test_client().get(target).status_code == 200
    listed = runner.invoke(args=["routecache", "ls", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [row["status"] for row in json.loads(listed.stdout)["entries"]] == [200, 200]
    shown = runner.invoke(args=["routecache", "show", "/items/1"])
    assert shown.stdout.startswith("1 entry for path /items/1\n"), shown.output
    dry = runner.invoke(args=["routecache", "purge", "--tag", "items", "--dry-run"])
    assert dry.stdout == f"would remove 2 key(s) under prefix '{PREFIX}'\n"
    assert len(store) == 2


@pytest.mark.parametrize("door", DOORS)
def test_a_progress_bar_on_a_terminal_only(doors: Doors, door: str) -> None:
    urls = [f"/items/{n}" for n in range(1, 13)]
    on_terminal = doors.run(door, "warm", "--host", f"{door}.tty", *urls, tty=True)
    assert on_terminal.code == 0, on_terminal
    assert "warm:" in on_terminal.err, on_terminal.err  # tqdm's bar, on stderr
    assert on_terminal.out.count("stored") == 12, on_terminal.out
    piped = doors.run(door, "warm", "--host", f"{door}.tty", *urls)
    assert (piped.code, piped.err) == (0, "")
    assert piped.out.count("hit") == 12, piped.out
    as_json = doors.run(door, "warm", "--host", f"{door}.tty", "--json", *urls, tty=True)
    assert "warm:" not in as_json.err  # --json: for scripts, no bar
    paths = [arg for url in urls for arg in ("--path", url)]
    purged = doors.run(door, "purge", *paths, tty=True)
    assert purged.out == f"removed 12 key(s) under prefix '{PREFIX}'\n", purged
    assert "purge:" in purged.err, purged.err
