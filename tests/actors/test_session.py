"""The real SessionActor against a fake tmux server and a manual clock: every failure kind.

Each test starts one actor, tells it observations as the watcher would, and checks what a user
sees: the session's state, the server's sessions, the audit trail and the metrics. No tmux, no
real time: a respawn that never settles advances the manual clock instead of sleeping.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.actors.conftest import World
from tests.actors.fakes import TAIL, session
from yesman_recovery.actors.context import SessionSettings
from yesman_recovery.actors.limits import GiveUpBackoff
from yesman_recovery.actors.session import SessionActor
from yesman_recovery.storage import Store
from yesman_recovery.supervisors import SupervisedRef
from yesman_recovery.supervisors.spec import Restart
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.spec import bare_session

POLICY = ProgramPolicy.from_names(frozenset({"tail"}))


@pytest.fixture
def actors() -> Iterator[list[SupervisedRef]]:
    refs: list[SupervisedRef] = []
    yield refs
    for ref in refs:
        ref.shutdown(5)


def start(world: World, actors: list[SupervisedRef], name: str = "work", **kw: Any) -> Any:
    fields: dict[str, Any] = {"declared": False, "policy": POLICY, "restart": Restart.TRANSIENT}
    fields.update(kw)
    ref = SessionActor.start(settings=SessionSettings(name=name, **fields), context=world.context)
    actors.append(ref)
    return ref


def tell(world: World, ref: Any) -> dict[str, Any]:
    """Send the current observation; returns the actor's description once it has acted."""
    ref.ask(world.observe(), timeout=5)
    described: dict[str, Any] = ref.proxy().describe().get(timeout=5)
    return described


def checkpoints(store: Store, name: str) -> list[SessionCheckpoint]:
    return [
        SessionCheckpoint.from_state(store.checkpoints.get(c.id).state)
        for c in store.checkpoints.list(name)
    ]


def test_a_healthy_session_is_checkpointed_once_per_shape(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 2), ("logs", 1)))
    ref = start(world, actors)
    first = tell(world, ref)
    assert (first["state"], first["checkpointed"], first["mode"]) == ("healthy", True, "adopted")
    tell(world, ref)
    world.tmux.change_pane("work", (0, 1), title="busy")  # not a change of shape
    tell(world, ref)
    assert len(world.store.checkpoints.list("work")) == 1
    world.tmux.drop_window("work", 1)  # the user closes a window: a new shape
    world.clock.advance(1.0)
    tell(world, ref)
    assert len(world.store.checkpoints.list("work")) == 2


def test_a_crashed_server_is_restored_from_the_checkpoint(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 2), ("logs", 1)))
    ref = start(world, actors)
    tell(world, ref)
    old_pid = world.tmux.kill()
    described = tell(world, ref)
    assert (described["state"], described["recoveries"]) == ("healthy", 1)
    restored = world.tmux.session("work")
    assert restored is not None
    assert [len(w.panes) for w in restored.windows] == [2, 1]
    assert world.processes.waited == [old_pid]  # the old server's exit was awaited first
    assert world.audit("work") == [("recovery", "restore", "success")]
    assert world.recoveries("crashed", "success") == 1
    # The next look at the new server writes a checkpoint with its pid.
    tell(world, ref)
    assert checkpoints(world.store, "work")[0].server_pid == world.tmux.pid


def test_a_restore_that_falls_short_is_finished_and_never_checkpointed(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1), ("logs", 1)))
    ref = start(world, actors)
    tell(world, ref)
    world.tmux.kill()
    world.tmux.builds["work"] = session("work", ("main", 1))  # tmux builds only one window
    described = tell(world, ref)
    assert described["state"] != "healthy"
    assert "logs" in described["detail"] or "window" in described["detail"]
    assert len(world.store.checkpoints.list("work")) == 1  # the short session was not saved
    described = tell(world, ref)  # the repair recreates the missing window
    assert described["state"] == "healthy"
    names = [w.name for w in world.tmux.sessions["work"].windows]
    assert names == ["main", "logs"]
    assert ("recovery", "recreate_missing", "success") in world.audit("work")


def test_a_stopped_program_gets_sigcont_after_the_grace_then_counts_as_resumed(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors, frozen_grace=2.0)
    tell(world, ref)
    stopped = world.tmux.change_pane("work", (0, 0), stopped=True)
    assert tell(world, ref)["state"] == "healthy"  # within the grace period
    assert world.scheduler.advance(2.0) == 1  # the actor looks again when the grace ends
    assert ref.proxy().describe().get(timeout=5)["state"] == "frozen"
    assert (stopped.program_pid, signal.SIGCONT) in world.processes.signals
    described = tell(world, ref)
    assert (described["state"], described["recoveries"]) == ("healthy", 1)
    assert world.audit("work") == [
        ("recovery", "sigcont", "attempted"),
        ("recovery", "sigcont", "success"),
    ]
    assert world.recoveries("frozen", "success") == 1


def test_a_program_still_stopped_after_sigcont_is_respawned(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.processes.sigcont_works = False
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors, frozen_grace=2.0)
    tell(world, ref)
    world.tmux.change_pane("work", (0, 0), stopped=True)
    tell(world, ref)
    world.scheduler.advance(2.0)
    assert ref.proxy().describe().get(timeout=5)["state"] == "frozen"
    world.scheduler.advance(2.0)  # a grace period after the SIGCONT
    described = ref.proxy().describe().get(timeout=5)
    assert described["state"] == "healthy"
    pane = world.tmux.sessions["work"].windows[0].panes[0]
    assert (pane.stopped, pane.argv) == (False, TAIL)
    assert world.audit("work")[-1] == ("recovery", "respawn", "success")


def test_an_exited_program_is_respawned_and_a_loop_gives_up_then_rearms_with_backoff(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    backoff = GiveUpBackoff(initial=60.0, maximum=3600.0, reset=600.0)
    ref = start(
        world, actors, program_max_restarts=1, program_max_seconds=30.0, give_up_backoff=backoff
    )
    tell(world, ref)

    def exit_program() -> None:
        world.tmux.change_pane("work", (0, 0), dead=True, dead_status=1, argv=None)

    exit_program()
    assert tell(world, ref)["state"] == "healthy"
    assert world.tmux.sessions["work"].windows[0].panes[0].argv == TAIL
    exit_program()
    described = tell(world, ref)
    assert described["state"] == "failed"
    assert "gave up after more than 1 recoveries in 30 s" in described["detail"]
    assert described["detail"].endswith("next attempt in 1 min")
    assert described["retry_in"] == 60.0
    tell(world, ref)  # given up: the dead pane is left alone
    assert world.tmux.sessions["work"].windows[0].panes[0].dead
    world.clock.advance(31.0)
    assert tell(world, ref)["state"] == "failed"  # the intensity window passed, not the backoff
    world.clock.advance(30.0)
    assert tell(world, ref)["state"] == "healthy"  # re-armed and respawned
    assert [a for _, a, _ in world.audit("work")] == ["respawn", "give_up", "rearm", "respawn"]
    exit_program()
    described = tell(world, ref)
    assert described["state"] == "failed"  # failing again at once: the delay doubles
    assert described["detail"].endswith("next attempt in 2 min")
    assert world.recoveries("disconnected", "failed") == 2


def test_a_respawn_whose_program_never_runs_fails_without_real_waiting(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors)
    tell(world, ref)
    world.tmux.change_pane("work", (0, 0), dead=True, dead_signal=9, argv=None)  # killed
    world.tmux.respawn_dies = True  # the program exits again at once
    before = world.clock.monotonic()
    described = tell(world, ref)
    assert described["state"] == "recovering"
    assert "exited" in described["detail"]
    assert world.clock.monotonic() - before >= 2.0  # SETTLE passed on the manual clock
    assert world.audit("work")[-1] == ("recovery", "respawn", "failed")


def test_an_unresponsive_server_makes_the_session_frozen(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors)
    tell(world, ref)
    world.tmux.frozen = True
    described = tell(world, ref)
    assert described["state"] == "frozen"
    assert "unresponsive" in described["detail"]
    world.tmux.frozen = False
    assert tell(world, ref)["state"] == "healthy"


def test_an_adopted_session_closed_by_the_user_is_released(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors)
    tell(world, ref)
    world.tmux.close("work")
    ref.tell(world.observe())
    reason = ref.wait_exit(5)
    assert reason is not None
    assert not reason.abnormal
    assert world.tmux.session("work") is None
    assert world.audit("work") == [("session", "release", "success")]


def test_a_declared_session_closed_by_the_user_is_brought_back(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    ref = start(world, actors, declared=True, restart=Restart.PERMANENT)
    assert tell(world, ref)["mode"] == "declared"
    world.tmux.close("work")
    described = tell(world, ref)
    assert described["state"] == "healthy", described
    assert world.tmux.session("work") is not None
    assert world.audit("work") == [("recovery", "restore", "success")]
    newest = world.store.checkpoints.latest_good("work")
    assert newest is not None
    assert newest.metadata["mode"] == "declared"


def test_a_declared_session_without_a_spec_is_created_as_a_plain_session(
    world: World, actors: list[SupervisedRef]
) -> None:
    world.tmux.start(session("other", ("main", 1)))
    world.tmux.builds["work"] = bare_session("work")  # what tmux makes of the plan
    ref = start(world, actors, name="work", declared=True)
    described = tell(world, ref)
    assert described["state"] == "healthy"
    (chain,) = world.tmux.chains
    assert chain[0][:4] == ("new-session", "-d", "-s", "work")
    assert [a for _, a, _ in world.audit("work")] == ["create"]


def test_a_declared_session_missing_a_spec_window_is_repaired(
    world: World, actors: list[SupervisedRef], tmp_path: Path
) -> None:
    spec = tmp_path / "work.yaml"
    spec.write_text(
        f"session_name: work\nstart_directory: {tmp_path}\nwindows:\n"
        "  - window_name: main\n    panes: [null]\n"
        "  - window_name: logs\n    panes: [null]\n"
    )
    world.tmux.start(session("work", ("main", 1), ("logs", 1)))
    ref = start(world, actors, declared=True, spec_path=spec)
    assert tell(world, ref)["state"] == "healthy"
    world.tmux.drop_window("work", 1)
    assert tell(world, ref)["state"] == "healthy"
    assert [w.name for w in world.tmux.sessions["work"].windows] == ["main", "logs"]
    assert world.audit("work") == [("recovery", "recreate_missing", "success")]
    assert world.recoveries("corrupted", "success") == 1


def test_a_bad_spec_without_a_checkpoint_fails_the_session(
    world: World, actors: list[SupervisedRef], tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("windows: [")
    world.tmux.start(session("other", ("main", 1)))
    ref = start(world, actors, declared=True, spec_path=spec)
    described = tell(world, ref)
    assert described["state"] == "failed"
    assert world.audit("work") == [("session", "load_spec", "failed")]


def test_a_declared_session_that_does_not_exist_yet_is_created_not_crashed(
    world: World, actors: list[SupervisedRef], tmp_path: Path
) -> None:
    spec = tmp_path / "work.yaml"
    spec.write_text(
        f"session_name: work\nstart_directory: {tmp_path}\nwindows:\n"
        "  - window_name: main\n    panes: [null]\n"
    )
    world.tmux.start(session("other", ("main", 1)))
    built = session("work", ("main", 1))
    main = built.windows[0]
    main = replace(
        main, panes=(replace(main.panes[0], cwd=str(tmp_path), argv=("sh",), command=None),)
    )
    world.tmux.builds["work"] = replace(built, windows=(main,))  # what the fake builds
    ref = start(world, actors, declared=True, spec_path=spec)
    described = tell(world, ref)
    assert described["state"] == "healthy", described
    assert [w.name for w in world.tmux.sessions["work"].windows] == ["main"]
    assert world.audit("work") == [("session", "create", "success")]
    created = world.metrics.registry.get_sample_value(
        "yesman_recovery_sessions_created_total", {"outcome": "success"}
    )
    assert created == 1.0
    assert world.recoveries("crashed", "success") == 0
    assert world.recoveries("crashed", "failed") == 0
    # Once it was healthy (and checkpointed), losing it is a crash.
    assert tell(world, ref)["checkpointed"]
    world.tmux.close("work")
    described = tell(world, ref)
    assert described["state"] == "healthy", described
    assert world.audit("work")[-1] == ("recovery", "restore", "success"), world.audit("work")
    assert world.recoveries("crashed", "success") == 1
