"""Fixtures for the command-line tests: a real status endpoint with a canned document."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.conftest import kill_tmux_server
from yesman_recovery.actors.http import StatusServer
from yesman_recovery.tmux.client import TmuxClient

STATUS_DOCUMENT: dict[str, Any] = {
    "version": "0.1.0",
    "healthy": True,
    "tree": {
        "id": "root",
        "kind": "supervisor",
        "state": "running",
        "incarnation": 1,
        "restarts": 0,
        "uptime_seconds": 3725.0,
        "last_exit": None,
        "children": [
            {
                "id": "metrics",
                "kind": "worker",
                "state": "running",
                "incarnation": 1,
                "restarts": 0,
                "uptime_seconds": 12.3,
                "last_exit": None,
            },
            {
                "id": "sessions",
                "kind": "supervisor",
                "state": "restarting",
                "incarnation": 3,
                "restarts": 2,
                "uptime_seconds": None,
                "last_exit": "crashed: ValueError('x')",
                "children": [
                    {
                        "id": "[agent] 1",
                        "kind": "worker",
                        "state": "failed",
                        "incarnation": 2,
                        "restarts": 1,
                        "uptime_seconds": 90061.0,
                        "last_exit": None,
                    }
                ],
            },
        ],
    },
}


@pytest.fixture
def status_document() -> dict[str, Any]:
    """The document :func:`status_endpoint` serves."""
    return STATUS_DOCUMENT


@pytest.fixture
def status_endpoint() -> Iterator[StatusServer]:
    """A real StatusServer on a free loopback port serving :data:`STATUS_DOCUMENT`."""
    server = StatusServer(
        "127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: STATUS_DOCUMENT
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The test process's environment for a daemon subprocess, without our own variables (a
    config, a state directory, systemd's sockets) and with its default state under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YESMAN_", "NOTIFY_", "WATCH"))}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    return env


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[Path]:
    """A configuration on an isolated tmux socket with no server on it: a daemon started from a
    test must never watch a real user's default tmux server. A server a test's daemon started
    there (for a declared session) is killed by pid at teardown."""
    socket_name = f"yr-test-{secrets.token_hex(6)}"
    path = tmp_path / "yr.toml"
    path.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "state"\n'
        f'[tmux]\nsocket_name = "{socket_name}"\nadopt = "none"\n'
    )
    yield path
    kill_tmux_server(TmuxClient(socket_name=socket_name))
