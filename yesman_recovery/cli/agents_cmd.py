"""``yesman-recovery agents hook install|remove|status|claude-session-start|gemini-session-start``.

``install``/``remove`` change ``~/.claude/settings.json`` (``--agent gemini``:
``~/.gemini/settings.json``) (see :mod:`yesman_recovery.agents.
settings`): merged with the user's own hooks, idempotent, a backup first; ``--dry-run`` prints
the change as a diff and writes nothing. A settings file that is not valid JSON is an error
(exit 2) that changes nothing. ``claude-session-start`` and ``gemini-session-start`` are the
hook itself, run by the agent.
"""

from __future__ import annotations

import os
import sys

import click


@click.group("agents")
def agents_group() -> None:
    """Agent CLIs: the SessionStart hook that binds each pane to its own conversation."""


@agents_group.group("hook")
def hook_group() -> None:
    """The SessionStart hook in ~/.claude/settings.json (or ~/.gemini/settings.json)."""


AGENT_OPTION = click.option(
    "--agent",
    type=click.Choice(["claude", "gemini"]),
    default="claude",
    show_default=True,
    help="Whose settings: Claude Code (~/.claude) or Gemini CLI (~/.gemini).",
)


def _change(install: bool, dry_run: bool, agent: str) -> None:
    from yesman_recovery.agents.settings import SettingsError, apply, plan, settings_path

    path = settings_path(agent=agent)
    try:
        change = plan(path, install=install, agent=agent)
    except SettingsError as exc:
        click.echo(f"yesman-recovery: {exc}", err=True)
        raise click.exceptions.Exit(2) from exc
    verb = "installed" if install else "removed"
    if not change.changes:
        state = "already installed" if install else "not installed"
        click.echo(f"the {agent} hook is {state} in {path}: nothing to change")
        return
    if dry_run:
        click.echo(change.diff(), nl=False)
        click.echo(f"(dry run: {path} not changed)")
        return
    backup = apply(change)
    saved = f" (the previous file is {backup})" if backup is not None else ""
    click.echo(f"the {agent} hook is {verb} in {path}{saved}")


@hook_group.command("install")
@click.option("--dry-run", is_flag=True, help="Print the change; write nothing.")
@AGENT_OPTION
def install(dry_run: bool, agent: str) -> None:
    """Add the hook to the agent's settings.json, beside the user's own hooks."""
    _change(True, dry_run, agent)


@hook_group.command("remove")
@click.option("--dry-run", is_flag=True, help="Print the change; write nothing.")
@AGENT_OPTION
def remove(dry_run: bool, agent: str) -> None:
    """Remove the hook; the user's own hooks stay exactly as they are."""
    _change(False, dry_run, agent)


@hook_group.command("status")
@AGENT_OPTION
def status(agent: str) -> None:
    """Say whether the hook is installed (exit 0) or not (exit 1)."""
    from yesman_recovery.agents.settings import SettingsError, installed, read_settings
    from yesman_recovery.agents.settings import settings_path as where

    path = where(agent=agent)
    try:
        present = installed(read_settings(path))
    except SettingsError as exc:
        click.echo(f"yesman-recovery: {exc}", err=True)
        raise click.exceptions.Exit(2) from exc
    click.echo(f"the {agent} hook is {'installed' if present else 'not installed'} in {path}")
    if not present:
        raise click.exceptions.Exit(1)


@hook_group.command("claude-session-start")
def claude_session_start() -> None:
    """The hook Claude Code runs: record this pane's conversation (JSON on stdin)."""
    from yesman_recovery.agents.hook import session_start

    raise click.exceptions.Exit(session_start(sys.stdin, os.environ))


@hook_group.command("gemini-session-start")
def gemini_session_start() -> None:
    """The hook Gemini CLI runs: record this pane's conversation (JSON on stdin)."""
    from yesman_recovery.agents.hook import session_start

    raise click.exceptions.Exit(session_start(sys.stdin, os.environ, reply="{}"))
