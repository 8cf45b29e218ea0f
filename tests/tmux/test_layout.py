"""Bad layouts never reach tmux: they are refused where they enter and again before a restore."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.tmux import (
    PaneSnapshot,
    ProgramPolicy,
    SessionSnapshot,
    TmuxClient,
    restore_session,
    take_snapshot,
)
from yesman_recovery.tmux.layout import PRESETS, layout_checksum, layout_problem
from yesman_recovery.tmux.records import WindowSnapshot
from yesman_recovery.tmux.spec import check_spec

POLICY = ProgramPolicy.from_names(frozenset())

# What took a tmux 3.3a server down, and malformed strings around the real grammar.
BAD_LAYOUTS = [
    "Tiled",
    "tiled ",
    "main vertical",
    "x",
    "abcd,80x24,0,0,1",  # wrong checksum
    "ffff,80x24,0,0{40x24,0,0,1,39x24,41,0,2}",  # wrong checksum
    "",
    " tiled",
    "TILED",
    "even_horizontal",
    "main-vert",  # tmux would take this prefix; we take exact names only
]


def _with_checksum(body: str) -> str:
    return f"{layout_checksum(body):04x},{body}"


# Right checksum, wrong geometry or grammar.
BAD_BODIES = [
    "80x24,0,0{40x24,0,0,1,40x24,41,0,2}",  # widths do not add up
    "80x24,0,0{40x23,0,0,1,39x24,41,0,2}",  # a child shorter than its parent
    "80x24,0,0{40x24,0,0,1,39x24,40,0,2}",  # offsets overlap
    "80x24,0,0{40x24,0,0,1,39x24,41,0,2",  # unclosed
    "80x24,0,0[40x24,0,0,1,39x24,41,0,2}",  # wrong closer
    "0x24,0,0,1",  # empty cell
    "99999x24,0,0,1",  # over tmux's window maximum
    "80x24,0,0,1junk",
    "80x24,0,0{}",
]


def _session(name: str, layout: str | None, panes: int = 2) -> SessionSnapshot:
    window = WindowSnapshot(
        index=0,
        name="w",
        panes=tuple(PaneSnapshot(index=i, cwd="/", active=i == 0) for i in range(panes)),
        layout=layout,
        active=True,
    )
    return SessionSnapshot(name, (window,), width=80, height=24)


@pytest.mark.tmux
def test_no_bad_layout_takes_the_server_down(tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "bystander")
    pid = tmux_client.server_pid()
    layouts = BAD_LAYOUTS + [_with_checksum(b) for b in BAD_BODIES]
    for number, layout in enumerate(layouts):
        result = restore_session(tmux_client, _session(f"s{number}", layout), POLICY, settle=1.0)
        assert tmux_client.server_pid() == pid, f"layout {layout!r} killed the tmux server"
        assert result.ok, (layout, result.differences)
        snap = take_snapshot(tmux_client)
        restored = snap.session(f"s{number}")
        assert restored is not None
        assert len(restored.windows[0].panes) == 2
    assert take_snapshot(tmux_client).session("bystander") is not None


@pytest.mark.tmux
def test_a_layout_tmux_printed_is_applied(tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "src", "-x", "120", "-y", "40")
    tmux_client.run("split-window", "-h", "-t", "=src:")
    tmux_client.run("split-window", "-v", "-t", "=src:")
    source = take_snapshot(tmux_client).session("src")
    assert source is not None
    layout = source.windows[0].layout
    assert layout is not None
    assert layout_problem(layout, 3) is None
    copy = _session("copy", layout, panes=3)
    copy = SessionSnapshot("copy", copy.windows, width=120, height=40)
    assert restore_session(tmux_client, copy, POLICY, settle=1.0).ok
    restored = take_snapshot(tmux_client).session("copy")
    assert restored is not None
    assert restored.windows[0].layout is not None
    assert restored.windows[0].layout.split(",", 1)[1].count("x") == layout.count("x")


@pytest.mark.parametrize("layout", BAD_LAYOUTS + [_with_checksum(b) for b in BAD_BODIES])
def test_bad_layouts_are_refused_with_a_reason(layout: str) -> None:
    problem = layout_problem(layout)
    assert problem is not None
    assert "layout" in problem


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_are_accepted_exactly(preset: str) -> None:
    assert layout_problem(preset, 7) is None
    assert layout_problem(preset.upper()) is not None


def test_a_layout_for_another_pane_count_is_refused() -> None:
    layout = _with_checksum("80x24,0,0{40x24,0,0,1,39x24,41,0,2}")
    assert layout_problem(layout, 2) is None
    problem = layout_problem(layout, 3)
    assert problem is not None
    assert "2 pane(s)" in problem


@given(st.text(max_size=60))
def test_layout_problem_never_raises(text: str) -> None:
    layout_problem(text)
    layout_problem(_with_checksum(text))


def test_a_crafted_checkpoint_loses_its_layout_not_its_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = json.loads(json.dumps(_session("s", "tiled").to_dict()))
    data["windows"][0]["layout"] = "Tiled"
    with caplog.at_level(logging.WARNING):
        session = SessionSnapshot.from_dict(data)
    assert session.windows[0].layout is None
    assert len(session.windows[0].panes) == 2
    assert "windows[0].layout refused" in caplog.text


def test_a_spec_layout_is_refused_with_a_warning_naming_file_and_key(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "session_name: s\nwindows:\n  - layout: Tiled\n    panes: [null, null]\n"
        "  - layout: main-vertical\n    panes: [null]\n"
    )
    session, warnings = check_spec(spec)
    assert [w.layout for w in session.windows] == [None, "main-vertical"]
    assert len(warnings) == 1
    assert str(spec) in warnings[0]
    assert "windows[0].layout" in warnings[0]
