"""``yesman-recovery reload``: make the running daemon re-read its configuration file.

The daemon validates the file it started from (the same as SIGHUP and ``systemctl reload``)
and applies only what changed (:mod:`yesman_recovery.reload`). Exit 0 when applied, printing
what was applied and any setting that needs a restart; exit 2 with the file's errors when it is
invalid (the daemon keeps running on its last good configuration); exit 1 when no daemon runs
on the state directory or applying failed. With ``--config`` (and no ``--state-dir``) the file
is read here first to find the state directory, so an invalid file exits 2 with its errors
before the daemon is asked.
"""

from __future__ import annotations

import json

import click

from yesman_recovery.cli.common import common_options, fail, resolve_state_dir

RELOAD_TIMEOUT = 60.0
"""Seconds to wait for the daemon's answer (it stops and starts the actors that changed)."""


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's answer as JSON.")
@click.pass_context
def reload(ctx: click.Context, as_json: bool) -> None:
    """Reload the running daemon's configuration file; apply only what changed."""
    from yesman_recovery.control import ControlError, DaemonNotRunning, call

    state_dir = resolve_state_dir(ctx)
    try:
        answer = call(state_dir, "reload", timeout=RELOAD_TIMEOUT)
    except DaemonNotRunning:
        fail(
            f"no daemon is running on state directory {state_dir}; start one with "
            "`yesman-recovery run` or pass the --state-dir it uses"
        )
    except ControlError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    elif answer.get("ok"):
        click.echo(f"reloaded: {answer.get('summary')}")
    else:
        click.echo(f"yesman-recovery: {answer.get('summary', '')}", err=True)
        for line in answer.get("errors") or ():
            click.echo(f"  {line}", err=True)
    if not answer.get("ok"):
        ctx.exit(2 if answer.get("outcome") == "rejected" else 1)
