"""Compare the structure of two sessions, and read tmux layout strings.

What must match after a restore (and what :func:`compare` reports):

- the session's stored name;
- the windows, in order: index, name (unless the window was named automatically by tmux),
  number of panes, zoom flag, and which window is active;
- each window's layout *shape*: the tree of left-right ``{}`` and top-bottom ``[]`` splits, and
  each cell's share of its parent within ``LAYOUT_TOLERANCE``. Checksums, absolute sizes and
  pane ids are ignored, because tmux rescales a layout to the window's size. A preset layout
  name (``tiled``, from a spec) is not compared;
- each pane's working directory (after resolving symlinks; a pane whose expected cwd is unknown
  is not compared) and which pane is active.

Programs are not structure: :func:`~yesman_recovery.tmux.restore.restore_session` checks them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from yesman_recovery.tmux.layout import layout_problem
from yesman_recovery.tmux.records import SessionSnapshot, WindowSnapshot

LAYOUT_TOLERANCE = 0.1
PRESET_LAYOUTS = frozenset(
    {"even-horizontal", "even-vertical", "main-horizontal", "main-vertical", "tiled"}
)
_CELL = re.compile(r"(\d+)x(\d+),(\d+),(\d+)")


@dataclass(frozen=True)
class LayoutCell:
    """One cell of a layout: a pane (``kind == 'pane'``) or a split holding ``children``.

    ``kind`` is ``'pane'``, ``'lr'`` (``{}``, side by side) or ``'tb'`` (``[]``, stacked).
    """

    kind: str
    width: int
    height: int
    children: tuple[LayoutCell, ...] = ()

    def shape(self) -> str:
        """The split tree without sizes, e.g. ``{p,[p,p]}``."""
        if self.kind == "pane":
            return "p"
        inner = ",".join(c.shape() for c in self.children)
        return "{" + inner + "}" if self.kind == "lr" else "[" + inner + "]"

    def pane_count(self) -> int:
        """The number of panes in this cell."""
        if self.kind == "pane":
            return 1
        return sum(c.pane_count() for c in self.children)


def parse_layout(layout: str) -> LayoutCell:
    """Parse a tmux layout string (``csum,WxH,X,Y{...}``); ``ValueError`` when malformed."""
    _, sep, body = layout.partition(",")
    if not sep:
        raise ValueError(f"not a tmux layout string: {layout!r}")
    cell, rest = _parse_cell(body, layout)
    if rest:
        raise ValueError(f"trailing text {rest!r} in tmux layout {layout!r}")
    return cell


def _parse_cell(text: str, whole: str) -> tuple[LayoutCell, str]:
    m = _CELL.match(text)
    if not m:
        raise ValueError(f"malformed cell at {text[:20]!r} in tmux layout {whole!r}")
    width, height = int(m.group(1)), int(m.group(2))
    rest = text[m.end() :]
    if rest[:1] in ("{", "["):
        close = "}" if rest[0] == "{" else "]"
        kind = "lr" if rest[0] == "{" else "tb"
        children: list[LayoutCell] = []
        rest = rest[1:]
        while True:
            child, rest = _parse_cell(rest, whole)
            children.append(child)
            if rest[:1] == ",":
                rest = rest[1:]
                continue
            if rest[:1] == close:
                return LayoutCell(kind, width, height, tuple(children)), rest[1:]
            raise ValueError(f"unbalanced split in tmux layout {whole!r}")
    m_id = re.match(r",(\d+)", rest)
    if not m_id:
        raise ValueError(f"cell without pane id in tmux layout {whole!r}")
    return LayoutCell("pane", width, height), rest[m_id.end() :]


def layout_differences(
    expected: str, actual: str, tolerance: float = LAYOUT_TOLERANCE
) -> str | None:
    """Describe how two layout strings differ in shape or proportions; None when they match."""
    try:
        exp, act = parse_layout(expected), parse_layout(actual)
    except ValueError as exc:
        return str(exc)
    if exp.shape() != act.shape():
        return f"layout shape {act.shape()} instead of {exp.shape()}"
    return _proportions(exp, act, tolerance)


def _proportions(exp: LayoutCell, act: LayoutCell, tolerance: float) -> str | None:
    if exp.kind == "pane":
        return None

    def along(cell: LayoutCell) -> int:
        return cell.width if exp.kind == "lr" else cell.height

    for i, (e, a) in enumerate(zip(exp.children, act.children, strict=True)):
        e_share = along(e) / max(1, along(exp))
        a_share = along(a) / max(1, along(act))
        if abs(e_share - a_share) > tolerance:
            return f"cell {i} takes {a_share:.0%} of its split instead of {e_share:.0%}"
        deeper = _proportions(e, a, tolerance)
        if deeper:
            return deeper
    return None


def compare(expected: SessionSnapshot, actual: SessionSnapshot) -> list[str]:
    """Human-readable differences of structure between two sessions; empty when they match."""
    diffs: list[str] = []
    if expected.name != actual.name:
        diffs.append(f"session is named {actual.name!r} instead of {expected.name!r}")
    if len(expected.windows) != len(actual.windows):
        diffs.append(
            f"session {expected.name!r} has {len(actual.windows)} windows "
            f"instead of {len(expected.windows)}"
        )
    for exp, act in zip(expected.windows, actual.windows, strict=False):
        diffs.extend(_window_differences(exp, act))
    exp_active = expected.active_window
    act_active = actual.active_window
    if exp_active is not None and (
        act_active is None or expected.windows.index(exp_active) != _pos(actual, act_active)
    ):
        diffs.append(f"active window is not {_label(exp_active)}")
    return diffs


def _pos(session: SessionSnapshot, window: WindowSnapshot) -> int:
    return session.windows.index(window)


def _label(w: WindowSnapshot) -> str:
    return f"window {w.index}:{w.name!r}" if w.index is not None else f"window {w.name!r}"


def _window_differences(exp: WindowSnapshot, act: WindowSnapshot) -> list[str]:
    diffs: list[str] = []
    where = _label(exp)
    if exp.index is not None and exp.index != act.index:
        diffs.append(f"{where} is at index {act.index}")
    if not exp.automatic_rename and exp.name != act.name:
        diffs.append(f"{where} is named {act.name!r}")
    if len(exp.panes) != len(act.panes):
        diffs.append(f"{where} has {len(act.panes)} panes instead of {len(exp.panes)}")
        return diffs
    if exp.zoomed != act.zoomed:
        diffs.append(f"{where} is {'not ' if exp.zoomed else ''}zoomed")
    usable = exp.layout and layout_problem(exp.layout, len(exp.panes)) is None
    if usable and act.layout and exp.layout not in PRESET_LAYOUTS and not exp.zoomed:
        # a layout that was refused was never applied: the default split is then expected
        problem = layout_differences(exp.layout or "", act.layout)
        if problem:
            diffs.append(f"{where}: {problem}")
    for pos, (ep, ap) in enumerate(zip(exp.panes, act.panes, strict=True)):
        if ep.cwd is not None and _real(ep.cwd) != _real(ap.cwd or ""):
            diffs.append(f"{where} pane {pos} is in {ap.cwd!r} instead of {ep.cwd!r}")
    exp_active = [p.active for p in exp.panes]
    if any(exp_active) and exp_active != [p.active for p in act.panes]:
        diffs.append(f"{where}: active pane is not pane {exp_active.index(True)}")
    return diffs


def _real(path: str) -> str:
    return os.path.realpath(path) if path else path


def match_window(
    window: WindowSnapshot, position: int, actual: SessionSnapshot
) -> WindowSnapshot | None:
    """The window of ``actual`` that plays the part of ``window`` (at ``position`` in its session).

    A named window is matched by name; an automatically named one by its index, or, when it has
    none (a spec's window), by its position. Repairs and diagnosis both use this one rule, so a
    window counted as missing is exactly one a repair creates.
    """
    if not window.automatic_rename and window.name:
        return next((w for w in actual.windows if w.name == window.name), None)
    if window.index is not None:
        return next((w for w in actual.windows if w.index == window.index), None)
    return actual.windows[position] if position < len(actual.windows) else None
