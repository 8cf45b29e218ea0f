"""The ``yesman-recovery`` command line: the :data:`main` click group and its commands."""

from __future__ import annotations

import click

from yesman_recovery import __version__
from yesman_recovery.cli.breakers_cmds import breakers_group
from yesman_recovery.cli.common import group_options
from yesman_recovery.cli.config_cmd import config_group
from yesman_recovery.cli.health_cmd import health_group
from yesman_recovery.cli.run_cmd import run
from yesman_recovery.cli.sessions_cmds import sessions_group
from yesman_recovery.cli.status_cmd import status
from yesman_recovery.cli.storage_cmds import audit, checkpoints


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="yesman-recovery")
@group_options
def main() -> None:
    """Keep tmux sessions of long-running AI agents alive: supervise, checkpoint, restore."""


main.add_command(run)
main.add_command(status)
main.add_command(config_group)
main.add_command(sessions_group)
main.add_command(checkpoints)
main.add_command(audit)
main.add_command(breakers_group)
main.add_command(health_group)

__all__ = ["main"]
