"""``checkpoints export`` and ``checkpoints import``: move a host's checkpoints to another host.

::

    old$ yesman-recovery checkpoints export > host.jsonl        # or: -o host.jsonl, --latest
    new$ yesman-recovery checkpoints import host.jsonl
    new$ yesman-recovery sessions restore dev

The format and its checks are :mod:`yesman_recovery.storage.transfer`'s. Export reads (no lock,
a daemon may run); import writes into the store, created if needed, also while a daemon runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from yesman_recovery.cli.common import (
    common_options,
    existing_state_dir,
    fail,
    load_config,
    resolve_state_dir,
)
from yesman_recovery.cli.storage_cmds import _open, _since, require_scopes

MAX_LISTED = 20
"""Refused lines printed one by one; more are counted."""


@click.command("export")
@common_options
@click.argument("scopes", nargs=-1, metavar="[SCOPE]...")
@click.option("--since", metavar="DURATION", callback=_since,
              help="Only checkpoints of the last DURATION (e.g. 1h, 7d).")  # fmt: skip
@click.option("--latest", is_flag=True, help="Only the newest intact checkpoint of each scope.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (created 0600) instead of stdout.")  # fmt: skip
@click.pass_context
def export(
    ctx: click.Context,
    scopes: tuple[str, ...],
    since: float | None,
    latest: bool,
    output: Path | None,
) -> None:
    """Write checkpoints as JSON lines with checksums (all scopes, or the SCOPEs given).

    Corrupt checkpoints are skipped and named on stderr (exit 1 then, after writing the rest).
    """
    from yesman_recovery.storage.transfer import export_records

    skipped: list[str] = []
    written = 0
    with _open(ctx) as store:
        if store is None:
            fail(f"nothing to export: {existing_state_dir(ctx)} holds no store yet")
        require_scopes(ctx, store, scopes)
        sink: IO[str] = sys.stdout if output is None else _private_file(output)
        try:
            for line, problem in export_records(store, scopes, since, latest=latest):
                if problem is not None:
                    skipped.append(problem)
                    continue
                sink.write(line + "\n")
                written += 1
        finally:
            if output is not None:
                sink.close()
    count = written - 1  # the header line
    where = f" to {output}" if output is not None else ""
    click.echo(f"exported {count} checkpoint(s){where}", err=True)
    for problem in skipped:
        click.echo(f"yesman-recovery: skipped: {problem}", err=True)
    if skipped:
        raise click.exceptions.Exit(1)


def _private_file(path: Path) -> IO[str]:
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    return open(fd, "w", encoding="utf-8")  # closed by the caller


@click.command("import")
@common_options
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_context
def import_(ctx: click.Context, file: IO[str]) -> None:
    """Verify FILE (from `checkpoints export`, or - for stdin) and store its checkpoints.

    Nothing is stored when a line is corrupt; checkpoints already in the store (or repeated in
    FILE) are refused. Refused lines are named with their numbers; exit 1 if any was refused.
    """
    from yesman_recovery.errors import StoreError
    from yesman_recovery.storage import open_store
    from yesman_recovery.storage.transfer import import_records

    state_dir = resolve_state_dir(ctx)
    try:
        store = open_store(state_dir, durability=load_config(ctx).storage.durability)
    except StoreError as exc:
        fail(f"cannot open the store in {state_dir}: {exc}")
    with store:
        try:
            report = import_records(store, file)
        except StoreError as exc:
            fail(f"import into {state_dir} failed: {exc}")
    name = getattr(file, "name", "FILE")
    if report.corrupt:
        click.echo(f"yesman-recovery: {name} is corrupt; nothing was imported:", err=True)
        _list(report.corrupt)
        raise click.exceptions.Exit(1)
    click.echo(f"imported {len(report.imported)} checkpoint(s) into {state_dir}")
    if report.duplicates:
        click.echo(f"refused {len(report.duplicates)} duplicate(s):", err=True)
        _list(report.duplicates)
        raise click.exceptions.Exit(1)


def _list(problems: list[tuple[int, str]]) -> None:
    for number, reason in problems[:MAX_LISTED]:
        where = f"line {number}" if number else "the file"
        click.echo(f"  {where}: {reason}", err=True)
    if len(problems) > MAX_LISTED:
        click.echo(f"  ... and {len(problems) - MAX_LISTED} more", err=True)
