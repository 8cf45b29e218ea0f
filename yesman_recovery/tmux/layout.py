"""Which window layouts may be given to tmux: exact preset names and layout strings that check.

tmux 3.3a exits — taking every session of the server with it — on ``select-layout`` with a name
that is not a preset (``Tiled``, ``tiled `` with a trailing space, ``main vertical``, ``x``) and
with some malformed layout strings. So a layout is checked where it enters (a spec file, a
stored checkpoint) and once more just before a restore plan sends it, and tmux only ever sees:

- one of :data:`PRESETS`, spelled exactly;
- a layout string as tmux itself prints it (``#{window_layout}``): ``CSUM,`` — four hex digits of
  tmux's checksum of the rest — then a cell tree, where a cell is ``WxH,X,Y`` followed by
  ``,ID`` (a pane), ``{cell,cell…}`` (side by side) or ``[cell,cell…]`` (stacked). Its geometry
  must add up as tmux's ``layout_check`` wants (children of ``{}`` share the parent's height
  and their widths plus one border each make the parent's width; ``[]`` likewise with heights),
  offsets must follow each other, sizes are 1 to 10,000 cells (tmux's window maximum), and the
  number of panes must equal the window's.

Anything else is refused with a reason; the window is then built without a layout (tmux's
default split), never not at all.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LAYOUT_LENGTH", "PRESETS", "layout_checksum", "layout_problem"]

PRESETS = frozenset(
    {"even-horizontal", "even-vertical", "main-horizontal", "main-vertical", "tiled"}
)
MAX_LAYOUT_LENGTH = 64 * 1024
"""Longest layout string accepted (a 100-pane window's layout is about 2.5 KB)."""
_MAX_CELL = 10_000  # tmux's WINDOW_MAXIMUM
_MAX_DEPTH = 64
_CELL = re.compile(r"(\d{1,5})x(\d{1,5}),(\d{1,5}),(\d{1,5})")
_PANE_ID = re.compile(r",(\d{1,9})")


def layout_checksum(body: str) -> int:
    """tmux's 16-bit checksum of a layout string without its ``CSUM,`` prefix."""
    csum = 0
    for ch in body.encode():
        csum = (csum >> 1) + ((csum & 1) << 15)
        csum = (csum + ch) & 0xFFFF
    return csum


def layout_problem(layout: str, panes: int | None = None) -> str | None:
    """Why ``layout`` must not be given to tmux, or None when it is safe.

    ``panes`` is the number of panes of the window it is for; a layout string must have exactly
    that many cells (None skips this check; presets fit any number).
    """
    if not isinstance(layout, str):
        return f"a layout must be a string, got {type(layout).__name__}"
    if layout in PRESETS:
        return None
    allowed = f"use one of {', '.join(sorted(PRESETS))} (exactly) or a layout string tmux printed"
    if len(layout) > MAX_LAYOUT_LENGTH:
        return f"layout is {len(layout)} characters long, over {MAX_LAYOUT_LENGTH}; {allowed}"
    head = re.match(r"([0-9a-fA-F]{4}),", layout)
    if head is None:
        return f"{layout[:80]!r} is neither a preset layout nor a layout string; {allowed}"
    body = layout[5:]
    if int(head.group(1), 16) != layout_checksum(body):
        return f"layout string {layout[:80]!r} has a wrong checksum; {allowed}"
    try:
        parser = _Parser(body)
        root = parser.cell(0)
        if parser.pos != len(body):
            raise ValueError(f"unexpected {body[parser.pos : parser.pos + 10]!r}")
    except ValueError as exc:
        return f"layout string {layout[:80]!r} is malformed: {exc}; {allowed}"
    if panes is not None and root.cells != panes:
        return (
            f"layout string {layout[:80]!r} has {root.cells} pane(s) but the window has "
            f"{panes}; it is not used"
        )
    return None


class _Cell:
    __slots__ = ("cells", "sx", "sy", "x", "y")

    def __init__(self, sx: int, sy: int, x: int, y: int) -> None:
        self.sx, self.sy, self.x, self.y = sx, sy, x, y
        self.cells = 1  # panes (leaf cells) inside this one


class _Parser:
    """A recursive-descent parser of tmux's cell grammar that also checks the geometry."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def cell(self, depth: int) -> _Cell:
        if depth > _MAX_DEPTH:
            raise ValueError(f"cells nested deeper than {_MAX_DEPTH}")
        match = _CELL.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"expected WxH,X,Y at offset {self.pos}")
        sx, sy, x, y = (int(g) for g in match.groups())
        if not (1 <= sx <= _MAX_CELL and 1 <= sy <= _MAX_CELL):
            raise ValueError(f"cell size {sx}x{sy} is outside 1..{_MAX_CELL}")
        if x > _MAX_CELL or y > _MAX_CELL:
            raise ValueError(f"cell offset {x},{y} is over {_MAX_CELL}")
        self.pos = match.end()
        cell = _Cell(sx, sy, x, y)
        pane = _PANE_ID.match(self.text, self.pos)
        if pane is not None:
            self.pos = pane.end()
            return cell
        opener = self.text[self.pos : self.pos + 1]
        if opener not in ("{", "["):
            return cell  # a pane without an id; the caller checks what follows
        closer = "}" if opener == "{" else "]"
        children: list[_Cell] = []
        while True:
            self.pos += 1  # past the opener or a comma
            children.append(self.cell(depth + 1))
            if self.text[self.pos : self.pos + 1] != ",":
                break
        if self.text[self.pos : self.pos + 1] != closer:
            raise ValueError(f"expected {closer!r} at offset {self.pos}")
        self.pos += 1
        _check_children(cell, children, side_by_side=opener == "{")
        cell.cells = sum(c.cells for c in children)
        return cell


def _check_children(parent: _Cell, children: list[_Cell], *, side_by_side: bool) -> None:
    """tmux's ``layout_check`` for one container, plus offsets that follow each other."""
    along = parent.x if side_by_side else parent.y
    for child in children:
        across_ok = child.sy == parent.sy if side_by_side else child.sx == parent.sx
        if not across_ok:
            raise ValueError("a child cell does not span its parent")
        start, other = (child.x, child.y) if side_by_side else (child.y, child.x)
        if start != along or other != (parent.y if side_by_side else parent.x):
            raise ValueError("cell offsets do not follow each other")
        along += (child.sx if side_by_side else child.sy) + 1
    total = along - (parent.x if side_by_side else parent.y) - 1
    if total != (parent.sx if side_by_side else parent.sy):
        raise ValueError("child cells do not add up to their parent's size")
