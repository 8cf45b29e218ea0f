"""Reloading the configuration into a running app: only what changed is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.supervisors.supervisor import ChildInfo
from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until

pytestmark = pytest.mark.tmux


def _write(path: Path, socket: str, sessions: list[str], extra: str = "") -> None:
    declared = "".join(f'[[sessions]]\nname = "{n}"\n' for n in sessions)
    path.write_text(
        f'[metrics]\nenabled = false\n[tmux]\nsocket_name = "{socket}"\npoll_interval = "0.2s"\n'
        f'adopt = "none"\n{extra}{declared}'
    )


def _children(app: RecoveryApp) -> dict[str, ChildInfo]:
    tmux = app.root.proxy().whereis("tmux").get(timeout=5)
    sup = tmux.proxy().whereis("sessions").get(timeout=5)
    return {c.id: c for c in sup.proxy().which_children().get(timeout=5)}


def _reload_count(app: RecoveryApp, outcome: str) -> float:
    value = app.metrics.registry.get_sample_value(
        "yesman_recovery_config_reloads_total", {"outcome": outcome}
    )
    assert value is not None, "the counter exists from the start"
    return value


@pytest.fixture
def running(tmux_client: TmuxClient, tmp_path: Path) -> Any:
    config_file = tmp_path / "yr.toml"
    assert tmux_client.socket_name is not None
    _write(config_file, tmux_client.socket_name, ["keep-1", "keep-2", "drop"])
    for name in ("keep-1", "keep-2", "drop"):
        tmux_client.run("new-session", "-d", "-s", name)
    app = RecoveryApp(load_config(config_file), state_dir=tmp_path / "state")
    app.start()
    wait_until(lambda: {s["name"]: s["state"] for s in app.sessions()}.get("keep-2") == "healthy")
    yield app, config_file, tmux_client.socket_name
    app.stop()


def test_reload_adds_and_removes_sessions_without_restarting_the_others(running: Any) -> None:
    app, config_file, socket = running
    before = _children(app)
    assert _reload_count(app, "applied") == 0
    _write(config_file, socket, ["keep-1", "keep-2", "added"])

    answer = app.reload()

    assert answer["ok"] is True
    assert answer["added"] == ["added"]
    assert answer["removed"] == ["drop"]
    assert "sessions added: added" in answer["summary"]
    after = _children(app)
    assert set(after) == {"keep-1", "keep-2", "added"}
    for name in ("keep-1", "keep-2"):  # the same actors: never stopped
        assert after[name].incarnation == before[name].incarnation
        assert after[name].ref == before[name].ref
    wait_until(lambda: any(s["name"] == "added" for s in app.sessions()))
    assert [s.name for s in app.config.sessions] == ["keep-1", "keep-2", "added"]
    assert _reload_count(app, "applied") == 1
    events = app.store.audit.query(kind="config")
    assert "sessions added: added" in events[0].detail


def test_a_bad_reload_keeps_the_last_good_configuration(running: Any) -> None:
    app, config_file, _socket = running
    before = _children(app)
    good = app.config
    config_file.write_text(config_file.read_text().replace('poll_interval = "0.2s"',
                                                           'poll_interval = "soon"'))  # fmt: skip

    answer = app.reload()

    assert answer["ok"] is False
    assert answer["outcome"] == "rejected"
    assert any("tmux.poll_interval" in line for line in answer["errors"])
    assert app.config is good
    after = _children(app)
    assert {n: c.incarnation for n, c in after.items()} == {
        n: c.incarnation for n, c in before.items()
    }
    assert _reload_count(app, "rejected") == 1
    events = app.store.audit.query(kind="config")
    assert "last good configuration kept" in events[0].detail
    assert "poll_interval" in events[0].detail


def test_a_changed_session_is_replaced_and_restart_settings_are_reported(running: Any) -> None:
    app, config_file, socket = running
    before = _children(app)
    _write(config_file, socket, ["keep-1", "keep-2", "drop"])
    text = config_file.read_text().replace(
        '[[sessions]]\nname = "drop"\n', '[[sessions]]\nname = "drop"\nscrollback = 100\n'
    )
    config_file.write_text(text.replace("[tmux]", '[storage]\ndurability = "fast"\n[tmux]'))

    answer = app.reload()

    assert answer["ok"] is True
    assert answer["changed"] == ["drop"]
    assert answer["needs_restart"] == ["storage.durability"]
    assert "needs a restart to apply: storage.durability" in answer["summary"]
    after = _children(app)
    assert after["keep-1"].ref == before["keep-1"].ref
    assert after["drop"].ref != before["drop"].ref


def test_a_restart_of_the_subtree_after_a_reload_starts_from_the_new_file(running: Any) -> None:
    app, config_file, socket = running
    _write(config_file, socket, ["keep-1", "added"])
    assert app.reload()["ok"] is True
    tmux = app.root.proxy().whereis("tmux").get(timeout=5).proxy()

    tmux.terminate_child("sessions").get(timeout=10)
    tmux.restart_child("sessions").get(timeout=10)

    assert set(_children(app)) == {"keep-1", "added"}


def test_reload_starts_stops_and_replaces_only_the_health_checks_that_changed(
    running: Any, tmp_path: Path
) -> None:
    app, config_file, socket = running
    checks = (
        '[[health_checks]]\nname = "kept"\nkind = "command"\ncommand = "true"\n'
        'interval = "0.2s"\ntimeout = "0.1s"\n'
        '[[health_checks]]\nname = "dropped"\nkind = "command"\ncommand = "true"\n'
        'interval = "0.2s"\ntimeout = "0.1s"\n'
    )
    _write(config_file, socket, ["keep-1", "keep-2", "drop"], extra="")
    config_file.write_text(config_file.read_text() + checks)
    assert app.reload()["ok"]
    health = app.root.proxy().whereis("health").get(timeout=5)

    def checks_now() -> dict[str, ChildInfo]:
        return {c.id: c for c in health.proxy().which_children().get(timeout=5)}

    kept = wait_until(lambda: checks_now().get("kept"))
    wait_until(lambda: {v["name"]: v["status"] for v in app.health.views()}.get("kept")
               == "healthy")  # fmt: skip
    config_file.write_text(config_file.read_text().replace('name = "dropped"', 'name = "added"'))
    answer = app.reload()
    assert answer["ok"], answer
    assert answer["checks"] == ["added", "dropped"]
    assert set(checks_now()) == {"kept", "added"}
    assert checks_now()["kept"].ref == kept.ref  # untouched: the same actor
    assert [v["name"] for v in app.health.views()] == ["kept", "added"]
