"""``yesman-recovery breakers``: the running daemon's circuit breakers, through its control channel.

``list`` shows every breaker's state and window; ``open`` forces one open (every call refused),
``close`` returns it to normal operation, ``reset`` closes it forgetting its history, ``disable``
lets every call through without tripping. Each talks to the daemon that owns the state
directory (``--state-dir``, ``YESMAN_RECOVERY_STATE_DIR`` or ``[storage] path``) and exits 1
with a one-line message when none runs there or it refuses (an unknown name lists the known).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from yesman_recovery.cli.common import (
    common_options,
    fail,
    format_uptime,
    output_console,
    resolve_state_dir,
)

BREAKER_STATE_STYLES = {
    "closed": "green",
    "half_open": "yellow",
    "open": "bold red",
    "forced_open": "bold red",
    "disabled": "dim",
}


@click.group("breakers")
def breakers_group() -> None:
    """Circuit breakers of the running daemon: list them, force them open, close, reset."""


def _ask(ctx: click.Context, command: str, args: dict[str, Any] | None = None) -> Any:
    from yesman_recovery.control import ControlError, DaemonNotRunning, call

    state_dir = resolve_state_dir(ctx)
    try:
        return call(state_dir, command, args)
    except DaemonNotRunning:
        fail(
            f"no daemon is running on state directory {state_dir}; start one with "
            "`yesman-recovery run` or pass the --state-dir it uses"
        )
    except ControlError as exc:
        fail(str(exc))


@breakers_group.command("list")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the breakers as a JSON list.")
@click.pass_context
def list_breakers(ctx: click.Context, as_json: bool) -> None:
    """Show every circuit breaker of the running daemon; exit 1 if none runs."""
    rows = _ask(ctx, "breakers.list")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console = output_console()
    if not rows:
        console.print("no circuit breakers (add [breakers.NAME] tables to the configuration)")
        return
    console.print(render_breakers(rows))


def _override_command(verb: str, summary: str) -> click.Command:
    @click.argument("name")
    @common_options
    @click.pass_context
    def command(ctx: click.Context, name: str) -> None:
        row = _ask(ctx, f"breakers.{verb}", {"name": name})
        state = str(row.get("state", "?")) if isinstance(row, dict) else "?"
        click.echo(f"breaker {name}: {state.replace('_', '-')}")

    command.__doc__ = summary
    return click.command(verb)(command)


breakers_group.add_command(
    _override_command("open", "Force breaker NAME open: every call is refused until close/reset.")
)
breakers_group.add_command(
    _override_command("close", "Return breaker NAME to normal operation (closed).")
)
breakers_group.add_command(
    _override_command("reset", "Close breaker NAME and forget its failures and past trips.")
)
breakers_group.add_command(
    _override_command("disable", "Let every call through breaker NAME; it never trips.")
)


def render_breakers(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per breaker: name, state, for how long, next probe, failures and window."""
    table = Table(title="circuit breakers", title_justify="left", show_edge=False)
    for header in ("breaker", "state", "since", "next probe", "failures", "window", "trips"):
        table.add_column(header)
    for row in rows:
        state = str(row.get("state", "?"))
        rate = row.get("failure_rate")
        window = f"{row.get('window_failures', 0)}/{row.get('window_calls', 0)} failed"
        if isinstance(rate, int | float):
            window += f" ({rate:.0f}%)"
        retry_in = row.get("retry_in_seconds")
        table.add_row(
            Text(str(row.get("name", "?"))),
            Text(state.replace("_", "-"), style=BREAKER_STATE_STYLES.get(state, "")),
            _seconds(row.get("since_seconds")) + " ago",
            "in " + _seconds(retry_in) if isinstance(retry_in, int | float) else "-",
            f"{row.get('consecutive_failures', 0)} in a row",
            window,
            str(row.get("trips", 0)),
        )
    return table


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "?"

    return format_uptime(float(value))
