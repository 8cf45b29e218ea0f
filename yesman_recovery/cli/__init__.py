"""The ``yesman-recovery`` command line: the :data:`main` click group and its commands.

Each command is one line of :data:`COMMANDS`, ``name: "module:attribute"``, imported only when
it runs (:mod:`yesman_recovery.cli.lazy`), so no command pays for another's libraries.
"""

from __future__ import annotations

import click

from yesman_recovery import __version__
from yesman_recovery.cli.common import group_options
from yesman_recovery.cli.lazy import LazyGroup

COMMANDS: dict[str, str] = {
    "run": "yesman_recovery.cli.run_cmd:run",
    "status": "yesman_recovery.cli.status_cmd:status",
    "config": "yesman_recovery.cli.config_cmd:config_group",
    "sessions": "yesman_recovery.cli.sessions_cmds:sessions_group",
    "checkpoints": "yesman_recovery.cli.storage_cmds:checkpoints",
    "audit": "yesman_recovery.cli.storage_cmds:audit",
    "breakers": "yesman_recovery.cli.breakers_cmds:breakers_group",
    "transactions": "yesman_recovery.cli.transactions_cmds:transactions_group",
    "service": "yesman_recovery.cli.service_cmd:service_group",
    "completion": "yesman_recovery.cli.completion_cmd:completion",
    "health": "yesman_recovery.cli.health_cmd:health_group",
    "reload": "yesman_recovery.cli.reload_cmd:reload",
    "shell-init": "yesman_recovery.cli.shell_init_cmd:shell_init",
    "agents": "yesman_recovery.cli.agents_cmd:agents_group",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", "-V", prog_name="yesman-recovery")
@group_options
def main() -> None:
    """Keep tmux sessions of long-running AI agents alive: supervise, checkpoint, restore."""


__all__ = ["COMMANDS", "main"]
