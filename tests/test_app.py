"""RecoveryApp: the tree it builds, its status, and its exit status when the root gives up."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pykka
import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.config.model import IntensityConfig
from yesman_recovery.supervisors import ChildInfo, ManualClock, ManualScheduler
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.spec import Backoff, ChildSpec


class Crasher(SupervisedActor):
    """Crashes on every message it is told."""

    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"told {message!r}")


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
        assert top == ["metrics", "storage", "transactions", "tmux", "health"]
        tmux = status["tree"]["children"][3]
        assert [c["id"] for c in tmux["children"]] == ["sessions", "watcher"]
        assert app.metrics_address is not None
    assert app.wait(timeout=5) == 0
    assert app.healthy() is False


def test_the_root_giving_up_ends_with_status_1_and_an_audit_record(tmp_path: Path) -> None:
    app = RecoveryApp(_config(tmp_path), children=[ChildSpec("crasher", Crasher)])
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


def _children(sup: Any) -> dict[str, ChildInfo]:
    return {i.id: i for i in sup.proxy().which_children().get(timeout=5)}


def _wait(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.01)


def test_supervisor_backoff_delays_restarts_of_the_roots_children(tmp_path: Path) -> None:
    base = _config(tmp_path)
    backoff = Backoff(initial=2.0, jitter=0.0)
    config = dataclasses.replace(base, supervisor=dataclasses.replace(base.supervisor,
                                                                      backoff=backoff))  # fmt: skip
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    with RecoveryApp(
        config, clock=clock, scheduler=scheduler, children=[ChildSpec("crasher", Crasher)]
    ) as app:
        crasher = app.root.proxy().whereis("crasher").get(timeout=5)
        crasher.tell("boom")
        assert crasher.wait_exit(5) is not None
        assert _children(app.root)["crasher"].state == "restarting"
        assert clock.monotonic() + 2.0 in scheduler.pending()  # waits for its backoff
        scheduler.advance(2.0)
        _wait(lambda: _children(app.root)["crasher"].incarnation == 2, "the delayed restart")


def test_root_intensity_no_longer_limits_the_tmux_subtree(tmp_path: Path) -> None:
    base = _config(tmp_path)
    config = dataclasses.replace(base, supervisor=dataclasses.replace(base.supervisor,
                                                                      max_restarts=0))  # fmt: skip
    with RecoveryApp(config) as app:
        tmux = app.root.proxy().whereis("tmux").get(timeout=5)
        tmux.proxy().whereis("watcher").get(timeout=5).stop(timeout=5)  # one restart
        _wait(lambda: _children(tmux)["watcher"].incarnation == 2, "the watcher restarted")
        assert _children(app.root)["tmux"].incarnation == 1  # [supervisor.tmux] allows 3
        assert app.wait(timeout=0) is None


def test_supervisor_tmux_limits_the_tmux_subtree(tmp_path: Path) -> None:
    base = _config(tmp_path)
    strict = IntensityConfig(max_restarts=0, max_seconds=5.0)
    config = dataclasses.replace(base, supervisor=dataclasses.replace(base.supervisor,
                                                                      tmux=strict))  # fmt: skip
    with RecoveryApp(config) as app:
        tmux = app.root.proxy().whereis("tmux").get(timeout=5)
        tmux.proxy().whereis("watcher").get(timeout=5).stop(timeout=5)
        # The tmux supervisor gives up at once; the root restarts the whole subtree.
        _wait(lambda: _children(app.root)["tmux"].incarnation == 2, "the tmux subtree restarted")
        assert app.wait(timeout=0) is None
