"""``yesman-recovery agents hook install|remove|status|claude-session-start``.

``install``/``remove`` change ``~/.claude/settings.json`` (see :mod:`yesman_recovery.agents.
settings`): merged with the user's own hooks, idempotent, a backup first; ``--dry-run`` prints
the change as a diff and writes nothing. A settings file that is not valid JSON is an error
(exit 2) that changes nothing. ``claude-session-start`` is the hook itself, run by Claude Code.
"""

from __future__ import annotations

import os
import sys

import click


@click.group("agents")
def agents_group() -> None:
    """Agent CLIs: the Claude Code hook that binds each pane to its own conversation."""


@agents_group.group("hook")
def hook_group() -> None:
    """The Claude Code SessionStart hook in ~/.claude/settings.json."""


def _change(install: bool, dry_run: bool) -> None:
    from yesman_recovery.agents.settings import SettingsError, apply, plan, settings_path

    path = settings_path()
    try:
        change = plan(path, install=install)
    except SettingsError as exc:
        click.echo(f"yesman-recovery: {exc}", err=True)
        raise click.exceptions.Exit(2) from exc
    verb = "installed" if install else "removed"
    if not change.changes:
        state = "already installed" if install else "not installed"
        click.echo(f"the Claude Code hook is {state} in {path}: nothing to change")
        return
    if dry_run:
        click.echo(change.diff(), nl=False)
        click.echo(f"(dry run: {path} not changed)")
        return
    backup = apply(change)
    saved = f" (the previous file is {backup})" if backup is not None else ""
    click.echo(f"the Claude Code hook is {verb} in {path}{saved}")


@hook_group.command("install")
@click.option("--dry-run", is_flag=True, help="Print the change; write nothing.")
def install(dry_run: bool) -> None:
    """Add the hook to ~/.claude/settings.json, beside the user's own hooks."""
    _change(True, dry_run)


@hook_group.command("remove")
@click.option("--dry-run", is_flag=True, help="Print the change; write nothing.")
def remove(dry_run: bool) -> None:
    """Remove the hook; the user's own hooks stay exactly as they are."""
    _change(False, dry_run)


@hook_group.command("status")
def status() -> None:
    """Say whether the hook is installed (exit 0) or not (exit 1)."""
    from yesman_recovery.agents.settings import SettingsError, installed, read_settings
    from yesman_recovery.agents.settings import settings_path as where

    path = where()
    try:
        present = installed(read_settings(path))
    except SettingsError as exc:
        click.echo(f"yesman-recovery: {exc}", err=True)
        raise click.exceptions.Exit(2) from exc
    click.echo(f"the Claude Code hook is {'installed' if present else 'not installed'} in {path}")
    if not present:
        raise click.exceptions.Exit(1)


@hook_group.command("claude-session-start")
def claude_session_start() -> None:
    """The hook Claude Code runs: record this pane's conversation (JSON on stdin)."""
    from yesman_recovery.agents.hook import session_start

    raise click.exceptions.Exit(session_start(sys.stdin, os.environ))
