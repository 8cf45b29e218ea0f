"""``yesman-recovery transactions list/show/retry/abandon``: inspect and settle transactions.

``list`` and ``show`` read the journal of the state directory directly, daemon or not (LMDB
readers never block its writer, so they see what the daemon sees). ``retry`` and ``abandon``
act through the daemon's control channel when a daemon runs on that state directory, so a
retried transaction of its own is finished at once; without a daemon they write the record
into the store, and the transaction's owner finishes it when it next starts. Exit status: 0 on
success, 1 when the transaction is unknown or cannot be changed, 2 on bad arguments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from yesman_recovery.cli.common import common_options, fail, output_console, resolve_state_dir
from yesman_recovery.cli.storage_cmds import _open

if TYPE_CHECKING:
    from yesman_recovery.transactions import TransactionInfo

STATES = ("running", "committed", "compensated", "parked", "abandoned")


def _when(seconds: float | None) -> str:
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


@click.group("transactions")
def transactions_group() -> None:
    """Multi-step transactions: list, show, retry or abandon parked ones."""


@transactions_group.command("list")
@common_options
@click.option("--state", type=click.Choice(STATES), help="Only transactions in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def list_cmd(ctx: click.Context, state: str | None, as_json: bool) -> None:
    """List transactions, oldest first."""
    from yesman_recovery.transactions.protocol import TxState
    from yesman_recovery.transactions.records import list_transactions

    with _open(ctx) as store:
        found = list_transactions(store, TxState(state) if state else None) if store else []
    if as_json:
        click.echo(json.dumps([i.to_json() for i in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no transactions" + (f" {state}" if state else ""))
        return
    table = Table("id", "name", "owner", "state", "started", "steps", "reason")
    for item in found:
        steps = f"{item.done}/{item.steps} done" + (
            f", {item.undone} undone" if item.undone else ""
        )
        table.add_row(item.id, item.name, item.owner, item.state.value, _when(item.started),
                      steps, item.reason or "")  # fmt: skip
    output_console().print(table)


@transactions_group.command("show")
@common_options
@click.argument("transaction_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the transaction as JSON.")
@click.pass_context
def show_cmd(ctx: click.Context, transaction_id: str, as_json: bool) -> None:
    """Show one transaction and every journal record of it; exit 1 if unknown."""
    from yesman_recovery.transactions.records import info

    with _open(ctx) as store:
        if store is None:
            fail(f"no transaction {transaction_id}: the journal is empty")
        try:
            found = info(store, transaction_id)
        except LookupError as exc:
            fail(str(exc))
        except ValueError as exc:  # a malformed id
            raise click.BadParameter(str(exc), param_hint="ID") from None
    if as_json:
        click.echo(json.dumps(found.to_json(with_records=True), indent=2, ensure_ascii=False))
        return
    _print(found)


def _print(found: TransactionInfo) -> None:
    click.echo(f"id:       {found.id}\nname:     {found.name}\nowner:    {found.owner}")
    click.echo(f"state:    {found.state.value}")
    click.echo(f"started:  {_when(found.started)}")
    if found.ended:
        click.echo(f"ended:    {_when(found.ended)}")
    click.echo(f"steps:    {found.done}/{found.steps} done, {found.undone} undone")
    if found.reason:
        click.echo(f"reason:   {found.reason}")
    if not found.records:
        return
    table = Table("time", "kind", "data")
    for record in found.records:
        data = "" if record.data is None else json.dumps(record.data, ensure_ascii=False)
        table.add_row(_when(record.time), record.kind, data)
    output_console().print(table)


def _through_daemon(ctx: click.Context, command: str, args: dict[str, Any]) -> str | None:
    """The daemon's answer, or None when no daemon runs on the state directory."""
    from yesman_recovery.control import ControlError, DaemonNotRunning, call

    try:
        return str(call(resolve_state_dir(ctx), command, args, timeout=15.0))
    except DaemonNotRunning:
        return None
    except ControlError as exc:
        fail(str(exc))


@transactions_group.command("retry")
@common_options
@click.argument("transaction_id", metavar="ID")
@click.pass_context
def retry_cmd(ctx: click.Context, transaction_id: str) -> None:
    """Retry the compensation of a parked transaction."""
    answer = _through_daemon(ctx, "transactions.retry", {"id": transaction_id})
    if answer is None:
        from yesman_recovery.transactions.records import reopen

        _in_store(ctx, lambda store: reopen(store, transaction_id))
        answer = f"reopened {transaction_id}; its owner finishes it when it next starts"
    click.echo(answer)


@transactions_group.command("abandon")
@common_options
@click.argument("transaction_id", metavar="ID")
@click.option("--reason", required=True, help="Why it is abandoned (kept in the journal and "
              "the audit trail).")  # fmt: skip
@click.pass_context
def abandon_cmd(ctx: click.Context, transaction_id: str, reason: str) -> None:
    """Give up on a parked transaction: nothing more is run for it."""
    if not reason.strip():
        raise click.BadParameter("must say why", param_hint="--reason")
    answer = _through_daemon(ctx, "transactions.abandon", {"id": transaction_id, "reason": reason})
    if answer is None:
        from yesman_recovery.transactions.records import abandon

        answer = _in_store(ctx, lambda store: abandon(store, transaction_id, reason))
    click.echo(answer)


def _in_store(ctx: click.Context, change: Any) -> str:
    from yesman_recovery.errors import TransactionError

    with _open(ctx) as store:
        if store is None:
            fail(f"no transaction {ctx.params.get('transaction_id')}: the journal is empty")
        try:
            return str(change(store))
        except (LookupError, TransactionError, ValueError) as exc:
            fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
