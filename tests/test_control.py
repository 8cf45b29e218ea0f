"""The control channel: real Unix sockets in a temporary state directory."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_app import _config
from yesman_recovery import control
from yesman_recovery.app import RecoveryApp
from yesman_recovery.control import ControlError, ControlServer, DaemonNotRunning, call


@pytest.fixture
def server(tmp_path: Path) -> Any:
    srv = ControlServer(control.socket_path(tmp_path))
    srv.register("ping", lambda _args: {"pid": os.getpid()})
    srv.register("echo", lambda args: args)
    srv.register("refuse", lambda args: (_ for _ in ()).throw(ValueError("no breaker 'x'")))
    srv.register("missing", lambda args: args["nothing"])
    srv.register("bug", lambda args: 1 / 0)
    srv.start()
    yield srv
    srv.close()


def test_a_command_answers_with_its_result(server: ControlServer, tmp_path: Path) -> None:
    assert call(tmp_path, "echo", {"name": "model-api", "n": [1, "é"]}) == {
        "name": "model-api",
        "n": [1, "é"],
    }


def test_the_socket_is_owner_only(server: ControlServer, tmp_path: Path) -> None:
    mode = os.stat(tmp_path / control.SOCKET_NAME).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_refusals_carry_the_handler_words(server: ControlServer, tmp_path: Path) -> None:
    with pytest.raises(ControlError, match=r"^no breaker 'x'$"):
        call(tmp_path, "refuse")
    with pytest.raises(ControlError, match=r"^nothing$"):
        call(tmp_path, "missing")
    with pytest.raises(ControlError, match="internal error: ZeroDivisionError"):
        call(tmp_path, "bug")
    with pytest.raises(ControlError, match="unknown command 'nope'; known: bug, echo, missing"):
        call(tmp_path, "nope")
    assert call(tmp_path, "ping") == {"pid": os.getpid()}  # still serving after a bug


def test_malformed_requests_are_answered_not_fatal(server: ControlServer, tmp_path: Path) -> None:
    for line in (b"not json\n", b"[1]\n", b'{"command": "echo", "args": 3}\n'):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(tmp_path / control.SOCKET_NAME))
            sock.sendall(line)
            reply = json.loads(sock.makefile("rb").readline())
        assert reply["ok"] is False
        assert reply["error"]
    assert call(tmp_path, "echo", {"a": 1}) == {"a": 1}


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match=f"no daemon is running on {tmp_path}"):
        call(tmp_path, "ping")


def test_a_killed_daemons_socket_is_replaced(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / control.SOCKET_NAME))
    stale.close()  # the file stays, nobody listens: what SIGKILL leaves behind
    with pytest.raises(DaemonNotRunning):
        call(tmp_path, "ping")
    srv = ControlServer(control.socket_path(tmp_path))
    srv.register("ping", lambda _args: "pong")
    srv.start()
    try:
        assert call(tmp_path, "ping") == "pong"
    finally:
        srv.close()
    assert not (tmp_path / control.SOCKET_NAME).exists()


def test_a_second_server_on_a_live_socket_is_refused(server: ControlServer, tmp_path: Path) -> None:
    second = ControlServer(control.socket_path(tmp_path))
    with pytest.raises(ControlError, match="another daemon is listening"):
        second.start()
    assert call(tmp_path, "ping") == {"pid": os.getpid()}  # the first one is untouched


def test_a_state_dir_deeper_than_sun_path_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    srv = ControlServer(control.socket_path(deep))
    srv.register("ping", lambda _args: "pong")
    srv.start()
    try:
        assert call(deep, "ping") == "pong"
    finally:
        srv.close()
    assert not (deep / control.SOCKET_NAME).exists()


def test_a_flood_of_idle_clients_is_bounded_and_served_after(
    server: ControlServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = []
    try:
        for _ in range(control.MAX_CONNECTIONS):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(tmp_path / control.SOCKET_NAME))
            idle.append(sock)
        deadline = time.monotonic() + 5
        while True:  # the server takes them all, one thread each, then refuses the next
            try:
                call(tmp_path, "ping", timeout=2)
            except ControlError as exc:
                refused = str(exc)
                break
            assert time.monotonic() < deadline, "a 17th connection was still served"
            time.sleep(0.02)
    finally:
        for sock in idle:
            sock.close()
    assert "busy" in refused
    deadline = time.monotonic() + 5
    while True:  # the slots free up as the idle clients go away
        try:
            assert call(tmp_path, "ping", timeout=2) == {"pid": os.getpid()}
            break
        except ControlError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_slow_client_is_cut_off(
    server: ControlServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control._RequestHandler, "timeout", 0.2)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(tmp_path / control.SOCKET_NAME))
        sock.sendall(b'{"command": "pi')  # and never finishes the line
        started = time.monotonic()
        assert sock.recv(100).startswith(b'{"ok": false')  # answered, then closed
        assert time.monotonic() - started < 4


def test_the_app_serves_ping_and_status_and_removes_its_socket(tmp_path: Path) -> None:
    app = RecoveryApp(_config(tmp_path))
    seen: list[str] = []

    def probe(args: dict[str, Any]) -> str:
        seen.append(args["x"])
        return "ok"

    app.control.register("probe", probe)
    with app:
        state_dir = app.state_dir
        assert call(state_dir, "ping")["pid"] == os.getpid()
        status = call(state_dir, "status")
        assert status["healthy"] is True
        assert [c["id"] for c in status["tree"]["children"]][:2] == ["metrics", "storage"]
        assert call(state_dir, "probe", {"x": "hello"}) == "ok"
    assert seen == ["hello"]
    assert not control.socket_path(state_dir).exists()
    with pytest.raises(DaemonNotRunning):
        call(state_dir, "ping")


def test_commands_run_concurrently(server: ControlServer, tmp_path: Path) -> None:
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(call(tmp_path, "echo", {"i": i})))
        for i in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(r["i"] for r in results) == list(range(10))
