"""What the ``sessions`` commands share: the table of sessions, the tmux server, the store."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from yesman_recovery.cli.common import TMUX_MISSING, fail, resolve_state_dir

if TYPE_CHECKING:
    from yesman_recovery.config import Config
    from yesman_recovery.labels import Outcome
    from yesman_recovery.storage import Store
    from yesman_recovery.tmux import ServerSnapshot, TmuxClient

SESSION_STATE_STYLES = {
    "healthy": "green",
    "starting": "yellow",
    "recovering": "yellow",
    "frozen": "bold yellow",
    "failed": "bold red",
    "released": "dim",
    "unresponsive": "bold red",
    "paused": "bold cyan",
}


def render_sessions(sessions: Sequence[dict[str, Any]]) -> Table:
    """One row per session: name, mode, state, recoveries, checkpointed, source, detail.

    ``source`` is the file the session was declared in (its spec, a yesman file, or the
    configuration file), ``-`` for an adopted session."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("session", "mode", "state", "recoveries", "checkpoint", "source", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for s in sessions:
        state = str(s.get("state", "?"))
        checkpointed = s.get("checkpointed")
        table.add_row(
            Text(str(s.get("name", "?")), style="bold"),
            Text(str(s.get("mode", "?")), style="cyan"),
            Text(state, style=SESSION_STATE_STYLES.get(state, "")),
            str(s.get("recoveries", 0)),
            "yes" if checkpointed else ("no" if checkpointed is not None else "?"),
            Text(_home(str(s.get("origin") or "-"))),
            Text("; ".join(str(x) for x in (s.get("detail"), s.get("note")) if x), style="dim"),
        )
    return table


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def tmux_client(config: Config) -> TmuxClient:
    """The configured server's client; exits 1 when tmux is not installed."""
    import shutil

    from yesman_recovery.config.build import tmux_client

    if shutil.which("tmux") is None:
        fail(TMUX_MISSING)
    return tmux_client(config)


def snapshot(client: TmuxClient) -> ServerSnapshot:
    """Observe the server; an absent server is an empty snapshot, a frozen one exits 1."""
    from yesman_recovery.errors import TmuxError, TmuxServerGone
    from yesman_recovery.tmux import ServerSnapshot

    try:
        return client.snapshot()
    except TmuxServerGone:
        return ServerSnapshot(pid=None, sessions=(), socket=client.server_label)
    except TmuxError as exc:
        fail(str(exc))


@contextmanager
def open_store(ctx: click.Context, config: Config) -> Iterator[Store]:
    from yesman_recovery.errors import StoreError
    from yesman_recovery.storage import open_store

    state_dir = resolve_state_dir(ctx)
    try:
        store = open_store(
            state_dir,
            durability=config.storage.durability,
            max_state_size=config.storage.max_state_size,
        )
    except StoreError as exc:
        fail(f"cannot open the store in {state_dir}: {exc}")
    with store:
        yield store


def audit_restore(
    store: Store,
    name: str,
    checkpoint_id: str,
    *,
    outcome: Outcome,
    duration: float | None,
    why: str,
) -> None:
    from yesman_recovery.labels import Action, AuditKind

    detail = f"restore on demand from checkpoint {checkpoint_id}"
    store.audit.append(
        AuditKind.RECOVERY,
        name,
        detail=f"{detail} ({why})" if why else detail,
        action=Action.RESTORE,
        outcome=outcome,
        duration=duration,
    )
