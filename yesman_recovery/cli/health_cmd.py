"""``yesman-recovery health``: the running daemon's health checks; ``health run NAME``.

Both ask the daemon through its control channel (the Unix socket in the state directory), so
they need no HTTP endpoint and reach exactly the daemon that owns that state directory.
``health`` exits 0 whatever the checks say (it reports); ``health run`` exits 1 when the check
it ran is failing, so scripts can use it. No daemon → a one-line message and exit 1.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from yesman_recovery.cli.common import common_options, fail, output_console, resolve_state_dir

STATUS_STYLES = {"healthy": "green", "failing": "bold red", "unknown": "yellow"}
RUN_TIMEOUT = 70.0
"""Seconds ``health run`` waits for the daemon (a check's timeout is below its interval)."""


@click.group("health", invoke_without_command=True)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def health_group(ctx: click.Context, as_json: bool) -> None:
    """Show each health check of the running daemon: state, last result, heals, next run."""
    if ctx.invoked_subcommand is not None:
        return
    views = _call(ctx, "health.list", {}, timeout=5.0)
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return
    if not views:
        click.echo("no health checks configured ([[health_checks]] in the configuration)")
        return
    output_console().print(render_checks(views))


@health_group.command("run")
@common_options
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the check's view as JSON.")
@click.pass_context
def run_check(ctx: click.Context, name: str, as_json: bool) -> None:
    """Run health check NAME now; exit 1 if it fails."""
    view = _call(ctx, "health.run", {"name": name}, timeout=RUN_TIMEOUT)
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        output_console().print(render_checks([view]))
        if view.get("note"):
            click.echo(view["note"])
    if view.get("ok") is False:
        ctx.exit(1)


def _call(ctx: click.Context, command: str, args: dict[str, Any], *, timeout: float) -> Any:
    from yesman_recovery.control import ControlError, DaemonNotRunning, call

    state_dir = resolve_state_dir(ctx)
    try:
        return call(state_dir, command, args, timeout=timeout)
    except DaemonNotRunning:
        fail(f"no daemon is running with state directory {state_dir}; start `yesman-recovery run`")
    except ControlError as exc:
        fail(str(exc))


def render_checks(views: list[dict[str, Any]]) -> Table:
    """One row per check: state, flags, last result, duration, failures, heals, next run."""
    table = Table(box=None, pad_edge=False)
    for column in ("check", "kind", "state", "last result", "took", "fails", "heals", "next"):
        table.add_column(column, no_wrap=column != "last result")
    now = time.time()
    for v in views:
        status = str(v.get("status", "?"))
        state = Text(status, style=STATUS_STYLES.get(status, ""))
        for flag, style in (("critical", "bold"), ("flapping", "yellow"), ("escalated", "red")):
            if v.get(flag):
                state.append(f" {flag}", style=style)
        if v.get("healing"):
            state.append(" healing", style="cyan")
        ok = v.get("ok")
        mark = "" if ok is None else ("ok: " if ok else "FAIL: ")
        result = Text(mark + str(v.get("detail") or "-"), style="" if ok is not False else "red")
        took = v.get("duration_seconds")
        nxt = v.get("next_run")
        table.add_row(
            Text(str(v.get("name")), style="bold"),
            str(v.get("kind", "")),
            state,
            result,
            "-" if took is None else f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s",
            str(v.get("consecutive_failures", 0)),
            f"{v.get('heals_in_window', 0)}/{v.get('heal_max', '?')}",
            "-" if nxt is None else f"in {max(0.0, nxt - now):.0f} s",
        )
    return table
