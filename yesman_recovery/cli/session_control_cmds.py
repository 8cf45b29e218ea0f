"""``yesman-recovery sessions reset|pause|resume|forget`` and ``restore --all``: session control.

Through the running daemon's control channel (:mod:`yesman_recovery.session_control`) when one
runs on the state directory. Without one, what the store alone can do: ``pause`` and ``resume``
write the paused list a daemon honours when it starts; ``forget`` deletes the session's
checkpoints and its place in the adopted list; ``restore --all`` restores every checkpointed
session missing from the server; ``reset`` has nothing to clear (``failed`` lives in a running
daemon) and exits 1. Every verb is recorded in the audit trail.
"""

from __future__ import annotations

from typing import Any

import click

from yesman_recovery.cli.common import (
    common_options,
    existing_state_dir,
    fail,
    load_config,
    output_console,
    resolve_state_dir,
)

NOT_RUNNING = object()


def _ask(ctx: click.Context, command: str, args: dict[str, Any] | None = None) -> Any:
    """The daemon's answer, or :data:`NOT_RUNNING`; exits 1 when it refuses."""
    from yesman_recovery.control import ControlError, DaemonNotRunning, call

    try:
        return call(resolve_state_dir(ctx), command, args, timeout=60.0)
    except DaemonNotRunning:
        return NOT_RUNNING
    except ControlError as exc:
        fail(str(exc))


def _state(described: dict[str, Any]) -> str:
    detail = described.get("detail")
    return f"{described.get('state')}" + (f" ({detail})" if detail else "")


@click.command("reset")
@common_options
@click.argument("name")
@click.pass_context
def reset(ctx: click.Context, name: str) -> None:
    """Clear `failed` of session NAME now and look at it again (needs the daemon)."""
    answer = _ask(ctx, "sessions.reset", {"name": name})
    if answer is NOT_RUNNING:
        fail(
            f"no daemon is running on state directory {resolve_state_dir(ctx)}: `failed` lives "
            "in a running daemon (a daemon that starts has none); nothing to reset"
        )
    click.echo(f"session {name!r} reset: now {_state(answer)}")


@click.command("pause")
@common_options
@click.argument("name")
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    help="Resume by itself after DURATION (e.g. 30m); default: until resumed.",
)
@click.pass_context
def pause(ctx: click.Context, name: str, duration: str | None) -> None:
    """Stop watching and restoring session NAME (e.g. during manual surgery) until resumed."""
    seconds = None
    if duration is not None:
        from yesman_recovery.config.units import parse_duration

        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--for") from None
        if seconds <= 0:
            raise click.BadParameter("must be longer than 0 s, e.g. 30m", param_hint="--for")
    answer = _ask(ctx, "sessions.pause", {"name": name, "seconds": seconds})
    if answer is NOT_RUNNING:
        with _offline_store(ctx) as store:
            from yesman_recovery.actors.paused import PausedSessions
            from yesman_recovery.labels import Action
            from yesman_recovery.session_control import audit, known_sessions, unknown_session

            known = known_sessions(store, (s.name for s in load_config(ctx).sessions))
            if name not in known:
                fail(str(unknown_session(name, known)))
            PausedSessions(store).pause(name, seconds)
            how = "until resumed" if seconds is None else f"for {seconds:g} s"
            audit(store, name, Action.PAUSE, f"paused by `sessions pause` {how} (no daemon)")
    until = "until `yesman-recovery sessions resume " + name + "`"
    click.echo(f"session {name!r} paused {until if seconds is None else f'for {duration}'}")


@click.command("resume")
@common_options
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Watch and restore session NAME again, taking it as it is now."""
    answer = _ask(ctx, "sessions.resume", {"name": name})
    if answer is NOT_RUNNING:
        with _offline_store(ctx) as store:
            from yesman_recovery.actors.paused import PausedSessions
            from yesman_recovery.labels import Action
            from yesman_recovery.session_control import (
                audit,
                known_sessions,
                not_paused,
                unknown_session,
            )

            paused = PausedSessions(store)
            if paused.resume(name) is None:
                known = known_sessions(store, (s.name for s in load_config(ctx).sessions))
                refusal = (
                    not_paused(name, paused) if name in known else unknown_session(name, known)
                )
                fail(str(refusal))
            audit(store, name, Action.RESUME, "resumed by `sessions resume` (no daemon)")
        click.echo(f"session {name!r} resumed")
        return
    click.echo(f"session {name!r} resumed: now {_state(answer)}")


@click.command("forget")
@common_options
@click.argument("name")
@click.pass_context
def forget(ctx: click.Context, name: str) -> None:
    """Delete adopted session NAME's checkpoints and stop watching or restoring it."""
    answer = _ask(ctx, "sessions.forget", {"name": name})
    if answer is NOT_RUNNING:
        config = load_config(ctx)
        if config.session(name) is not None:
            fail(f"session {name!r} is declared in {config.source}; remove its [[sessions]] table")
        with _offline_store(ctx) as store:
            from yesman_recovery.labels import Action
            from yesman_recovery.session_control import audit, forget_stored

            deleted = forget_stored(store, name)
            if not deleted:
                from yesman_recovery.session_control import known_sessions

                known = ", ".join(known_sessions(store)) or "none"
                fail(f"session {name!r} has no checkpoints in {store.path}; checkpointed: {known}")
            detail = f"forgotten by `sessions forget`: {deleted} checkpoints deleted (no daemon)"
            audit(store, name, Action.FORGET, detail)
    else:
        deleted = answer["checkpoints_deleted"]
    click.echo(f"session {name!r} forgotten: {deleted} checkpoints deleted")


def restore_all(ctx: click.Context) -> None:
    """``sessions restore --all``: through the daemon, else every checkpointed session."""
    answer = _ask(ctx, "sessions.restore_all")
    if answer is not NOT_RUNNING:
        from yesman_recovery.cli.sessions_common import render_sessions

        if not answer:
            click.echo("the daemon watches no session")
            return
        output_console().print(render_sessions(answer))
        if any(not _settled(s) for s in answer):
            raise click.exceptions.Exit(1)
        return
    _restore_all_offline(ctx)


def _settled(session: dict[str, Any]) -> bool:
    """Healthy, paused, or left alone because the user ended its server on purpose."""
    from yesman_recovery.actors.server_ends import ENDED_LABEL

    state, detail = session.get("state"), str(session.get("detail") or "")
    return state in ("healthy", "paused") or detail.startswith(ENDED_LABEL)


def _restore_all_offline(ctx: click.Context) -> None:
    from yesman_recovery.actors.server_ends import closed_by_user
    from yesman_recovery.cli.sessions_common import audit_restore as _audit_restore
    from yesman_recovery.cli.sessions_common import snapshot as _snapshot
    from yesman_recovery.cli.sessions_common import tmux_client as _client
    from yesman_recovery.cli.storage_cmds import INTERNAL_SCOPE_PREFIX
    from yesman_recovery.config.build import program_policy, shell_dir
    from yesman_recovery.errors import TmuxError
    from yesman_recovery.labels import Outcome
    from yesman_recovery.tmux import restore_session
    from yesman_recovery.tmux.checkpoint import SessionCheckpoint

    config = load_config(ctx)
    client = _client(config)
    present = {s.name for s in _snapshot(client).sessions}
    failed = 0
    restored = 0
    with _offline_store(ctx) as store:
        scopes = sorted(
            s for s in store.checkpoints.sizes() if not s.startswith(INTERNAL_SCOPE_PREFIX)
        )
        for scope in scopes:
            if scope in present:
                continue
            checkpoint = store.checkpoints.latest_good(scope)
            if checkpoint is None:
                continue
            try:
                session = SessionCheckpoint.from_state(checkpoint.state).session
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                click.echo(f"{scope}: checkpoint {checkpoint.id} unusable: {exc}", err=True)
                failed += 1
                continue
            if session.is_empty or session.name in present:
                continue
            closed = closed_by_user(store.audit, session.name)
            if closed is not None:
                click.echo(f"{session.name}: not restored, {closed} (give its name to restore it)")
                continue
            try:
                result = restore_session(
                    client, session, program_policy(config, session.name),
                    shell_dir=shell_dir(config),
                )  # fmt: skip
            except TmuxError as exc:
                _audit_restore(store, session.name, checkpoint.id, outcome=Outcome.FAILED,
                               duration=None, why=str(exc))  # fmt: skip
                click.echo(f"{session.name}: restore failed: {exc}", err=True)
                failed += 1
                continue
            why = "; ".join(result.differences)
            _audit_restore(store, session.name, checkpoint.id,
                           outcome=Outcome.SUCCESS if result.ok else Outcome.FAILED,
                           duration=result.duration, why=why)  # fmt: skip
            restored += 1
            failed += not result.ok
            click.echo(
                f"{session.name}: restored from {checkpoint.id}: {'ok' if result.ok else why}"
            )
    if not restored and not failed:
        click.echo("nothing to restore: every checkpointed session is on the server")
    if failed:
        raise click.exceptions.Exit(1)


def _offline_store(ctx: click.Context) -> Any:
    from yesman_recovery.cli.sessions_common import open_store as _store

    existing_state_dir(ctx)
    return _store(ctx, load_config(ctx))
