"""Session supervision end to end: a real tmux server on an isolated socket, real signals."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import SessionConfig
from yesman_recovery.errors import TmuxError
from yesman_recovery.supervisors.spec import Restart
from yesman_recovery.tmux.client import TmuxClient, stored_session_name, wait_pid_gone
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, checkpointed, session_state, wait_until

pytestmark = pytest.mark.tmux

PROGRAM = ("sleep", "1000")


def _build_work_session(client: TmuxClient, root: Path) -> dict[str, Path]:
    """3 windows, up to 4 panes, distinct cwds, a custom layout, an allowlisted program."""
    dirs = {name: root / name for name in ("api", "web", "docs", "logs", "tests")}
    for d in dirs.values():
        d.mkdir()
    t = "=work"
    client.run_chain(
        [
            ("new-session", "-d", "-s", "work", "-x", "160", "-y", "48", "-n", "edit",
             "-c", str(dirs["api"])),
            ("split-window", "-h", "-t", "work:edit", "-c", str(dirs["web"]), *PROGRAM),
            ("split-window", "-v", "-t", "work:edit", "-c", str(dirs["docs"])),
            ("split-window", "-v", "-t", "work:edit", "-c", str(dirs["tests"])),
            ("select-layout", "-t", "work:edit", "main-vertical"),
            ("new-window", "-t", t, "-n", "logs", "-c", str(dirs["logs"])),
            ("split-window", "-h", "-t", "work:logs", "-c", str(dirs["api"])),
            ("new-window", "-t", t, "-n", "shell", "-c", str(dirs["docs"])),
            ("select-window", "-t", "work:edit"),
            ("select-pane", "-t", "work:edit.2"),
        ]
    )  # fmt: skip
    return dirs


@contextlib.contextmanager
def keep_stopping(pid: int) -> Iterator[None]:
    """SIGSTOP ``pid`` again every few milliseconds while the block runs (until it is gone)."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                return
            done.wait(0.002)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join(2)


def _session(client: TmuxClient, name: str) -> SessionSnapshot | None:
    """The session as tmux shows it now; None while it (or the server) is missing."""
    try:
        return take_snapshot(client).session(name)
    except TmuxError:
        return None


def _first_window(client: TmuxClient, name: str) -> str:
    session = _session(client, name)
    return session.windows[0].name if session and session.windows else ""


WindowShape = tuple[int | None, str, str | None, bool, tuple[tuple[str | None, bool], ...]]


def _shape(client: TmuxClient, name: str) -> list[WindowShape]:
    session = take_snapshot(client).session(name)
    assert session is not None
    return [
        (w.index, w.name, w.layout, w.active, tuple((p.cwd, p.active) for p in w.panes))
        for w in session.windows
    ]


def _program_running(client: TmuxClient, name: str, window: str) -> bool:
    session = _session(client, name)
    if session is None:
        return False
    win = next((w for w in session.windows if w.name == window), None)
    return bool(win and any(p.argv and p.argv[:2] == PROGRAM and not p.stopped for p in win.panes))


def _program_pid(client: TmuxClient, name: str) -> int:
    session = take_snapshot(client).session(name)
    assert session is not None
    pane = next(p for p in session.panes() if p.argv and p.argv[:2] == PROGRAM)
    assert pane.program_pid is not None
    return pane.program_pid


def _running_pid(client: TmuxClient, name: str) -> int | None:
    """Pid of the running (not stopped) test program in session ``name``, if any."""
    session = _session(client, name)
    pane = session and next(
        (p for p in session.panes() if p.argv and p.argv[:2] == PROGRAM and not p.stopped), None
    )
    return pane.program_pid if pane else None


def test_sigkill_of_the_server_brings_the_session_back_as_it_was(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    _build_work_session(tmux_client, tmp_path)
    # every pane's shell has started (tmux knows its directory only then)
    before = wait_until(lambda: (s := _shape(tmux_client, "work")) and all(
        cwd for w in s for cwd, _ in w[4]
    ) and s)  # fmt: skip
    app = make_app()
    wait_until(lambda: checkpointed(app, "work"))

    server = tmux_client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_pid_gone(server, 5.0)

    wait_until(lambda: _program_running(tmux_client, "work", "edit"), timeout=10)
    assert tmux_client.server_pid() != server
    assert _shape(tmux_client, "work") == before
    assert app.store is not None
    store = app.store
    wait_until(lambda: any(
        e.action == "restore" and e.outcome == "success" for e in store.audit.query(subject="work")
    ))  # fmt: skip
    assert (
        app.metrics.registry.get_sample_value(
            "yesman_recovery_recoveries_total", {"kind": "crashed", "outcome": "success"}
        )
        == 1.0
    )


def _fake_agent(tmp_path: Path) -> Path:
    """A stand-in for Claude Code: a script named ``claude`` run by an interpreter (as
    ``node .../claude`` is), which the policy therefore knows as the agent ``claude``."""
    agent = tmp_path / "bin" / "claude"
    agent.parent.mkdir(exist_ok=True)
    agent.write_text("#!/usr/bin/env python3\nimport time\ntime.sleep(100000)\n")
    agent.chmod(0o755)
    return agent


def _agent_pid(client: TmuxClient, name: str) -> int | None:
    """Pid of the running, not stopped, fake agent in the session's first pane."""
    session = _session(client, name)
    pane = session.windows[0].panes[0] if session and session.windows else None
    if pane is None or pane.stopped or not pane.argv or not pane.argv[-1].endswith("/claude"):
        return None
    return pane.program_pid


def _start_agent_at_a_prompt(client: TmuxClient, tmp_path: Path) -> int:
    """The usual shape: a session whose shell runs the agent the user typed."""
    agent = _fake_agent(tmp_path)
    client.run_chain([("new-session", "-d", "-s", "agent", "-n", "main", "-c", str(tmp_path)),
                      ("send-keys", "-t", "=agent:main", "exec sh", "Enter"),
                      ("send-keys", "-t", "=agent:main", str(agent), "Enter")])  # fmt: skip
    return int(wait_until(lambda: _agent_pid(client, "agent")))


def _successes(app: RecoveryApp, *kinds: str) -> float:
    return sum(
        app.metrics.registry.get_sample_value(
            "yesman_recovery_recoveries_total", {"kind": kind, "outcome": "success"}
        )
        or 0.0
        for kind in kinds
    )


def test_an_agent_started_by_hand_that_ends_is_left_to_the_user(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    # Nothing recorded how a program the user typed ended (a kill looks like /exit to its shell),
    # so a transient one is not brought back: the user's own exit is never undone.
    old = _start_agent_at_a_prompt(tmux_client, tmp_path)
    app = make_app()
    wait_until(lambda: checkpointed(app, "agent"))

    os.kill(old, signal.SIGKILL)
    wait_until(lambda: _agent_pid(tmux_client, "agent") != old)

    deadline = time.monotonic() + 1.5  # five polls and some
    while time.monotonic() < deadline:
        assert _agent_pid(tmux_client, "agent") is None
        time.sleep(0.05)
    assert _successes(app, "disconnected") == 0.0
    assert session_state(app, "agent")["state"] == "healthy"  # type: ignore[index]


def test_a_program_started_by_a_restore_is_respawned_when_it_dies(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    _build_work_session(tmux_client, tmp_path)
    app = make_app()
    wait_until(lambda: checkpointed(app, "work"))
    server = tmux_client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: _program_running(tmux_client, "work", "edit"))
    old = _program_pid(tmux_client, "work")

    # A restored program runs from the pane's shell, which records how it ended: a kill.
    os.kill(old, signal.SIGKILL)

    wait_until(lambda: (pid := _running_pid(tmux_client, "work")) and pid != old)
    wait_until(lambda: _successes(app, "disconnected") == 1.0)
    assert [w[1] for w in _shape(tmux_client, "work")] == ["edit", "logs", "shell"]


def test_an_agent_stopped_with_ctrl_z_is_left_to_its_shell(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    # Ctrl-Z: the job stops and the shell takes the terminal back. That is the user's job
    # control: the pane (the shell and its stopped job) is left alone, nothing is respawned.
    pid = _start_agent_at_a_prompt(tmux_client, tmp_path)
    app = make_app(frozen_grace=0.3)
    wait_until(lambda: checkpointed(app, "agent"))

    tmux_client.run("send-keys", "-t", "=agent:main", "C-z")
    wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    tmux_client.run("send-keys", "-t", "=agent:main", "-l", "typed while stopped")

    deadline = time.monotonic() + 2.0  # the grace period several times over
    while time.monotonic() < deadline:
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
        time.sleep(0.05)
    assert _successes(app, "frozen", "disconnected") == 0.0
    screen = tmux_client.run("capture-pane", "-p", "-t", "=agent:main")
    assert "typed while stopped" in screen
    os.kill(pid, signal.SIGKILL)


def test_an_editor_the_user_quits_is_not_brought_back(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    tmux_client.run_chain([("new-session", "-d", "-s", "edit", "-c", str(tmp_path)),
                           ("send-keys", "-t", "=edit:", "exec sh", "Enter"),
                           ("send-keys", "-t", "=edit:", "sleep 1000", "Enter")])  # fmt: skip
    wait_until(lambda: _program_running(tmux_client, "edit", _first_window(tmux_client, "edit")))
    app = make_app()
    wait_until(lambda: checkpointed(app, "edit"))
    pid = _program_pid(tmux_client, "edit")

    os.kill(pid, signal.SIGINT)  # as a user quitting it
    wait_until(lambda: not psutil.pid_exists(pid))

    # A negative outcome needs time to pass: five polls (0.2 s each), then some.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert not _program_running(tmux_client, "edit", _first_window(tmux_client, "edit"))
        time.sleep(0.05)
    assert _successes(app, "disconnected") == 0.0
    assert session_state(app, "edit")["state"] == "healthy"  # type: ignore[index]


def test_a_removed_window_of_a_declared_session_is_recreated(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    spec = tmp_path / "work.yaml"
    spec.write_text(
        f"session_name: proj\nstart_directory: {tmp_path}\nwindows:\n"
        "  - window_name: agent\n    panes:\n      - sleep 1000\n"
        "  - window_name: server\n    panes:\n      - sleep 1000\n      - null\n"
    )
    app = make_app(sessions=(SessionConfig(name="proj", spec=spec, restart=Restart.PERMANENT),))
    # A declared session that does not exist yet is created from its spec.
    wait_until(lambda: checkpointed(app, "proj"))
    tmux_client.run("kill-window", "-t", "=proj:server")

    def server_window_back() -> bool:
        session = _session(tmux_client, "proj")
        win = session and next((w for w in session.windows if w.name == "server"), None)
        return bool(win and len(win.panes) == 2)

    wait_until(server_window_back)
    wait_until(lambda: app.metrics.registry.get_sample_value(
        "yesman_recovery_recoveries_total", {"kind": "corrupted", "outcome": "success"}
    ) == 1.0)  # fmt: skip


def test_a_crash_looping_program_ends_failed_with_the_reason(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    flaky = tmp_path / "flaky.yaml"
    crash = tmp_path / "crash.sh"
    crash.write_text("sleep 0.3; exit 1\n")
    # The declared program runs, fails, is respawned ... until the intensity is exceeded.
    flaky.write_text(
        f"session_name: loop\nstart_directory: {tmp_path}\nwindows:\n"
        f"  - window_name: agent\n    panes:\n      - sh {crash}\n"
    )
    app = make_app(
        sessions=(SessionConfig(name="loop", spec=flaky),),
        program_max_restarts=2,
        program_max_seconds=60.0,
    )
    state = wait_until(
        lambda: (s := session_state(app, "loop")) and s["state"] == "failed" and s, timeout=20
    )
    assert "gave up" in state["detail"]
    assert app.store is not None
    events = app.store.audit.query(subject="loop")
    assert any(e.action == "give_up" and e.outcome == "failed" for e in events)


def test_an_adopted_session_closed_by_the_user_is_let_go(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    tmux_client.run_chain(
        [("new-session", "-d", "-s", "keep"), ("new-session", "-d", "-s", "scratch")]
    )
    app = make_app()
    wait_until(lambda: checkpointed(app, "scratch") and checkpointed(app, "keep"))

    tmux_client.run("kill-session", "-t", "=scratch")

    wait_until(lambda: session_state(app, "scratch") is None)
    assert take_snapshot(tmux_client).session("scratch") is None
    assert session_state(app, "keep")["state"] == "healthy"  # type: ignore[index]
    sessions = app.metrics.registry.get_sample_value
    assert sessions("yesman_recovery_sessions", {"state": "healthy"}) == 1.0
    assert sessions("yesman_recovery_sessions", {"state": "released"}) == 0.0


@pytest.mark.parametrize("name", ["my project", 'it\'s "quoted"', "日本語-セッション", "a$b"])
def test_awkward_session_names_survive_a_server_crash(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path, name: str
) -> None:
    tmux_client.run("new-session", "-d", "-s", name, "-c", str(tmp_path), *PROGRAM)
    name = stored_session_name(name)  # tmux shows `$` as `\$`: the name tools see
    app = make_app()
    wait_until(lambda: checkpointed(app, name))
    server = tmux_client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_pid_gone(server, 5.0)
    wait_until(lambda: _program_running(tmux_client, name, _first_window(tmux_client, name)))
    session = _session(tmux_client, name)
    assert session is not None
    assert session.windows[0].panes[0].cwd == str(tmp_path)


def test_a_stopped_tmux_server_is_frozen_then_continued(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    tmux_client.run("new-session", "-d", "-s", "solo", *PROGRAM)
    # A command timeout longer than the wait below: a stopped server is known not to answer
    # without waiting for one (the watcher looks at its state before each poll).
    app = make_app(command_timeout=60.0)
    wait_until(lambda: checkpointed(app, "solo"))
    server = tmux_client.server_pid()
    assert server is not None

    os.kill(server, signal.SIGSTOP)

    # The session is frozen, the server is sent SIGCONT, the spell ends when it answers again.
    wait_until(lambda: app.metrics.registry.get_sample_value(
        "yesman_recovery_recoveries_total", {"kind": "frozen", "outcome": "success"}
    ) == 1.0)  # fmt: skip
    assert psutil.Process(server).status() != psutil.STATUS_STOPPED
    assert session_state(app, "solo")["state"] == "healthy"  # type: ignore[index]
    assert tmux_client.server_pid() == server


def test_an_unresponsive_server_is_killed_and_restored_only_when_allowed(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    tmux_client.run("new-session", "-d", "-s", "solo", "-c", str(tmp_path), *PROGRAM)
    app = make_app(command_timeout=0.3, allow_kill_server=True, frozen_grace=0.5)
    wait_until(lambda: checkpointed(app, "solo"))
    server = tmux_client.server_pid()
    assert server is not None
    # A server that is stopped and keeps being stopped again does not answer: a hang that
    # SIGCONT cannot fix.
    proc = psutil.Process(server)
    with keep_stopping(server):
        wait_until(lambda: not psutil.pid_exists(server) or proc.status() == psutil.STATUS_ZOMBIE,
                   timeout=15)  # fmt: skip
    wait_until(lambda: _program_running(tmux_client, "solo", _first_window(tmux_client, "solo")))
    assert tmux_client.server_pid() != server


FOREGROUND_TAIL = str(Path(__file__).with_name("foreground_tail.py"))


def test_a_stopped_foreground_program_gets_sigcont_after_its_grace(
    tmux_client: TmuxClient, make_app: AppFactory
) -> None:
    tmux_client.run("new-session", "-d", "-s", "held", "--", sys.executable, FOREGROUND_TAIL)

    def tail_pid() -> int | None:
        session = _session(tmux_client, "held")
        pane = session and session.windows[0].panes[0]
        ok = pane and pane.argv and pane.argv[0] == "tail" and not pane.stopped
        return pane.program_pid if ok else None  # type: ignore[union-attr]

    pid = wait_until(tail_pid)
    app = make_app(frozen_grace=0.3)
    wait_until(lambda: checkpointed(app, "held"))

    os.kill(pid, signal.SIGSTOP)

    wait_until(lambda: app.metrics.registry.get_sample_value(
        "yesman_recovery_recoveries_total", {"kind": "frozen", "outcome": "success"}
    ) == 1.0)  # fmt: skip
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED  # the same process, resumed
    assert app.store is not None
    actions = [e.action for e in app.store.audit.query(subject="held")]
    assert "sigcont" in actions


def test_a_program_that_stays_stopped_after_sigcont_is_respawned(
    tmux_client: TmuxClient, make_app: AppFactory
) -> None:
    tmux_client.run("new-session", "-d", "-s", "held", "--", sys.executable, FOREGROUND_TAIL)
    session = wait_until(lambda: _program_session(tmux_client, "held"))
    pid = session.windows[0].panes[0].program_pid
    app = make_app(frozen_grace=0.3)
    wait_until(lambda: checkpointed(app, "held"))

    with keep_stopping(pid):  # SIGCONT cannot help: something stops it again at once
        wait_until(lambda: (s := _program_session(tmux_client, "held"))
                   and s.windows[0].panes[0].program_pid != pid)  # fmt: skip
    store = app.store
    assert store is not None
    actions = [e.action for e in store.audit.query(subject="held")]
    assert "sigcont" in actions
    wait_until(lambda: "respawn" in [e.action for e in store.audit.query(subject="held")])


def _program_session(client: TmuxClient, name: str) -> SessionSnapshot | None:
    """The session once its first pane runs `tail` in the foreground, not stopped."""
    session = _session(client, name)
    pane = session.windows[0].panes[0] if session and session.windows else None
    argv = pane.argv if pane is not None else None
    running = pane is not None and argv is not None and argv[:1] == ("tail",) and not pane.stopped
    return session if running else None
