"""Layout parsing and structural comparison."""

from __future__ import annotations

from dataclasses import replace

import pytest

from yesman_recovery.tmux.compare import compare, layout_differences, parse_layout
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

LAYOUT = "7f31,160x48,0,0{80x48,0,0,0,79x48,81,0[79x24,81,0,1,79x23,81,25,2]}"
SCALED = "1234,80x24,0,0{40x24,0,0,7,39x24,41,0[39x12,41,0,8,39x11,41,13,9]}"


def test_parse_layout_reads_the_split_tree() -> None:
    cell = parse_layout(LAYOUT)
    assert cell.shape() == "{p,[p,p]}"
    assert cell.pane_count() == 3
    assert (cell.width, cell.height) == (160, 48)


@pytest.mark.parametrize("bad", ["nolayout", "ab,12x", "ab,10x10,0,0{5x10,0,0,1", "ab,1x1,0,0,1zz"])
def test_parse_layout_rejects_malformed_strings(bad: str) -> None:
    with pytest.raises(ValueError, match="layout"):
        parse_layout(bad)


def test_layout_comparison_ignores_checksum_size_and_ids_but_not_shape_or_share() -> None:
    assert layout_differences(LAYOUT, SCALED) is None
    other_shape = "1234,80x24,0,0[40x24,0,0,7,39x24,41,0{39x12,41,0,8,39x11,41,13,9}]"
    assert "shape" in (layout_differences(LAYOUT, other_shape) or "")
    lopsided = "1234,80x24,0,0{70x24,0,0,7,9x24,71,0[9x12,71,0,8,9x11,71,13,9]}"
    assert "takes" in (layout_differences(LAYOUT, lopsided) or "")
    assert "not a tmux layout" in (layout_differences("tiled", LAYOUT) or "")


def _session() -> SessionSnapshot:
    panes = tuple(PaneSnapshot(i, cwd="/tmp", active=i == 2) for i in range(3))
    return SessionSnapshot(
        "s",
        (
            WindowSnapshot(0, "edit", panes, layout=LAYOUT),
            WindowSnapshot(1, "run", (PaneSnapshot(0, cwd="/", active=True),), active=True),
        ),
    )


def test_compare_reports_each_structural_difference() -> None:
    exp = _session()
    assert compare(exp, exp) == []
    w0, w1 = exp.windows
    act = replace(
        exp,
        name="t",
        windows=(
            replace(w0, name="other", index=3, layout=SCALED.replace("{", "[").replace("}", "]")),
            replace(w1, panes=(replace(w1.panes[0], cwd="/etc"),), zoomed=True, active=False),
        ),
    )
    diffs = "\n".join(compare(exp, act))
    for words in ["named 't'", "is named 'other'", "index 3", "shape", "'/etc'", "zoomed",
                  "active window"]:  # fmt: skip
        assert words in diffs


def test_compare_reports_window_and_pane_counts_and_active_pane() -> None:
    exp = _session()
    w0 = exp.windows[0]
    fewer = replace(exp, windows=(replace(w0, panes=w0.panes[:2]),))
    diffs = compare(exp, fewer)
    assert any("1 windows instead of 2" in d for d in diffs)
    assert any("2 panes instead of 3" in d for d in diffs)
    moved = tuple(replace(p, active=p.index == 0) for p in w0.panes)
    diffs = compare(exp, replace(exp, windows=(replace(w0, panes=moved), exp.windows[1])))
    assert diffs == ["window 0:'edit': active pane is not pane 2"]


def test_automatic_names_and_preset_layouts_are_not_compared() -> None:
    pane = PaneSnapshot(0, cwd=None, active=True)
    exp = SessionSnapshot("s", (WindowSnapshot(None, "", (pane,), "tiled", True, False, True),))
    act = SessionSnapshot(
        "s", (WindowSnapshot(4, "bash", (replace(pane, cwd="/x"),), "ab,1x1,0,0,1", True),)
    )
    assert compare(exp, act) == []
