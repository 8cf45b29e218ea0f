"""Shared fixtures."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Iterator

import psutil
import pytest

from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone


@pytest.fixture(autouse=True, scope="session")
def _plain_shell() -> Iterator[None]:
    """Panes of every server the tests start — also those a daemon restarts without the test's
    tmux config — run ``/bin/sh``: the machine user's login rc (slow, locking, interactive) must
    not decide a test's timing. Tests of the user's own shell set ``SHELL`` for their server."""
    old = os.environ.get("SHELL")
    os.environ["SHELL"] = "/bin/sh"
    yield
    if old is None:
        os.environ.pop("SHELL", None)
    else:
        os.environ["SHELL"] = old


@pytest.fixture
def tmux_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TmuxClient]:
    """A client for an isolated tmux server (``-L yr-test-<random>``).

    Its config only sets ``default-shell /bin/sh``, so panes start fast whatever the user's shell
    rc does. The test starts the server (e.g. with ``new-session``). At teardown every server pid
    seen on that socket is continued and killed by pid, and the socket file is removed.
    """
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not on PATH")
    config = tmp_path_factory.mktemp("tmux") / "tmux.conf"
    config.write_text("set -g default-shell /bin/sh\n")
    client = TmuxClient(socket_name=f"yr-test-{secrets.token_hex(6)}", config_file=str(config))
    yield client
    kill_tmux_server(client)


def kill_tmux_server(client: TmuxClient) -> None:
    """End the server on ``client``'s socket by pid (a stopped one is continued first)."""
    socket = os.path.join(
        os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", client.socket_name or ""
    )
    pids = {pid for pid in _socket_pids(socket) if pid != os.getpid()}
    with contextlib.suppress(Exception):
        pid = TmuxClient(socket_name=client.socket_name, timeout=1.0).server_pid()
        if pid:
            pids.add(pid)
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        wait_pid_gone(pid, 5.0)
    with contextlib.suppress(OSError):
        os.unlink(socket)


def _socket_pids(socket: str) -> set[int]:
    """Pids of tmux processes started with ``-L <this socket's name>`` (the name is random)."""
    name = os.path.basename(socket)
    pids: set[int] = set()
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = proc.info["cmdline"] or []
            ours = cmd and os.path.basename(cmd[0]) == "tmux" and "-L" in cmd
            if ours and cmd[cmd.index("-L") + 1 :][:1] == [name]:
                pids.add(proc.pid)
    return pids
