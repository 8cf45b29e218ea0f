"""The real tmux subtree (sessions supervisor + watcher) against a fake tmux and a manual clock.

Adoption and its memory across daemon restarts, release, an unresponsive server (SIGCONT, kill
when allowed), exit events, declared next to adopted sessions — each in milliseconds, no tmux.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.actors.conftest import World
from tests.actors.fakes import session
from yesman_recovery.actors.adopted import ADOPTED_SCOPE
from yesman_recovery.actors.context import SessionSettings
from yesman_recovery.actors.tree import tmux_subtree
from yesman_recovery.actors.watcher import EXIT_SETTLE, WatchSettings
from yesman_recovery.supervisors import ChildInfo, ChildState, Strategy, SupervisedRef, Supervisor
from yesman_recovery.tmux.policy import ProgramPolicy

TEMPLATE = SessionSettings(
    name="", declared=False, policy=ProgramPolicy.from_names(frozenset({"tail"}))
)


class Tree:
    """One running tmux subtree under a root supervisor, and ways to reach its actors."""

    def __init__(self, world: World, declared: tuple[str, ...] = (), **watch: Any) -> None:
        fields: dict[str, Any] = {
            "poll_interval": 1.0,
            "adopt": ("*",),
            "declared": frozenset(declared),
            "adopted_template": TEMPLATE,
        }
        fields.update(watch)
        spec = tmux_subtree(
            settings=WatchSettings(**fields),
            declared=[replace(TEMPLATE, name=n, declared=True) for n in declared],
            context=world.context,
            scheduler=world.scheduler,
        )
        self.root: SupervisedRef = Supervisor.start(
            children=[spec],
            strategy=Strategy.ONE_FOR_ONE,
            name="root",
            clock=world.clock,
            scheduler=world.scheduler,
            metrics=world.metrics,
        )
        tmux = self.root.proxy().whereis("tmux").get(timeout=5)
        self.watcher = tmux.proxy().whereis("watcher").get(timeout=5)
        self.sessions = tmux.proxy().whereis("sessions").get(timeout=5)

    def poll(self) -> Any:
        """One poll by the watcher; returns once every session actor has handled it."""
        obs = self.watcher.proxy().poll().get(timeout=5)
        self.describe()
        return obs

    def children(self) -> dict[str, ChildInfo]:
        infos = self.sessions.proxy().which_children().get(timeout=5)
        return {i.id: i for i in infos}

    def describe(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, info in self.children().items():
            if isinstance(info.ref, SupervisedRef) and info.state is ChildState.RUNNING:
                try:
                    out[name] = info.ref.proxy().describe().get(timeout=5)
                except Exception:  # stopping right now (released)
                    continue
        return out

    def stop(self) -> None:
        self.root.shutdown(10)


@pytest.fixture
def trees(world: World) -> Iterator[Callable[..., Tree]]:
    started: list[Tree] = []

    def make(**kw: Any) -> Tree:
        tree = Tree(world, **kw)
        started.append(tree)
        return tree

    yield make
    for tree in started:
        tree.stop()


def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` (an actor's answer) until truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s")
        time.sleep(0.005)
    return value


def adopted_names(world: World) -> list[str]:
    latest = world.store.checkpoints.latest_good(ADOPTED_SCOPE)
    return [] if latest is None else list(latest.state["sessions"])


def test_matching_sessions_are_adopted_and_restored_after_a_daemon_restart(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(
        session("agent-1", ("main", 2)), session("agent-2", ("main", 1)), session("notes", ("x", 1))
    )
    tree = trees(adopt=("agent-*",))
    tree.poll()
    described = tree.describe()
    assert sorted(described) == ["agent-1", "agent-2"]
    assert all(d["checkpointed"] and d["mode"] == "adopted" for d in described.values())
    assert adopted_names(world) == ["agent-1", "agent-2"]
    tree.stop()
    world.tmux.kill()  # the machine rebooted: the server and the daemon are gone
    again = trees(adopt=("agent-*",))
    again.poll()  # no server: the remembered sessions are started and restored
    assert sorted(again.describe()) == ["agent-1", "agent-2"]
    assert sorted(world.tmux.sessions) == ["agent-1", "agent-2"]
    assert world.recoveries("crashed", "success") == 2


def test_a_released_session_leaves_the_adopted_list(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("scratch", ("main", 1)), session("keep", ("main", 1)))
    tree = trees()
    tree.poll()
    assert adopted_names(world) == ["keep", "scratch"]
    world.tmux.close("scratch")

    def forgotten() -> bool:
        tree.poll()  # the session actor lets it go; a later poll forgets the stopped child
        return "scratch" not in tree.children()

    until(forgotten)
    assert adopted_names(world) == ["keep"]
    assert world.tmux.session("scratch") is None  # not brought back behind the user's back


def test_a_stopped_server_gets_sigcont_and_the_spell_counts_once(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("a", ("main", 1)), session("b", ("main", 1)))
    tree = trees()
    tree.poll()
    pid = world.tmux.pid
    assert pid is not None
    world.tmux.frozen = True
    world.processes.stopped_pids.add(pid)
    tree.poll()
    assert (pid, signal.SIGCONT) in world.processes.signals
    assert {d["state"] for d in tree.describe().values()} == {"frozen"}
    world.tmux.frozen = False
    world.clock.advance(0.5)
    tree.poll()
    assert {d["state"] for d in tree.describe().values()} == {"healthy"}
    assert world.recoveries("frozen", "success") == 1  # once, not once per session
    assert world.audit("tmux-server") == [
        ("recovery", "sigcont", "attempted"),
        ("recovery", "wait", "success"),
    ]


def test_a_stopped_server_is_continued_at_the_first_poll_that_sees_it_stopped(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("a", ("main", 1)))
    tree = trees()
    tree.poll()
    pid = world.tmux.pid
    assert pid is not None
    world.processes.stopped_pids.add(pid)  # no tmux command is needed to know it cannot answer
    snapshots = world.tmux.snapshots
    tree.poll()
    assert (pid, signal.SIGCONT) in world.processes.signals
    assert world.tmux.snapshots == snapshots  # no tmux command run against a stopped server
    assert tree.describe()["a"]["state"] == "frozen"
    world.processes.stopped_pids.discard(pid)
    tree.poll()
    assert tree.describe()["a"]["state"] == "healthy"
    assert world.recoveries("frozen", "success") == 1


def test_a_process_that_took_a_dead_servers_pid_is_never_signalled(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("a", ("main", 1)))
    tree = trees()
    tree.poll()
    old = world.tmux.kill()
    assert old is not None
    # Before the next poll, the pid is reused by someone's stopped process (a suspended job).
    world.processes.start_times[old] = 99.0
    world.processes.stopped_pids.add(old)
    tree.poll()
    assert not [s for s in world.processes.signals if s[0] == old]
    assert tree.describe()["a"]["state"] == "healthy"  # restored on a new server
    assert world.tmux.session("a") is not None


@pytest.mark.parametrize("allowed", [True, False])
def test_a_hung_server_is_killed_only_when_allowed(
    world: World, trees: Callable[..., Tree], allowed: bool
) -> None:
    world.tmux.start(session("a", ("main", 1)))
    tree = trees(allow_kill_server=allowed, frozen_grace=2.0)
    tree.poll()
    pid = world.tmux.pid
    world.tmux.frozen = True  # hung, not stopped: SIGCONT does not apply
    tree.poll()
    world.clock.advance(2.0)
    tree.poll()
    killed = (pid, signal.SIGKILL) in world.processes.signals
    assert killed is allowed
    if not allowed:
        return
    world.tmux.frozen = False
    world.tmux.kill()  # what the SIGKILL did
    tree.poll()
    assert tree.describe()["a"]["state"] == "healthy"
    assert world.tmux.session("a") is not None
    assert world.recoveries("frozen", "escalated") == 1
    assert [a for _, a, _ in world.audit("tmux-server")] == ["kill_server", "wait"]


def test_an_exit_event_triggers_a_poll_without_waiting_for_the_tick(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("a", ("main", 2)))
    tree = trees()
    world.scheduler.advance(0)  # the first tick: a poll like every poll_interval
    until(lambda: tree.watcher.proxy().polls.get(timeout=5) == 1)
    tree.describe()
    [pidwatch] = world.pidwatches
    server = world.tmux.pid
    assert server is not None
    programs = {p.program_pid for p in world.tmux.sessions["a"].panes()}
    assert pidwatch.pids == {server, *programs}
    world.tmux.kill()
    pidwatch.fire(server)  # the server's pidfd became readable
    until(lambda: len(world.scheduler.pending()) == 2)  # the next tick, and the exit's poll
    assert world.scheduler.advance(EXIT_SETTLE) == 1  # well before the next tick
    until(lambda: tree.watcher.proxy().polls.get(timeout=5) == 2)
    until(lambda: tree.describe().get("a", {}).get("recoveries") == 1)
    count = world.metrics.registry.get_sample_value(
        "yesman_recovery_failure_detection_seconds_count", {"kind": "crashed"}
    )
    assert count == 1


def test_declared_sessions_are_children_and_only_matching_ones_are_adopted(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(
        session("work", ("main", 1)), session("agent-1", ("main", 1)), session("notes", ("x", 1))
    )
    tree = trees(declared=("work",), adopt=("agent-*",))
    tree.poll()
    modes = {name: d["mode"] for name, d in tree.describe().items()}
    assert modes == {"work": "declared", "agent-1": "adopted"}
    assert adopted_names(world) == ["agent-1"]  # declared sessions are not in the list


def test_a_spell_that_ends_on_another_server_counts_as_escalated(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("a", ("main", 1)))
    tree = trees()
    tree.poll()
    world.tmux.frozen = True
    tree.poll()
    world.tmux.frozen = False
    world.tmux.kill()
    world.tmux.start(session("a", ("main", 1)))  # someone restarted the server meanwhile
    tree.poll()
    assert world.recoveries("frozen", "escalated") == 1
    assert world.recoveries("frozen", "success") == 0


def test_scrollback_is_captured_every_scrollback_interval_not_every_poll(
    world: World, trees: Callable[..., Tree]
) -> None:
    world.tmux.start(session("work", ("main", 1)))
    tree = trees(declared=("work",), scrollback=(("work", 2000),), scrollback_interval=30.0)
    asked = world.tmux.scrollback_asked
    for _ in range(3):
        tree.poll()
        world.clock.advance(10.0)
    tree.poll()  # 30 s after the first
    assert [bool(a) for a in asked[-4:]] == [True, False, False, True]
    assert asked[-1] == {"work": 2000}
