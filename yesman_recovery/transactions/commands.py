"""The ``transactions.*`` commands of the daemon's control channel.

``transactions list/show`` read the store (the daemon's answer equals what the CLI reads
itself); ``retry`` and ``abandon`` act through the daemon's :class:`Transactions`, so a retried
transaction of the daemon's own runs at once. Refusals are ``ValueError``/``LookupError`` with
a message for the operator, as the channel expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from yesman_recovery.errors import TransactionError
from yesman_recovery.transactions.protocol import TxState

if TYPE_CHECKING:
    from yesman_recovery.transactions.service import Transactions


class CommandRegistry(Protocol):
    def register(self, command: str, handler: Callable[[dict[str, Any]], Any]) -> None: ...


def register_transaction_commands(
    control: CommandRegistry, service: Callable[[], Transactions | None]
) -> None:
    """Register ``transactions.{list,show,retry,abandon}``; ``service`` returns the running
    service (None before the daemon's tree started)."""

    def running() -> Transactions:
        found = service()
        if found is None:
            raise LookupError("the daemon's transactions are not running yet; try again")
        return found

    def text(args: dict[str, Any], key: str) -> str:
        value = args.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{key}` must be a non-empty string")
        return value

    def list_(args: dict[str, Any]) -> Any:
        raw = args.get("state")
        try:
            state = TxState(raw) if raw else None
        except ValueError:
            known = ", ".join(s.value for s in TxState)
            raise ValueError(f"unknown state {raw!r}; use one of {known}") from None
        return [found.to_json() for found in running().list(state)]

    def show(args: dict[str, Any]) -> Any:
        return running().get(text(args, "id")).to_json(with_records=True)

    def retry(args: dict[str, Any]) -> Any:
        try:
            return running().retry(text(args, "id"))
        except TransactionError as exc:
            raise ValueError(str(exc)) from None

    def abandon(args: dict[str, Any]) -> Any:
        try:
            return running().abandon(text(args, "id"), text(args, "reason"))
        except TransactionError as exc:
            raise ValueError(str(exc)) from None

    control.register("transactions.list", list_)
    control.register("transactions.show", show)
    control.register("transactions.retry", retry)
    control.register("transactions.abandon", abandon)
