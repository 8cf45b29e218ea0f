"""``yesman-recovery checkpoints ...`` and ``yesman-recovery audit``: read the store.

These commands open the store of the resolved state directory themselves, so they work with or
without a running daemon: LMDB readers never block its writer, and readers take no lock. A
missing or unreadable state directory exits 1 naming it; one without a store yet reads as empty
and says so (nothing is created by looking). Exit status: 0 on success, 1 when ``verify`` finds
corrupt records or the store cannot be read, 2 on bad arguments (an unknown ``--kind``).

JSON output follows one convention: ``--json`` prints one JSON document (an array for lists),
``--jsonl`` prints lists as JSON lines, one object each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import click

from yesman_recovery.cli.common import (
    common_options,
    config_path,
    echo_json_list,
    existing_state_dir,
    fail,
    json_lines_option,
    load_config,
    output_console,
)
from yesman_recovery.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from yesman_recovery.storage import AuditEvent, CheckpointInfo, Store

INTERNAL_SCOPE_PREFIX = "yesman-recovery:"
"""Scopes the daemon keeps for itself (e.g. the adopted-session list); ``:`` is not allowed in a
tmux session name, so no session's scope starts like this. Hidden unless asked for."""


def _table(*columns: str) -> Any:
    from rich.table import Table  # imported on use: the JSON outputs never need rich

    return Table(*columns)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"


@contextmanager
def _open(ctx: click.Context) -> Iterator[Store | None]:
    """The store of the state directory, or None if there is none yet; exits 1 if unusable."""
    from yesman_recovery.errors import StoreError
    from yesman_recovery.storage import open_store

    state_dir = existing_state_dir(ctx)
    if not (state_dir / "data.mdb").exists():
        yield None
        return
    try:
        # Durability and the state size limit only come from a configuration given explicitly:
        # a reader need not parse the default one.
        store = open_store(state_dir, durability=_durability(ctx), max_state_size=_max_size(ctx))
    except StoreError as exc:
        fail(str(exc))
    try:
        with store:
            yield store
    except StoreError as exc:  # e.g. a full disk while pruning
        fail(str(exc))


def _durability(ctx: click.Context) -> Literal["durable", "fast"]:
    return load_config(ctx).storage.durability if config_path(ctx) is not None else "durable"


def _max_size(ctx: click.Context) -> int:
    if config_path(ctx) is None:
        from yesman_recovery.storage.envelope import DEFAULT_MAX_STATE_SIZE

        return DEFAULT_MAX_STATE_SIZE
    return load_config(ctx).storage.max_state_size


def _info_json(info: CheckpointInfo) -> dict[str, Any]:
    return {"id": info.id, "scope": info.scope, "time": info.time, "size": info.size}


def require_scopes(ctx: click.Context, store: Store | None, scopes: Sequence[str]) -> None:
    """Exit 1 naming the scopes that hold checkpoints when one of ``scopes`` holds none: a
    reader given a name that is not there says so, rather than "nothing"."""
    known = store.checkpoints.sizes() if store is not None else {}
    missing = [s for s in scopes if s not in known]
    if not missing:
        return
    listed = ", ".join(s for s in sorted(known) if not s.startswith(INTERNAL_SCOPE_PREFIX))
    fail(
        f"no checkpoints of {missing[0]!r} in {existing_state_dir(ctx)}; scopes with "
        f"checkpoints: {listed or 'none'}"
    )


def _empty_note(ctx: click.Context, what: str, store: Store | None) -> str:
    state_dir = existing_state_dir(ctx)
    if store is None:
        return f"{what} in {state_dir}: it holds no store yet (no daemon has written there)"
    return f"{what} in {state_dir}"


@click.group(
    "checkpoints",
    cls=LazyGroup,
    lazy={
        "export": "yesman_recovery.cli.transfer_cmds:export",
        "import": "yesman_recovery.cli.transfer_cmds:import_",
    },
)
def checkpoints() -> None:
    """Stored checkpoints: list, show, verify, prune, export and import them."""


@checkpoints.command("list")
@common_options
@click.argument("scope", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show at most N checkpoints, the newest.")  # fmt: skip
@click.option("--all", "show_all", is_flag=True,
              help="Also show the daemon's internal scopes (yesman-recovery:...).")  # fmt: skip
@json_lines_option
@click.pass_context
def list_checkpoints(
    ctx: click.Context,
    *,
    scope: str | None,
    limit: int,
    show_all: bool,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """List checkpoints newest first, of one SCOPE (tmux session) or of all."""
    with _open(ctx) as store:
        if scope is not None:
            require_scopes(ctx, store, [scope])
        if store is None:
            found: list[CheckpointInfo] = []
        elif scope is not None or show_all:
            found = store.checkpoints.list(scope, limit=limit)
        else:
            everything = store.checkpoints.list(None, limit=None)
            found = [i for i in everything if not i.scope.startswith(INTERNAL_SCOPE_PREFIX)]
            found = found[:limit]
        note = _empty_note(ctx, "no checkpoints" + (f" of {scope!r}" if scope else ""), store)
    if as_json or as_jsonl:
        echo_json_list([_info_json(info) for info in found], jsonl=as_jsonl)
        return
    if not found:
        click.echo(note)
        return
    table = _table("id", "scope", "time", "size")
    for info in found:
        table.add_row(info.id, info.scope, _when(info.time), _size(info.size))
    output_console().print(table)


def _checkpoint_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from yesman_recovery.storage.keys import parse_checkpoint_id

    try:
        parse_checkpoint_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@checkpoints.command("show")
@common_options
@click.argument("checkpoint_id", metavar="ID", callback=_checkpoint_id)
@click.option("--json", "as_json", is_flag=True, help="Print the checkpoint as JSON.")
@click.pass_context
def show(ctx: click.Context, checkpoint_id: str, as_json: bool) -> None:
    """Show one checkpoint: its time, size, metadata and state; exit 1 if missing or corrupt."""
    from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError

    with _open(ctx) as store:
        if store is None:
            fail(f"no checkpoint {checkpoint_id}: the store is empty")
        try:
            found = store.checkpoints.get(checkpoint_id)
        except (RecordNotFoundError, CorruptRecordError) as exc:
            fail(str(exc))
    document = _info_json(found) | {"metadata": found.metadata, "state": found.state}
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    click.echo(f"id:       {found.id}\nscope:    {found.scope}\ntime:     {_when(found.time)}")
    click.echo(f"size:     {_size(found.size)}")
    click.echo("metadata: " + json.dumps(found.metadata, ensure_ascii=False))
    click.echo("state:\n" + json.dumps(found.state, indent=2, ensure_ascii=False))


@checkpoints.command("verify")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> None:
    """Check every checkpoint's checksum; exit 1 and name the corrupt ones if any."""
    with _open(ctx) as store:
        report = store.checkpoints.verify() if store else None
    checked, corrupt = (report.checked, report.corrupt) if report else (0, ())
    if as_json:
        click.echo(json.dumps({"checked": checked, "corrupt": [
            {"id": ident, "reason": reason} for ident, reason in corrupt
        ]}, indent=2))  # fmt: skip
    elif corrupt:
        click.echo(f"{len(corrupt)} of {checked} checkpoints are corrupt:")
        for ident, reason in corrupt:
            click.echo(f"{ident}\t{reason}")
    else:
        click.echo(f"all {checked} checkpoints are intact")
    if corrupt:
        raise click.exceptions.Exit(1)


@checkpoints.command("prune")
@common_options
@click.option("--dry-run", is_flag=True, help="Show what retention would drop; drop nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the dropped checkpoints as JSON.")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Drop checkpoints the configured retention ([storage.retention]) does not keep."""
    retention = load_config(ctx).storage.retention
    with _open(ctx) as store:
        if store is None:
            dropped: Sequence[CheckpointInfo] = ()
            freed = 0
        else:
            report = store.checkpoints.prune(retention, dry_run=dry_run)
            dropped, freed = report.dropped, report.freed_bytes
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "freed_bytes": freed,
                               "dropped": [_info_json(i) for i in dropped]}, indent=2,
                              ensure_ascii=False))  # fmt: skip
        return
    verb = "would drop" if dry_run else "dropped"
    click.echo(f"{verb} {len(dropped)} checkpoint(s), {_size(freed)}")
    if dry_run:
        for info in dropped:
            click.echo(f"{info.id}\t{info.scope}\t{_when(info.time)}")


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from yesman_recovery.config.units import parse_duration

    try:
        return time.time() - parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("audit")
@common_options
@click.option("--since", metavar="DURATION", callback=_since,
              help="Only events of the last DURATION (e.g. 30m, 1h, 7d).")  # fmt: skip
@click.option("--kind", "-k", metavar="K",
              help="Only events of this kind (recovery, session, supervisor, ...).")  # fmt: skip
@click.option("--subject", "-s", metavar="S",
              help="Only events about this subject (a session name, root, ...).")  # fmt: skip
@click.option("--limit", "-n", type=click.IntRange(min=1), default=200, show_default=True,
              help="Show at most N events, the newest.")  # fmt: skip
@json_lines_option
@click.pass_context
def audit(
    ctx: click.Context,
    *,
    since: float | None,
    kind: str | None,
    subject: str | None,
    limit: int,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """Show the audit trail of recoveries, oldest first (the newest N when limited).

    An unknown --kind or a --subject the trail has never mentioned is an error (exit 2) that
    lists the known values, so a typo never reads as "nothing happened".
    """
    with _open(ctx) as store:
        events: list[AuditEvent] = (
            store.audit.query(since=since, kind=kind, subject=subject, limit=limit) if store else []
        )
        if not events and (kind is not None or subject is not None):
            _check_filters(store, kind, subject)
        note = _empty_note(ctx, "no audit events", store)
    events.reverse()
    if as_json or as_jsonl:
        echo_json_list([event.to_json() for event in events], jsonl=as_jsonl)
        return
    if not events:
        click.echo(note)
        return
    table = _table("time", "kind", "subject", "action", "outcome", "duration", "detail")
    for event in events:
        duration = f"{event.duration:.3f} s" if event.duration is not None else ""
        table.add_row(_when(event.time), event.kind, event.subject, event.action, event.outcome,
                      duration, event.detail)  # fmt: skip
    output_console().print(table)


def _check_filters(store: Store | None, kind: str | None, subject: str | None) -> None:
    """Exit 2 when ``kind`` is unknown or ``subject`` was never mentioned; the known values."""
    from yesman_recovery.storage.audit import KNOWN_KINDS

    kinds, subjects = store.audit.facets() if store is not None else (set(), set())
    if kind is not None and kind not in kinds | set(KNOWN_KINDS):
        known = ", ".join(sorted(kinds | set(KNOWN_KINDS)))
        raise click.BadParameter(
            f"unknown kind {kind!r}; known kinds: {known}", param_hint="--kind"
        )
    if subject is not None and subject not in subjects:
        shown = sorted(subjects)
        listed = ", ".join(shown[:20]) + (f" and {len(shown) - 20} more" if len(shown) > 20 else "")
        raise click.BadParameter(
            f"no audit event is about {subject!r}; subjects in the trail: {listed or 'none'}",
            param_hint="--subject",
        )
