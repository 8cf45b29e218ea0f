"""The notify protocol against datagram sockets the tests create, and the heartbeat's rule."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from tests.test_app import Crasher, _config
from yesman_recovery.app import RecoveryApp
from yesman_recovery.supervisors.spec import ChildSpec
from yesman_recovery.systemd import Heartbeat, Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def pending(sock: socket.socket) -> list[str]:
    """Every datagram already queued, without waiting."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(5)


def test_messages_arrive_as_systemd_reads_them(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier(path)
    assert notifier.ready("watching 2 sessions\nsecond line")
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching 2 sessions second line"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.reloading()
    reloading = sock.recv(4096).decode().splitlines()
    assert reloading[0] == "RELOADING=1"
    assert reloading[1].startswith("MONOTONIC_USEC=")
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_an_abstract_socket_address_is_understood() -> None:
    name = f"yr-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier("@" + name).status("ok")
        assert sock.recv(4096) == b"STATUS=ok"


def test_the_environment_decides_what_is_sent() -> None:
    off = Notifier.from_environ({})
    assert not off.enabled
    assert off.ready() is False  # a no-op outside systemd
    on = Notifier.from_environ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"})
    assert on.enabled
    assert on.watchdog_interval == 15.0  # half of WatchdogSec
    ours = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environ(ours).watchdog_interval == 1.0
    theirs = {**ours, "WATCHDOG_PID": "1"}
    assert Notifier.from_environ(theirs).watchdog_interval is None


def test_a_vanished_systemd_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert caplog.text.count("cannot notify systemd") == 1


def test_keep_alives_only_while_healthy(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    healthy = [True]
    heartbeat = Heartbeat(Notifier(path), lambda: healthy[0], 1.0, lambda: "fine")
    heartbeat.tick()
    assert pending(sock) == ["WATCHDOG=1", "STATUS=fine"]
    heartbeat.tick()
    assert pending(sock) == ["WATCHDOG=1"], "an unchanged status is not resent"
    healthy[0] = False
    heartbeat.tick()
    assert pending(sock) == []
    assert heartbeat.beats == 2


def test_no_keep_alive_once_the_root_supervisor_gives_up(
    listener: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = listener
    app = RecoveryApp(_config(tmp_path), children=[ChildSpec("crasher", Crasher)])
    heartbeat = Heartbeat(Notifier(path), app.healthy, 1.0)
    app.start()
    try:
        heartbeat.tick()
        assert pending(sock) == ["WATCHDOG=1"]
        while app.wait(timeout=0.01) is None:  # crash the child until the root gives up
            try:
                ref = app.root.proxy().whereis("crasher").get(timeout=5)
            except pykka.ActorDeadError:
                continue
            if ref is not None:
                ref.tell("boom")
                ref.wait_exit(timeout=5)
                heartbeat.tick()  # beats while the root still restarts, never after
        assert app.wait(timeout=10) == 1
        pending(sock)
        heartbeat.tick()
        assert pending(sock) == [], "no WATCHDOG=1 from a daemon whose root gave up"
    finally:
        app.stop()
