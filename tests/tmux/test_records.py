"""JSON round trip and validation of snapshot records."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.tmux.layout import PRESETS
from yesman_recovery.tmux.records import (
    PaneSnapshot,
    ServerSnapshot,
    SessionSnapshot,
    WindowSnapshot,
    choose_checkpoint,
)

text = st.text(max_size=12)
argv = st.none() | st.lists(text, min_size=1, max_size=3).map(tuple)
small = st.integers(min_value=0, max_value=2**31)
panes = st.builds(
    PaneSnapshot,
    index=small,
    cwd=st.none() | text,
    active=st.booleans(),
    pane_id=text,
    pid=st.none() | small,
    title=text,
    dead=st.booleans(),
    dead_status=st.none() | small,
    dead_signal=st.none() | small,
    argv=argv,
    program_pid=st.none() | small,
    stopped=st.booleans(),
    command=argv,
    shell_commands=st.lists(text, max_size=2).map(tuple),
    scrollback=st.none() | text,
)
windows = st.builds(
    WindowSnapshot,
    index=st.none() | small,
    name=text,
    panes=st.lists(panes, max_size=3).map(tuple),
    layout=st.none() | st.sampled_from(sorted(PRESETS)),
    active=st.booleans(),
    zoomed=st.booleans(),
    automatic_rename=st.booleans(),
    window_id=text,
)
sessions = st.builds(
    SessionSnapshot,
    name=text,
    windows=st.lists(windows, max_size=3).map(tuple),
    width=st.none() | small,
    height=st.none() | small,
    session_id=text,
    environment=st.lists(st.tuples(text, text), max_size=2).map(tuple),
)


@given(st.lists(sessions, max_size=3), st.none() | small)
def test_server_snapshot_survives_json(items: list[SessionSnapshot], pid: int | None) -> None:
    snap = ServerSnapshot(pid=pid, sessions=tuple(items), taken_at=1.5, duration=0.25, socket="s")
    data = json.loads(json.dumps(snap.to_dict()))
    assert ServerSnapshot.from_dict(data) == snap


@given(sessions)
def test_session_snapshot_survives_json(session: SessionSnapshot) -> None:
    assert SessionSnapshot.from_dict(json.loads(json.dumps(session.to_dict()))) == session


def _session() -> SessionSnapshot:
    pane = PaneSnapshot(index=0, cwd="/", active=True, argv=("bash",))
    return SessionSnapshot("s", (WindowSnapshot(0, "w", (pane,), active=True),))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("windows"), r"session\.windows is missing"),
        (lambda d: d.update(width="wide"), r"session\.width has the wrong type"),
        (lambda d: d["windows"][0].update(active=1), r"windows\[0\]\.active"),
        (lambda d: d["windows"][0]["panes"][0].update(argv=[1]), r"panes\[0\]\.argv"),
        (lambda d: d["windows"][0]["panes"][0].update(index=True), r"panes\[0\]\.index"),
        (lambda d: d.update(environment=[["only-key"]]), "environment"),
    ],
)
def test_from_dict_names_the_bad_key(mutate: object, message: str) -> None:
    data = _session().to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        SessionSnapshot.from_dict(data)


def test_server_from_dict_refuses_other_schemas_and_non_objects() -> None:
    data = ServerSnapshot(pid=1, sessions=(_session(),)).to_dict()
    data["schema"] = 99
    with pytest.raises(ValueError, match="schema 99"):
        ServerSnapshot.from_dict(data)
    data["schema"] = 1
    data["sessions"] = ["nope"]
    with pytest.raises(ValueError, match="must be a JSON object"):
        ServerSnapshot.from_dict(data)


def test_an_empty_snapshot_never_replaces_a_good_one() -> None:
    good = _session()
    empty = SessionSnapshot("s", ())
    assert empty.is_empty
    assert not good.is_empty
    assert choose_checkpoint(good, empty) is good
    assert choose_checkpoint(good, None) is good
    newer = SessionSnapshot("s", good.windows, width=10)
    assert choose_checkpoint(good, newer) is newer
    assert ServerSnapshot(None, (empty,)).is_empty
    assert ServerSnapshot(1, (good,)).session("s") is good
    assert good.active_window is good.windows[0]
    assert good.windows[0].active_pane is good.windows[0].panes[0]
