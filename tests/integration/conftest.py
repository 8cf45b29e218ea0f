"""Fixtures for running the whole application against a real, isolated tmux server."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import Config, SessionConfig, load_config
from yesman_recovery.tmux.client import TmuxClient


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


AppFactory = Callable[..., RecoveryApp]


@pytest.fixture
def make_app(tmux_client: TmuxClient, tmp_path: Path) -> Iterator[AppFactory]:
    """Start a RecoveryApp watching ``tmux_client``'s server; every app is stopped at teardown."""
    apps: list[RecoveryApp] = []

    def factory(
        sessions: tuple[SessionConfig, ...] = (), adopt: tuple[str, ...] = ("*",), **tmux: Any
    ) -> RecoveryApp:
        base: Config = load_config(None)
        tmux.setdefault("poll_interval", 0.2)
        config = dataclasses.replace(
            base,
            metrics=dataclasses.replace(base.metrics, enabled=False),
            tmux=dataclasses.replace(
                base.tmux,
                socket_name=tmux_client.socket_name,
                adopt=adopt,
                programs=base.tmux.programs | {"sleep"},
                **tmux,
            ),
            sessions=sessions,
        )
        app = RecoveryApp(config, state_dir=tmp_path / "state")
        apps.append(app)
        app.start()
        return app

    yield factory
    for app in apps:
        app.stop()


def session_state(app: RecoveryApp, name: str) -> dict[str, Any] | None:
    return next((s for s in app.sessions() if s["name"] == name), None)


def checkpointed(app: RecoveryApp, name: str) -> bool:
    state = session_state(app, name)
    return bool(state and state["state"] == "healthy" and state["checkpointed"])
