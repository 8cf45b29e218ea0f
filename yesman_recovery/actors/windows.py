"""Which windows a declared session must have, and what to build a missing one from: pure.

A declared session must have the windows of its spec. What a window *is* comes from the newest
good checkpoint where it saw that window — its index, layout, panes with their directories and
programs — and from the spec only where no checkpoint exists: a window the user killed comes
back at the index (and so the position) it had, not after the last one.

Windows are matched by tmux window id (``@3``) while the server lives: :class:`WindowIds`
remembers which live window plays each declared window (learned by name the first time), so a
declared window the user renamed (``shell`` → ``shell2``) is still that window — also once a
checkpoint has seen it under its new name — and is never created a second time. On another
server, ids mean nothing: windows are matched by
:func:`~yesman_recovery.tmux.compare.match_window` (name, else index or position) again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from yesman_recovery.tmux.compare import match_window
from yesman_recovery.tmux.records import SessionSnapshot, WindowSnapshot


@dataclass
class WindowIds:
    """The live window id of each declared window (by spec position), on one server."""

    server_pid: int | None = None
    ids: dict[int, str] = field(default_factory=dict)

    def on_server(self, pid: int | None) -> WindowIds:
        """Forget every id when the server is not the one they were seen on; returns self."""
        if pid != self.server_pid:
            self.server_pid = pid
            self.ids.clear()
        return self


def _by_id(windows: tuple[WindowSnapshot, ...], wid: str | None) -> WindowSnapshot | None:
    return next((w for w in windows if w.window_id == wid), None) if wid else None


def declared_windows(
    spec: SessionSnapshot,
    expected: SessionSnapshot | None,
    actual: SessionSnapshot,
    *,
    match_ids: bool,
    known: WindowIds | None = None,
) -> SessionSnapshot:
    """``spec`` with each window as the checkpoint ``expected`` saw it, matched to ``actual``.

    ``match_ids``: the window ids of ``expected`` are valid on ``actual``'s server. ``known``
    (set for ``actual``'s server) is read and updated. A window on the server takes the name
    and index it has there, so :func:`match_window` finds it; a missing one keeps the
    checkpoint's index and panes (those the spec declares beyond them are added). The result is
    what :func:`~yesman_recovery.actors.diagnosis.missing_structure` checks and
    :func:`~yesman_recovery.tmux.plan.plan_repair` builds from.
    """
    ids = {} if known is None else known.ids
    windows: list[WindowSnapshot] = []
    for position, declared in enumerate(spec.windows):
        wid = ids.get(position)
        live = _by_id(actual.windows, wid)
        seen = None
        if expected is not None:
            seen = (_by_id(expected.windows, wid) if match_ids else None) or match_window(
                declared, position, expected
            )
        if live is None and match_ids and seen is not None:
            live = _by_id(actual.windows, seen.window_id)
        if live is None:
            live = match_window(declared, position, actual)
        if live is not None and live.window_id:
            ids[position] = live.window_id
        window = declared
        if seen is not None:
            window = replace(seen, panes=seen.panes + declared.panes[len(seen.panes) :])
        if live is not None:
            window = replace(
                window,
                name=live.name,
                automatic_rename=live.automatic_rename,
                index=live.index,
                window_id=live.window_id,
            )
        windows.append(window)
    return replace(spec, windows=tuple(windows))
