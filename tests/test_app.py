"""RecoveryApp: the tree it builds, its status, and its exit status when the root gives up."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Any

import pykka
import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.spec import ChildSpec


class Crasher(SupervisedActor):
    """Crashes on every message it is told."""

    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"told {message!r}")


class CrashingApp(RecoveryApp):
    def extra_children(self) -> list[ChildSpec]:
        return [*super().extra_children(), ChildSpec("crasher", Crasher)]


def _config(tmp_path: Path) -> Any:
    base = load_config(None)
    return dataclasses.replace(
        base,
        metrics=dataclasses.replace(base.metrics, port=0),
        tmux=dataclasses.replace(
            base.tmux, socket_name=f"yr-test-{secrets.token_hex(6)}", adopt=()
        ),
        storage=dataclasses.replace(base.storage, path=tmp_path / "state"),
    )


def test_status_lists_the_whole_tree(tmp_path: Path) -> None:
    with RecoveryApp(_config(tmp_path)) as app:
        status = app.status()
        assert status["healthy"] is True
        top = [c["id"] for c in status["tree"]["children"]]
        assert top == ["metrics", "storage", "tmux", "health"]
        tmux = status["tree"]["children"][2]
        assert [c["id"] for c in tmux["children"]] == ["sessions", "watcher"]
        assert app.metrics_address is not None
    assert app.wait(timeout=5) == 0
    assert app.healthy() is False


def test_the_root_giving_up_ends_with_status_1_and_an_audit_record(tmp_path: Path) -> None:
    app = CrashingApp(_config(tmp_path))
    app.start()
    try:
        # Default intensity is 3 restarts in 5 s: the fourth crash makes the root give up.
        crashes = 0
        while app.wait(timeout=0.01) is None and crashes < 10:
            try:
                ref = app.root.proxy().whereis("crasher").get(timeout=5)
            except pykka.ActorDeadError:
                break  # the root gave up meanwhile
            if ref is not None:
                ref.tell("boom")
                ref.wait_exit(timeout=5)
                crashes += 1
        assert crashes == 4
        assert app.wait(timeout=10) == 1
        assert app.wait(timeout=1) == 1  # asking again records nothing twice
        assert app.store is not None
        events = app.store.audit.query(kind="supervisor", subject="root")
        assert [e.action for e in events] == ["give_up"]
        assert "RestartIntensityExceeded" in events[0].detail
        assert (
            app.metrics.registry.get_sample_value(
                "yesman_recovery_restart_intensity_exceeded_total", {"supervisor": "root"}
            )
            == 1.0
        )
    finally:
        app.stop()


def test_start_twice_is_refused(tmp_path: Path) -> None:
    with RecoveryApp(_config(tmp_path)) as app, pytest.raises(RuntimeError, match="already"):
        app.start()
