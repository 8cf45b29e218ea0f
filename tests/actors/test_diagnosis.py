"""The failure classification of one session, as pure functions over snapshots."""

from __future__ import annotations

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind, diagnose, missing_structure
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

POLICY = ProgramPolicy.from_names(frozenset({"claude", "tail"}))
AGENT = ("tail", "-f", "/var/log/app.log")


def session(*windows: tuple[str, list[PaneSnapshot]]) -> SessionSnapshot:
    return SessionSnapshot(
        name="work",
        windows=tuple(
            WindowSnapshot(index=i, name=name, panes=tuple(panes))
            for i, (name, panes) in enumerate(windows)
        ),
    )


def pane(argv: tuple[str, ...] | None = ("bash",), **kw: object) -> PaneSnapshot:
    defaults: dict[str, object] = {"index": 0, "cwd": "/src", "pane_id": "%1", "program_pid": 42}
    defaults.update(kw)
    return PaneSnapshot(argv=argv, **defaults)  # type: ignore[arg-type]


def run(
    expected: SessionSnapshot | None, actual: SessionSnapshot | None, **kw: object
) -> list[Diagnosis]:
    args: dict[str, object] = {
        "spec": None,
        "policy": POLICY,
        "stopped_for": {},
        "resumed_for": {},
        "frozen_grace": 2.0,
    }
    args.update(kw)
    return diagnose(expected=expected, actual=actual, **args)  # type: ignore[arg-type]


def test_a_missing_session_is_crashed() -> None:
    [found] = run(session(("main", [pane(AGENT)])), None)
    assert found.kind is FailureKind.CRASHED


def test_a_healthy_session_has_no_problem() -> None:
    s = session(("main", [pane(AGENT), pane(index=1)]))
    assert run(s, s) == []


CLAUDE = ("claude", "--dangerously-skip-permissions")


def test_a_killed_agent_back_at_its_shell_or_in_a_dead_pane_is_disconnected() -> None:
    expected = session(("main", [pane(CLAUDE), pane(AGENT, index=1, pane_id="%2")]))
    actual = session(
        ("main", [pane(("bash",), exit_status=137),
                  pane(None, index=1, pane_id="%2", dead=True, dead_signal=9, cwd=None)])
    )  # fmt: skip
    [found] = run(expected, actual)
    assert found.kind is FailureKind.DISCONNECTED
    # Claude's conversation was never known: it starts fresh, on an id chosen for it
    assert [(a.pane_id, a.argv[:3], a.dead) for a in found.panes] == [
        ("%1", (*CLAUDE, "--session-id"), False),
        ("%2", AGENT, True),
    ]
    assert found.panes[1].cwd == "/src"  # a dead pane's directory comes from the checkpoint


def test_the_users_own_exit_is_never_undone() -> None:
    ours = session(("main", [pane(AGENT, command=AGENT)]))
    for status in (0, 130, 131):  # exit 0, Ctrl-C, Ctrl-\
        assert (
            run(ours, session(("main", [pane(("bash",), command=AGENT, exit_status=status)]))) == []
        ), status
    dead_by_ctrl_c = pane(None, dead=True, dead_signal=2)
    assert run(ours, session(("main", [dead_by_ctrl_c]))) == []


def test_a_transient_program_comes_back_only_after_an_abnormal_end() -> None:
    ours = session(("main", [pane(AGENT, command=AGENT)]))
    [found] = run(ours, session(("main", [pane(("bash",), command=AGENT, exit_status=1)])))
    assert found.kind is FailureKind.DISCONNECTED
    # Started by hand at the prompt: nobody recorded how it ended, so it is the user's.
    assert run(session(("main", [pane(AGENT)])), session(("main", [pane(("bash",))]))) == []


def test_a_permanent_program_comes_back_after_an_unknown_end() -> None:
    server = ("python3", "-m", "http.server", "8000")
    policy = ProgramPolicy.from_names(frozenset(), declared=frozenset({"python3 -m http.server"}))
    expected = session(("main", [pane(server)]))
    [found] = run(expected, session(("main", [pane(("bash",))])), policy=policy)
    assert found.panes[0].argv == server
    assert run(expected, session(("main", [pane(("bash",), exit_status=0)])), policy=policy) == []


def test_a_job_stopped_with_ctrl_z_is_the_users_work() -> None:
    expected = session(("main", [pane(CLAUDE, command=CLAUDE)]))
    stopped_job = pane(("bash",), command=CLAUDE, jobs=True)  # the shell holds the terminal
    assert run(expected, session(("main", [stopped_job]))) == []
    assert run(expected, session(("main", [stopped_job])), stopped_for={(0, 0): 60.0}) == []


def test_panes_are_matched_by_id_while_the_server_lives() -> None:
    # The user split the first pane: positions shift, ids do not.
    expected = session(("main", [pane(("bash",)), pane(CLAUDE, index=1, pane_id="%2")]))
    actual = session(
        ("main", [pane(("bash",)), pane(("bash",), index=1, pane_id="%3", exit_status=137),
                  pane(CLAUDE, index=2, pane_id="%2")])
    )  # fmt: skip
    assert run(expected, actual, match_ids=True) == []
    assert run(expected, actual, match_ids=False) != []  # by position it would be wrong


def test_a_temporary_program_is_never_respawned() -> None:
    expected = session(("main", [pane(("make", "deploy"))]))
    for ended in (pane(("bash",), exit_status=137), pane(None, dead=True, dead_signal=9)):
        assert run(expected, session(("main", [ended]))) == []


def test_a_stopped_program_is_resumed_after_the_grace_then_respawned() -> None:
    expected = session(("main", [pane(AGENT)]))
    actual = session(("main", [pane(AGENT, stopped=True)]))
    assert run(expected, actual, stopped_for={(0, 0): 1.0}) == []  # within the grace
    [first] = run(expected, actual, stopped_for={(0, 0): 2.5})
    assert (first.kind, first.resume) == (FailureKind.FROZEN, True)
    # SIGCONT was sent 1 s ago: give it its grace before respawning.
    assert run(expected, actual, stopped_for={(0, 0): 3.5}, resumed_for={(0, 0): 1.0}) == []
    [second] = run(expected, actual, stopped_for={(0, 0): 5.0}, resumed_for={(0, 0): 2.5})
    assert (second.kind, second.resume) == (FailureKind.FROZEN, False)
    assert second.panes[0].argv == AGENT


def test_unnamed_spec_windows_are_matched_by_position() -> None:
    unnamed = WindowSnapshot(index=None, name="", panes=(pane(AGENT),), automatic_rename=True)
    spec = SessionSnapshot(name="work", windows=(unnamed,))
    actual = SessionSnapshot(
        name="work", windows=(WindowSnapshot(index=1, name="bash", panes=(pane(AGENT),)),)
    )
    assert missing_structure(spec, actual) == []
    assert run(None, actual, spec=spec) == []


def test_a_window_the_spec_declares_is_missing_but_extra_windows_are_fine() -> None:
    spec = session(("agent", [pane(AGENT)]), ("server", [pane(), pane(index=1)]))
    actual = session(("agent", [pane(AGENT)]), ("mine", [pane()]))
    assert missing_structure(spec, actual) == ["window 'server' is missing"]
    [found] = run(None, actual, spec=spec)
    assert found.kind is FailureKind.CORRUPTED
    fewer = session(("agent", [pane(AGENT)]), ("server", [pane()]))
    assert missing_structure(spec, fewer) == ["window 'server' has 1 of 2 panes"]
