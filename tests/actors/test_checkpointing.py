"""Whether and what a session checkpoints, and what it expects after a restore: pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.actors.fakes import session
from yesman_recovery.actors.checkpointing import (
    Checkpointing,
    fingerprint,
    strip,
    with_ids,
)
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.records import SessionSnapshot

WORK = session("work", ("main", 2), ("logs", 1))


def ids(s: SessionSnapshot, tag: str) -> SessionSnapshot:
    """``s`` as seen on a server: every id and pid set, distinct per ``tag``."""
    windows = tuple(
        replace(
            w,
            window_id=f"@{tag}{i}",
            panes=tuple(
                replace(p, pane_id=f"%{tag}{i}{j}", pid=1000 + j, program_pid=2000 + j)
                for j, p in enumerate(w.panes)
            ),
        )
        for i, w in enumerate(s.windows)
    )
    return replace(s, session_id=f"${tag}", windows=windows)


def with_pane(s: SessionSnapshot, wpos: int, ppos: int, **changes: Any) -> SessionSnapshot:
    w = s.windows[wpos]
    panes = (*w.panes[:ppos], replace(w.panes[ppos], **changes), *w.panes[ppos + 1 :])
    return replace(s, windows=(*s.windows[:wpos], replace(w, panes=panes), *s.windows[wpos + 1 :]))


def test_ids_pids_titles_and_flags_do_not_change_the_fingerprint() -> None:
    a, b = ids(WORK, "a"), ids(WORK, "b")
    b = with_pane(b, 0, 0, title="busy", stopped=True, scrollback="x")
    assert fingerprint(a, 7) == fingerprint(b, 7)
    assert fingerprint(a, 7) != fingerprint(a, 8)  # another server: worth a checkpoint
    renamed = replace(a, windows=(replace(a.windows[0], name="edit"), a.windows[1]))
    assert fingerprint(a, 7) != fingerprint(renamed, 7)
    assert strip({"pane_id": "%1", "cwd": "/src", "panes": [{"pid": 3, "index": 0}]}) == {
        "cwd": "/src",
        "panes": [{"index": 0}],
    }


def test_a_new_shape_is_due_once_and_an_unchanged_one_is_not() -> None:
    cp = Checkpointing()
    first = cp.due(ids(WORK, "a"), 7, now=10.0)
    assert first is not None
    assert first.checkpoint == SessionCheckpoint(ids(WORK, "a"), 7)
    cp.written(first, now=10.0)
    assert cp.expected == ids(WORK, "a")
    assert cp.server_pid == 7
    assert cp.due(ids(WORK, "b"), 7, now=11.0) is None  # same shape, new ids
    assert cp.due(ids(WORK, "b"), 8, now=11.0) is not None  # a new server


def test_empty_unsettled_and_half_restored_sessions_are_never_due() -> None:
    cp = Checkpointing()
    assert cp.due(SessionSnapshot("work", ()), 7, now=0.0) is None
    reaping = with_pane(ids(WORK, "a"), 0, 0, argv=None)
    assert cp.due(reaping, 7, now=0.0) is None  # a program just exited, not yet reaped
    dead = with_pane(reaping, 0, 0, dead=True)
    assert cp.due(dead, 7, now=0.0) is not None  # a dead pane kept by tmux is a state
    cp.unvalidated = True
    assert cp.due(ids(WORK, "a"), 7, now=0.0) is None


def test_captured_scrollback_is_due_only_when_it_changed_and_kept_when_not_captured() -> None:
    cp = Checkpointing(keeps_scrollback=True)
    seen = with_pane(ids(WORK, "a"), 0, 0, scrollback="$ make\nok\n")
    first = cp.due(seen, 7, now=100.0)
    assert first is not None
    cp.written(first, now=100.0)
    assert cp.due(seen, 7, now=200.0) is None  # same text captured again: deduplicated
    assert cp.due(ids(WORK, "a"), 7, now=200.0) is None  # a poll without capture
    more = with_pane(seen, 0, 0, scrollback="$ make\nok\n$ ls\n")
    assert cp.due(more, 7, now=201.0) is not None
    # A shape change seen between captures keeps the history already saved.
    grown = with_pane(ids(session("work", ("main", 2), ("logs", 1), ("new", 1)), "a"), 0, 0)
    due = cp.due(grown, 7, now=202.0)
    assert due is not None
    assert due.checkpoint.session.windows[0].panes[0].scrollback == "$ make\nok\n"
    assert Checkpointing().due(seen, 7, now=0.0) is not None


def test_a_loaded_checkpoint_is_expected_and_not_written_again() -> None:
    cp = Checkpointing()
    cp.load(SessionCheckpoint(ids(WORK, "a"), 7))
    assert cp.expected == ids(WORK, "a")
    assert cp.due(ids(WORK, "c"), 7, now=0.0) is None


def test_an_incomplete_restore_is_corrupted_until_nothing_is_missing() -> None:
    cp = Checkpointing()
    cp.load(SessionCheckpoint(WORK, 7))
    short = session("work", ("main", 2))
    assert cp.incomplete_restore(short) is None  # no restore ran: nothing to finish
    cp.unvalidated = True
    found = cp.incomplete_restore(short)
    assert found is not None
    assert found.kind is FailureKind.CORRUPTED
    assert "'logs' is missing" in found.detail
    assert cp.incomplete_restore(WORK) is None
    assert cp.unvalidated is False


def test_with_ids_takes_the_new_ids_by_position_and_keeps_the_rest() -> None:
    expected = ids(WORK, "old")
    actual = ids(session("work", ("main", 1)), "new")
    bound = with_ids(expected, actual)
    assert bound.session_id == "$new"
    assert [p.pane_id for p in bound.panes()] == ["%new00", "%old01", "%old10"]
    assert bound.windows[0].window_id == "@new0"
    assert bound.windows[1].window_id == "@old1"
    assert [w.name for w in bound.windows] == ["main", "logs"]  # the structure is expected's
