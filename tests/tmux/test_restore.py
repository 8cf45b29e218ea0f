"""Snapshot, restore, repair and respawn against real isolated tmux servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux import (
    PaneSnapshot,
    ProgramPolicy,
    ServerSnapshot,
    SessionSnapshot,
    TmuxClient,
    compare,
    execute_plan,
    load_spec,
    plan_repair,
    respawn_pane,
    restore_session,
    stored_session_name,
    take_snapshot,
    wait_pid_gone,
)
from yesman_recovery.tmux.client import literal
from yesman_recovery.tmux.programs import launched_program

pytestmark = pytest.mark.tmux
POLICY = ProgramPolicy.from_names(frozenset({"sleep", "tail"}))


def _until(check: Callable[[], object], timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def reaper() -> Iterator[set[int]]:
    """Pids of pane processes to kill at teardown if a test leaves them behind."""
    pids: set[int] = set()
    yield pids
    for pid in pids:
        if pid <= 1:  # never a process group or init
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _build(client: TmuxClient, tmp_path: Path, name: str = "work") -> SessionSnapshot:
    dirs = [tmp_path / d for d in ("a", "b c", "d'q", "é", "logs")]
    for d in dirs:
        d.mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text("start\n")
    a, b, c, e, logs = (str(d) for d in dirs)
    client.run_chain(
        [
            ("new-session", "-d", "-s", literal(name), "-x", "150", "-y", "40", "-n", "edit",
             "-c", a),
            ("split-window", "-h", "-t", f"={stored_session_name(name)}:", "-c", b),
            ("split-window", "-v", "-c", c, "--", "sleep", "1000"),
            ("select-layout", "main-vertical"),
            ("resize-pane", "-t", ":.{top-left}", "-x", "50"),
            ("new-window", "-n", "logs & more", "-c", logs, "--", "tail", "-f", str(log)),
            ("split-window", "-h", "-c", e),
            ("split-window", "-v", "-c", a),
            ("split-window", "-v", "-c", b),
            ("select-pane", "-t", ":.{top-left}"),
            ("select-pane", "-t", ":.+1"),
            ("new-window", "-n", "run", "-c", c),
            ("select-window", "-t", ":-1"),
        ]
    )  # fmt: skip
    snap = take_snapshot(client)
    session = snap.session(stored_session_name(name))
    assert session is not None
    return session


def test_snapshot_sees_structure_cwds_layouts_and_programs(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    _build(tmux_client, tmp_path)
    before = tmux_client.invocations
    snap = take_snapshot(tmux_client)
    assert tmux_client.invocations == before + 1
    assert snap.pid == tmux_client.server_pid()
    reaper.update(p.pid for s in snap.sessions for p in s.panes() if p.pid)
    (session,) = snap.sessions
    assert (session.name, session.width, session.height) == ("work", 150, 40)
    assert [(w.index, w.name, len(w.panes)) for w in session.windows] == [
        (0, "edit", 3), (1, "logs & more", 4), (2, "run", 1),
    ]  # fmt: skip
    assert session.active_window is session.windows[1]
    edit, logs, _ = session.windows
    assert [Path(p.cwd or "").name for p in edit.panes] == ["a", "b c", "d'q"]
    assert edit.layout
    assert edit.layout.count(",") > 8
    assert edit.panes[2].argv == ("sleep", "1000")
    assert POLICY.is_shell(edit.panes[0].argv)
    assert logs.panes[0].argv is not None
    assert logs.panes[0].argv[:2] == ("tail", "-f")
    assert [p.active for p in logs.panes] == [False, True, False, False]
    assert ServerSnapshot.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap


def test_restore_after_kill_9_brings_back_the_same_session(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    saved = _build(tmux_client, tmp_path)
    checkpoint = json.dumps(saved.to_dict())
    pid = tmux_client.server_pid()
    assert pid is not None
    reaper.update(p.pid for p in saved.panes() if p.pid)
    os.kill(pid, signal.SIGKILL)
    assert wait_pid_gone(pid, 5.0)

    result = restore_session(tmux_client, SessionSnapshot.from_dict(json.loads(checkpoint)), POLICY)

    assert result.ok, result.differences
    restored = result.session
    assert restored is not None
    reaper.update(p.pid for p in restored.panes() if p.pid)
    assert compare(saved, restored) == []
    assert [w.layout for w in restored.windows] == [w.layout for w in saved.windows]
    assert [p.cwd for p in restored.panes()] == [p.cwd for p in saved.panes()]
    edit, logs, _ = restored.windows
    assert edit.panes[2].argv == ("sleep", "1000")
    assert edit.panes[2].command == ("sleep", "1000")
    assert logs.panes[0].argv == saved.windows[1].panes[0].argv
    assert POLICY.is_shell(edit.panes[0].argv)
    assert logs.active
    assert logs.panes[1].active
    with pytest.raises(TmuxError, match="duplicate session"):
        restore_session(tmux_client, saved, POLICY)


def _pane(client: TmuxClient, window: int, pane: int) -> PaneSnapshot | None:
    snap = take_snapshot(client).session("work")
    return snap.windows[window].panes[pane] if snap else None


def test_a_program_typed_at_the_prompt_records_how_it_ended_and_comes_back(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    saved = _build(tmux_client, tmp_path)
    prompt = saved.windows[0].panes[0]  # a shell at its prompt
    respawn_pane(tmux_client, prompt.pane_id, ["sh", "-c", "sleep 0.3; exit 3"], "/ignored")

    running = _until(lambda: (p := _pane(tmux_client, 0, 0)) and p.argv and p.argv[0] == "sh"
                     and launched_program(p.argv) is None and p)  # fmt: skip
    assert isinstance(running, PaneSnapshot)
    assert running.argv == ("sh", "-c", "sleep 0.3; exit 3")  # the program, not its launcher
    ended = _until(lambda: (p := _pane(tmux_client, 0, 0)) and p.exit_status is not None and p)
    assert isinstance(ended, PaneSnapshot), _pane(tmux_client, 0, 0)
    assert ended.exit_status == 3
    assert POLICY.is_shell(ended.argv)  # the user is back at the pane's shell
    assert ended.command == ("sh", "-c", "sleep 0.3; exit 3")
    assert Path(ended.cwd or "").name == "a"  # typed where the shell is, not in "/ignored"

    respawn_pane(tmux_client, prompt.pane_id, ["sleep", "999"], "/")
    revived = _until(lambda: (p := _pane(tmux_client, 0, 0)) and p.argv == ("sleep", "999") and p)
    assert isinstance(revived, PaneSnapshot)
    assert revived.exit_status is None  # cleared for the new run
    assert revived.pane_id == prompt.pane_id


def test_a_dead_pane_gets_a_shell_in_its_directory_then_its_program(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    saved = _build(tmux_client, tmp_path)
    sleeper = saved.windows[0].panes[2]  # `sleep 1000` as the pane's own process
    assert sleeper.pid is not None
    tmux_client.run_chain([("set-option", "-p", "-t", sleeper.pane_id, "remain-on-exit", "on")])
    os.kill(sleeper.pid, signal.SIGKILL)
    dead = _until(lambda: (p := _pane(tmux_client, 0, 2)) and p.dead and p)
    assert isinstance(dead, PaneSnapshot)

    respawn_pane(tmux_client, sleeper.pane_id, ["sleep", "998"], str(tmp_path / "logs"), dead=True)
    revived = _until(lambda: (p := _pane(tmux_client, 0, 2)) and p.argv == ("sleep", "998") and p)
    assert isinstance(revived, PaneSnapshot), _pane(tmux_client, 0, 2)
    assert not revived.dead
    assert revived.cwd == str(tmp_path / "logs")
    if revived.pid:
        reaper.add(revived.pid)
    with pytest.raises(ValueError, match="argv"):
        respawn_pane(tmux_client, sleeper.pane_id, [], "/")


def test_repair_recreates_a_removed_window_and_pane_without_touching_the_rest(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    expected = _build(tmux_client, tmp_path)
    edit, logs, _run = expected.windows
    tmux_client.run_chain([("kill-window", "-t", edit.window_id),
                           ("kill-pane", "-t", logs.panes[3].pane_id)])  # fmt: skip
    damaged = take_snapshot(tmux_client).session("work")
    assert damaged is not None
    assert len(damaged.windows) == 2
    kept_ids = {p.pane_id for p in damaged.panes()}

    execute_plan(tmux_client, plan_repair(expected, damaged, POLICY))

    def settled() -> SessionSnapshot | None:  # a respawned pane briefly reports no cwd
        s = take_snapshot(tmux_client).session("work")
        return s if s is not None and all(p.cwd for p in s.panes()) else None

    repaired = _until(settled)
    assert isinstance(repaired, SessionSnapshot)
    reaper.update(p.pid for p in repaired.panes() if p.pid)
    assert kept_ids <= {p.pane_id for p in repaired.panes()}
    assert [(w.index, w.name, len(w.panes)) for w in repaired.windows] == [
        (0, "edit", 3), (1, "logs & more", 4), (2, "run", 1),
    ]  # fmt: skip
    assert [p.cwd for p in repaired.windows[0].panes] == [p.cwd for p in edit.panes]
    assert repaired.windows[1].panes[3].cwd == logs.panes[3].cwd
    assert _until(lambda: (take_snapshot(tmux_client).session("work") or repaired)
                  .windows[0].panes[2].argv == ("sleep", "1000"))  # fmt: skip
    assert plan_repair(expected, repaired, POLICY).commands == ()


def test_awkward_names_restore(tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]) -> None:
    name = "agent \"one\" 'x' $HOME\tz.v:1 é #{x}"
    saved = _build(tmux_client, tmp_path, name=name)
    tmux_client.run("rename-window", "-t", saved.windows[2].window_id, literal("tab\there ☃ #1;"))
    renamed = take_snapshot(tmux_client).session(stored_session_name(name))
    # rename-window stores a tab escaped (new-window -n does not): names are kept as tmux has them
    assert renamed is not None
    assert renamed.windows[2].name == "tab\\there ☃ #1;"
    reaper.update(p.pid for p in renamed.panes() if p.pid)
    tmux_client.kill_server()
    result = restore_session(tmux_client, renamed, POLICY)
    assert result.ok, result.differences
    assert result.session is not None
    assert result.session.name == stored_session_name(name)
    reaper.update(p.pid for p in result.session.panes() if p.pid)


def test_scrollback_is_captured_when_asked(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    tmux_client.run(
        "new-session", "-d", "-s", "hist", "--", "sh", "-c", "echo marker-42; exec sleep 99"
    )
    tmux_client.run("new-session", "-d", "-s", "other")

    def captured() -> object:
        snap = take_snapshot(tmux_client, scrollback={"hist": 50})
        pane = (snap.session("hist") or snap.sessions[0]).panes()[0]
        return pane if "marker-42" in (pane.scrollback or "") else None

    assert _until(captured)
    snap = take_snapshot(tmux_client, scrollback={"hist": 50})
    other = snap.session("other")
    assert other is not None
    assert other.panes()[0].scrollback is None
    reaper.update(p.pid for s in snap.sessions for p in s.panes() if p.pid)


def test_a_spec_session_is_built_and_its_typed_program_runs(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "f.log").write_text("x\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "session_name: from-spec\nstart_directory: ./proj\nwindows:\n"
        "  - window_name: main\n    layout: even-horizontal\n    panes:\n"
        "      - tail -f f.log\n      - focus: true\n        shell_command: sleep 500\n"
        "  - window_name: two\n    focus: true\n    window_index: 4\n"
    )
    expected = load_spec(spec)
    result = restore_session(tmux_client, expected, POLICY)
    assert result.ok, result.differences
    session = result.session
    assert session is not None
    assert [(w.index, w.name) for w in session.windows][1] == (4, "two")
    reaper.update(p.pid for p in session.panes() if p.pid)

    def typed_programs() -> object:
        s = take_snapshot(tmux_client).session("from-spec")
        argvs = [p.argv for p in s.windows[0].panes] if s else []
        return argvs == [("tail", "-f", "f.log"), ("sleep", "500")]

    assert _until(typed_programs, timeout=10.0)
    main = take_snapshot(tmux_client).session("from-spec")
    assert main is not None
    assert main.windows[0].panes[0].command == ("tail", "-f", "f.log")


def test_restore_keeps_indexes_and_leaves_other_sessions_alone(
    tmux_client: TmuxClient, tmp_path: Path, reaper: set[int]
) -> None:
    tmux_client.run_chain(
        [
            ("new-session", "-d", "-s", "other"),
            ("split-window",),
            ("set", "-g", "base-index", "1"),
            ("set", "-g", "pane-base-index", "1"),
        ]
    )
    saved = _build(tmux_client, tmp_path)
    assert [w.index for w in saved.windows] == [1, 2, 3]
    other_before = take_snapshot(tmux_client).session("other")
    reaper.update(p.pid for p in saved.panes() if p.pid)
    tmux_client.run_chain(
        [
            ("kill-session", "-t", "=work"),
            ("set", "-g", "base-index", "0"),
            ("set", "-g", "pane-base-index", "0"),
        ]
    )

    result = restore_session(tmux_client, saved, POLICY)

    assert result.ok, result.differences
    assert result.session is not None
    reaper.update(p.pid for p in result.session.panes() if p.pid)
    other_after = take_snapshot(tmux_client).session("other")
    assert other_before is not None
    assert other_after is not None
    assert [(w.window_id, [p.pane_id for p in w.panes]) for w in other_after.windows] == [
        (w.window_id, [p.pane_id for p in w.panes]) for w in other_before.windows
    ]
