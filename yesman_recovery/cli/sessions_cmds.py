"""``yesman-recovery sessions``: list watched sessions, checkpoint them now, restore one.

``list`` asks the running daemon (its ``/status``). ``save`` and ``restore`` work without a
daemon: they talk to the configured tmux server (``[tmux] socket_name`` / ``socket_path``) and
open the store of the resolved state directory directly; LMDB lets them run while a daemon
writes to the same store.

Checkpoints written by ``save`` are the daemon's own format
(:mod:`yesman_recovery.tmux.checkpoint`), so a daemon started later restores from them, and
``restore`` reads the daemon's. The tmux client and each session's program policy come from
:mod:`yesman_recovery.config.build`, as the daemon's do.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from yesman_recovery.cli.common import (
    common_options,
    echo_json_list,
    existing_state_dir,
    fail,
    json_lines_option,
    load_config,
    output_console,
    url_option,
)
from yesman_recovery.cli.lazy import LazyGroup
from yesman_recovery.cli.sessions_common import (
    audit_restore as _audit_restore,
)
from yesman_recovery.cli.sessions_common import (
    open_store as _store,
)
from yesman_recovery.cli.sessions_common import (
    render_sessions,
)
from yesman_recovery.cli.sessions_common import (
    snapshot as _snapshot,
)
from yesman_recovery.cli.sessions_common import (
    tmux_client as _client,
)
from yesman_recovery.cli.status_cmd import fetch_status

if TYPE_CHECKING:
    from yesman_recovery.config import Config
    from yesman_recovery.storage import Checkpoint, Store
    from yesman_recovery.tmux import ServerSnapshot, SessionSnapshot, TmuxClient


@click.group("sessions", cls=LazyGroup)
def sessions_group() -> None:
    """Watched tmux sessions: list, checkpoint, restore; reset, pause, resume, forget."""


for _verb in ("reset", "pause", "resume", "forget"):
    sessions_group.add_lazy(_verb, f"yesman_recovery.cli.session_control_cmds:{_verb}")


# --- list -----------------------------------------------------------------------------------


@sessions_group.command("list")
@common_options
@url_option
@json_lines_option
@click.pass_context
def list_sessions(ctx: click.Context, url: str | None, as_json: bool, as_jsonl: bool) -> None:
    """Show the state of every session the running daemon watches; exit 1 if none answers."""
    base = url if url is not None else load_config(ctx).metrics.url
    document = fetch_status(base)
    sessions = [s for s in document.get("sessions") or () if isinstance(s, dict)]
    if as_json or as_jsonl:
        echo_json_list(sessions, jsonl=as_jsonl)
        return
    console = output_console()
    if not sessions:
        console.print(f"no watched sessions (daemon at {base})")
        return
    console.print(render_sessions(sessions))


# --- save -----------------------------------------------------------------------------------


@sessions_group.command("save")
@common_options
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.pass_context
def save(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Checkpoint sessions now (every session of the server when no NAME is given).

    Works without a daemon. Prints one ``NAME  ID`` line per checkpoint; an unchanged session
    prints the id of its newest checkpoint (nothing new is written).
    """
    config = load_config(ctx)
    snapshot = _snapshot(_client(config))
    chosen = select_sessions(snapshot, names)
    with _store(ctx, config) as store:
        for session in chosen:
            checkpoint_id = save_session(store, config, session, snapshot.pid)
            click.echo(f"{session.name}\t{checkpoint_id}")


def select_sessions(snapshot: ServerSnapshot, names: Sequence[str]) -> list[SessionSnapshot]:
    """The sessions to save: all non-empty ones, or those named; exits 1 naming unknown ones."""
    if not names:
        chosen = [s for s in snapshot.sessions if not s.is_empty]
        if not chosen:
            fail(f"the tmux server {snapshot.socket} has no session to save")
        return chosen
    found: list[SessionSnapshot] = []
    unknown: list[str] = []
    for name in dict.fromkeys(names):
        session = _find(snapshot, name)
        if session is None:
            unknown.append(name)
        else:
            found.append(session)
    if unknown:
        known = ", ".join(repr(s.name) for s in snapshot.sessions) or "none"
        fail(
            f"no session named {', '.join(map(repr, unknown))} on the tmux server "
            f"{snapshot.socket} (its sessions: {known}); nothing was saved"
        )
    return found


def save_session(
    store: Store, config: Config, session: SessionSnapshot, server_pid: int | None
) -> str:
    """Write one checkpoint of ``session`` in the daemon's format; its id."""
    from yesman_recovery.tmux.checkpoint import SessionCheckpoint, SessionMode

    declared = config.session(session.name) is not None
    checkpoint = SessionCheckpoint(session, server_pid)
    return store.checkpoints.create(
        session.name,
        checkpoint.state(),
        metadata=checkpoint.metadata(SessionMode.DECLARED if declared else SessionMode.ADOPTED),
    )


# --- restore --------------------------------------------------------------------------------


@sessions_group.command("restore")
@common_options
@click.argument("name", required=False)
@click.option(
    "--all",
    "restore_every",
    is_flag=True,
    help="Every session: through the daemon when one runs (each missing watched session is "
    "restored now), else every checkpointed session missing from the server.",
)
@click.option(
    "--checkpoint",
    "checkpoint_id",
    metavar="ID",
    help="Restore this checkpoint of NAME instead of its newest good one.",
)
@click.pass_context
def restore(
    ctx: click.Context, name: str | None, checkpoint_id: str | None, restore_every: bool
) -> None:
    """Recreate session NAME from its newest good checkpoint (or --checkpoint ID), or --all.

    Works without a daemon, e.g. after a reboot. Exits 1 when NAME already exists on the
    server, when there is no usable checkpoint, or when the restored session does not match
    the checkpoint (the differences are printed).
    """
    from yesman_recovery.actors.agent_resumes import plan_resumes, summary
    from yesman_recovery.config.build import program_policy, shell_dir
    from yesman_recovery.errors import TmuxError
    from yesman_recovery.labels import Outcome
    from yesman_recovery.tmux import restore_session

    if restore_every:
        if name is not None or checkpoint_id is not None:
            raise click.UsageError("--all restores every session: give no NAME or --checkpoint")
        from yesman_recovery.cli.session_control_cmds import restore_all

        restore_all(ctx)
        return
    if name is None:
        raise click.UsageError("give a session NAME, or --all")
    config = load_config(ctx)
    client = _client(config)
    existing_state_dir(ctx)  # a restore reads: a missing directory is a wrong --state-dir
    with _store(ctx, config) as store:
        checkpoint = _checkpoint(store, name, checkpoint_id)
        session = _session_of(checkpoint)
        _require_absent(client, session.name)
        policy = program_policy(config, session.name)
        agents = summary(plan_resumes(session, policy))  # each agent pane's conversation
        try:
            result = restore_session(client, session, policy, shell_dir=shell_dir(config))
        except TmuxError as exc:
            _audit_restore(
                store,
                session.name,
                checkpoint.id,
                outcome=Outcome.FAILED,
                duration=None,
                why=str(exc),
            )
            fail(f"restoring session {session.name!r} failed: {exc}")
        outcome = Outcome.SUCCESS if result.ok else Outcome.FAILED
        why = "; ".join([*result.differences, *([agents] if agents else [])])
        _audit_restore(
            store, session.name, checkpoint.id, outcome=outcome, duration=result.duration, why=why
        )
    panes = len(session.panes())
    where = f"from checkpoint {checkpoint.id} in {result.duration:.2f} s"
    if result.ok:
        click.echo(
            f"restored session {session.name!r} ({len(session.windows)} windows, "
            f"{panes} panes) {where}: ok"
        )
        return
    click.echo(f"restored session {session.name!r} {where}, but it differs from the checkpoint:")
    for difference in result.differences:
        click.echo(f"  {difference}")
    raise click.exceptions.Exit(1)


def _checkpoint(store: Store, name: str, checkpoint_id: str | None) -> Checkpoint:
    from yesman_recovery.errors import StoreError

    if checkpoint_id is None:
        try:
            found = store.checkpoints.latest_good(name)
        except StoreError as exc:
            fail(f"cannot read the checkpoints of session {name!r}: {exc}")
        if found is None:
            fail(
                f"no checkpoint of session {name!r} in {store.path}; checkpoint it with "
                f"`yesman-recovery sessions save {shlex.quote(name)}` while it runs, or check "
                "--state-dir"
            )
        return found
    try:
        found = store.checkpoints.get(checkpoint_id)
    except (StoreError, ValueError) as exc:
        fail(f"cannot use checkpoint {checkpoint_id!r}: {exc}")
    if found.scope != name:
        fail(
            f"checkpoint {checkpoint_id} belongs to {found.scope!r}, not to session {name!r}; "
            f"restore it with `yesman-recovery sessions restore {shlex.quote(found.scope)} "
            f"--checkpoint {checkpoint_id}`"
        )
    return found


def _session_of(checkpoint: Checkpoint) -> SessionSnapshot:
    from yesman_recovery.tmux.checkpoint import SessionCheckpoint

    try:
        session = SessionCheckpoint.from_state(checkpoint.state).session
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(f"checkpoint {checkpoint.id} does not hold a tmux session: {exc}")
    if session.is_empty:
        fail(f"checkpoint {checkpoint.id} holds session {session.name!r} without any pane")
    return session


def _require_absent(client: TmuxClient, name: str) -> None:
    snapshot = _snapshot(client)
    if snapshot.session(name) is not None:
        fail(
            f"session {name!r} already exists on the tmux server {client.server_label}; "
            f"kill it first (`{client.command_line('kill-session', '-t', '=' + name)}`) "
            "to restore it from a checkpoint"
        )


# --- shared ---------------------------------------------------------------------------------


def _find(snapshot: ServerSnapshot, name: str) -> SessionSnapshot | None:
    from yesman_recovery.tmux import stored_session_name

    return snapshot.session(name) or snapshot.session(stored_session_name(name))
