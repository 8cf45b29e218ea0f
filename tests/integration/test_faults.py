"""Bad input and damaged state around session supervision: the other sessions keep going."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.storage.conftest import flip_on_disk, stored_checkpoint
from yesman_recovery.config import SessionConfig
from yesman_recovery.storage import open_store
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, checkpointed, session_state, wait_until

pytestmark = pytest.mark.tmux


def test_a_spec_that_does_not_parse_fails_only_its_own_session(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("session_name: broken\nwindows: [\n")
    tmux_client.run("new-session", "-d", "-s", "other")
    app = make_app(sessions=(SessionConfig(name="broken", spec=broken),))

    wait_until(lambda: checkpointed(app, "other"))
    state = session_state(app, "broken")
    assert state is not None
    assert state["state"] == "failed"
    assert str(broken) in state["detail"]
    assert app.root.is_alive()


def test_a_corrupt_newest_checkpoint_is_skipped_for_the_previous_good_one(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    tmux_client.run("new-session", "-d", "-s", "work", "-n", "one", "-c", str(tmp_path))
    app = make_app()
    wait_until(lambda: checkpointed(app, "work"))
    tmux_client.run("new-window", "-t", "=work", "-n", "two", "-c", str(tmp_path))
    assert app.store is not None
    store = app.store
    wait_until(lambda: len(store.checkpoints.list("work")) == 2)
    newest = store.checkpoints.list("work")[0]
    record = store.checkpoints.get(newest.id)
    app.stop()

    state_dir = tmp_path / "state"
    assert flip_on_disk(state_dir, stored_checkpoint(newest.id, record.state, record.metadata), 40)
    server = tmux_client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_pid_gone(server, 5.0)

    app = make_app()

    def restored_windows() -> list[str] | None:
        try:
            session = take_snapshot(tmux_client).session("work")
        except Exception:
            return None
        return [w.name for w in session.windows] if session else None

    assert wait_until(restored_windows) == ["one"]
    with open_store(state_dir) as reopened:
        corruption = reopened.audit.query(kind="corruption")
        assert any(newest.id in e.detail or newest.id == e.subject for e in corruption)
