"""What a declared session's missing windows are rebuilt from, and renamed windows: pure."""

from __future__ import annotations

from dataclasses import replace

from tests.actors.fakes import session
from yesman_recovery.actors.diagnosis import missing_structure
from yesman_recovery.actors.windows import WindowIds, declared_windows
from yesman_recovery.tmux.records import SessionSnapshot

_SHAPE = session("work", ("agent", 1), ("server", 2), ("shell", 1))
SPEC = replace(_SHAPE, windows=tuple(replace(w, index=None) for w in _SHAPE.windows))


def _on_server(s: SessionSnapshot) -> SessionSnapshot:
    """``s`` as a server shows it: window ids ``@0``, ``@1``… by index."""
    return replace(s, windows=tuple(replace(w, window_id=f"@{w.index}") for w in s.windows))


CHECKPOINT = _on_server(_SHAPE)


def _without(s: SessionSnapshot, name: str) -> SessionSnapshot:
    return replace(s, windows=tuple(w for w in s.windows if w.name != name))


def _renamed(s: SessionSnapshot, old: str, new: str) -> SessionSnapshot:
    windows = tuple(replace(w, name=new) if w.name == old else w for w in s.windows)
    return replace(s, windows=windows)


def test_a_killed_window_is_rebuilt_at_the_index_the_checkpoint_saw() -> None:
    actual = _without(CHECKPOINT, "server")
    reference = declared_windows(SPEC, CHECKPOINT, actual, match_ids=True)
    assert missing_structure(reference, actual) == ["window 'server' is missing"]
    server = next(w for w in reference.windows if w.name == "server")
    assert server.index == 1  # not after the last window
    assert len(server.panes) == 2
    assert server.panes[0].cwd == "/src"


def test_without_a_checkpoint_the_spec_decides() -> None:
    actual = _without(CHECKPOINT, "server")
    reference = declared_windows(SPEC, None, actual, match_ids=False)
    assert missing_structure(reference, actual) == ["window 'server' is missing"]
    assert reference.windows[1] == SPEC.windows[1]  # no index: created after the last one


def test_a_renamed_declared_window_is_the_same_window_while_the_server_lives() -> None:
    actual = _renamed(CHECKPOINT, "shell", "shell2")
    known = WindowIds().on_server(7)
    reference = declared_windows(SPEC, CHECKPOINT, actual, match_ids=True, known=known)
    assert missing_structure(reference, actual) == []
    # Once a checkpoint has seen it as `shell2`, the remembered id still says it is `shell`.
    again = declared_windows(SPEC, actual, actual, match_ids=True, known=known.on_server(7))
    assert missing_structure(again, actual) == []
    assert missing_structure(
        declared_windows(SPEC, actual, actual, match_ids=True, known=known.on_server(8)), actual
    ) == ["window 'shell' is missing"]  # fmt: skip
    # After the server changed, ids mean nothing: the name decides again.
    other_server = declared_windows(SPEC, CHECKPOINT, actual, match_ids=False)
    assert missing_structure(other_server, actual) == ["window 'shell' is missing"]


def test_panes_the_spec_declares_beyond_the_checkpoint_are_kept() -> None:
    short = replace(
        CHECKPOINT,
        windows=tuple(
            replace(w, panes=w.panes[:1]) if w.name == "server" else w for w in CHECKPOINT.windows
        ),
    )
    reference = declared_windows(SPEC, short, short, match_ids=True)
    assert missing_structure(reference, short) == ["window 'server' has 1 of 2 panes"]
