"""The ``yesman-recovery`` command line: the :data:`main` click group and its commands."""

from __future__ import annotations

import click

from yesman_recovery import __version__
from yesman_recovery.cli.common import group_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="yesman-recovery")
@group_options
def main() -> None:
    """Keep tmux sessions of long-running AI agents alive: supervise, checkpoint, restore."""


__all__ = ["main"]
