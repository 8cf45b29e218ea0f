"""``yesman-recovery status --watch``: the daemon's state refreshed in place, like ``top``.

Every ``--interval`` seconds: the supervision tree, the sessions and their state, the circuit
breakers, and the health checks and transactions when ``/status`` has them, from the daemon's
``/status``; then the latest recoveries from the audit trail of the state directory (read like
``yesman-recovery audit``: the store is only read). A daemon that stops answering is shown as
such and asked again at the next refresh. Ctrl-C (SIGINT) ends it with exit status 0. Drawn
with :class:`rich.live.Live`; on a terminal the screen is redrawn in place, otherwise each
refresh is printed once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from yesman_recovery.cli.common import StatusUnavailable, output_console, resolve_state_dir

if TYPE_CHECKING:
    from yesman_recovery.storage import Store

RECOVERIES = 8
"""How many of the latest recoveries are shown."""


Fetch = Callable[[str], dict[str, Any]]
"""GETs the ``/status`` document at a base URL; raises :class:`StatusUnavailable`."""
Render = Callable[[dict[str, Any], str], RenderableType]
"""Draws the supervision tree of a ``/status`` document."""


def watch_status(
    ctx: click.Context,
    base: str,
    fetch: Fetch,
    render: Render,
    *,
    interval: float,
    iterations: int | None = None,
) -> None:
    """Refresh until Ctrl-C (or ``iterations`` refreshes, for tests); exit status 0.

    ``fetch`` and ``render`` are ``status``'s own (passed in: that module imports this one).
    """
    console = output_console()
    first = Text(f"asking {base} ...", style="dim")
    # Ctrl-C sets a flag that the loop reads between refreshes, rather than raising inside
    # whatever runs then: a KeyboardInterrupt in the middle of a store read could leave its
    # lock taken, and closing the store would then wait for ever.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with (
            _audit_store(ctx) as store,
            Live(first, console=console, auto_refresh=False, transient=False) as live,
        ):
            done = 0
            while not stop.is_set():
                live.update(render_frame(base, store, interval, fetch, render), refresh=True)
                done += 1
                if iterations is not None and done >= iterations:
                    return
                stop.wait(interval)
    finally:
        signal.signal(signal.SIGINT, previous)
    console.print(Text("stopped watching", style="dim"))


def render_frame(
    base: str, store: Store | None, interval: float, fetch: Fetch, render: Render
) -> RenderableType:
    """One refresh: everything the module docstring lists, with the time it was taken."""
    parts: list[RenderableType] = []
    try:
        document = fetch(base)
    except StatusUnavailable as exc:
        parts.append(Text(f"not answering: {exc}", style="bold red"))
        document = None
    if document is not None:
        from yesman_recovery.cli.breakers_cmds import render_breakers
        from yesman_recovery.cli.sessions_common import render_sessions

        parts.append(render(document, base))
        sessions = _rows(document.get("sessions"))
        parts.append(render_sessions(sessions) if sessions else Text("no watched sessions"))
        breakers = _rows(document.get("breakers"))
        if breakers:
            parts.append(render_breakers(breakers))
        for key, title in (("checks", "health checks"), ("transactions", "transactions")):
            rows = _rows(document.get(key))
            if rows:
                parts.append(generic_table(title, rows))
    if store is not None:
        parts.append(_recoveries(store))
    stamp = time.strftime("%H:%M:%S")
    parts.append(Text(f"{stamp}  every {interval:g} s  Ctrl-C to quit", style="dim"))
    return Group(*parts)


def generic_table(title: str, rows: Sequence[dict[str, Any]]) -> Table:
    """A table of the scalar fields of ``rows`` (sections whose shape this view does not know)."""
    columns: list[str] = []
    for row in rows:
        columns += [
            k for k, v in row.items() if k not in columns and not isinstance(v, dict | list)
        ]
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    return table


def _recoveries(store: Store) -> RenderableType:
    from yesman_recovery.errors import StoreError

    try:
        events = store.audit.query(kind="recovery", limit=RECOVERIES)
    except StoreError as exc:
        return Text(f"latest recoveries: cannot read the audit trail: {exc}", style="red")
    if not events:
        return Text("no recoveries yet", style="dim")
    table = Table(title="latest recoveries", title_justify="left", show_edge=False)
    for column in ("time", "session", "action", "outcome", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for event in events:
        style = "green" if event.outcome == "success" else "bold red"
        table.add_row(
            time.strftime("%m-%d %H:%M:%S", time.localtime(event.time)),
            event.subject,
            event.action,
            Text(event.outcome, style=style),
            Text(event.detail, style="dim"),
        )
    return table


def _rows(value: Any) -> list[dict[str, Any]]:
    return [r for r in value or () if isinstance(r, dict)] if isinstance(value, list) else []


@contextlib.contextmanager
def _audit_store(ctx: click.Context) -> Iterator[Store | None]:
    """The state directory's store, only read; None when there is none (recoveries not shown)."""
    from yesman_recovery.errors import StoreError
    from yesman_recovery.storage import open_store

    try:
        state_dir = resolve_state_dir(ctx)
    except click.exceptions.Exit:
        yield None
        return
    if not (state_dir / "data.mdb").exists():
        yield None
        return
    try:
        store = open_store(state_dir)
    except StoreError:
        yield None
        return
    with store:
        yield store
