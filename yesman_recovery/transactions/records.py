"""Reading and amending transactions in a store, with or without a running owner.

What ``transactions list/show`` show, and what ``retry``/``abandon`` write when no daemon runs:
these functions need only an open store, never the actions, so the command line can use them.
A transaction whose records are damaged is shown as parked with the damage as its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yesman_recovery.errors import CorruptRecordError, TransactionError
from yesman_recovery.labels import AuditKind
from yesman_recovery.storage import JournalRecord, Store
from yesman_recovery.transactions.protocol import (
    ABANDONED,
    PARKED,
    RETRY,
    ProtocolError,
    TransactionView,
    TxState,
    replay,
)

_STATE_OF_LAST = {
    "committed": TxState.COMMITTED,
    "compensated": TxState.COMPENSATED,
    "abandoned": TxState.ABANDONED,
    "parked": TxState.PARKED,
}


@dataclass(frozen=True)
class TransactionInfo:
    """One transaction as the journal holds it."""

    id: str
    name: str
    owner: str
    state: TxState
    started: float
    ended: float | None
    steps: int
    done: int
    undone: int
    reason: str | None
    records: tuple[JournalRecord, ...] = ()

    def to_json(self, *, with_records: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "state": self.state.value,
            "started": self.started,
            "ended": self.ended,
            "steps": self.steps,
            "done": self.done,
            "undone": self.undone,
            "reason": self.reason,
        }
        if with_records:
            out["records"] = [
                {"time": r.time, "kind": r.kind, "data": r.data, "terminal": r.terminal}
                for r in self.records
            ]
        return out


def read(store: Store, transaction: str) -> tuple[list[JournalRecord], TransactionView]:
    """The records and view of one transaction.

    Raises ``LookupError`` if the journal has no such transaction, :class:`CorruptRecordError`
    or :class:`ProtocolError` if its records cannot be trusted.
    """
    records = store.journal.records(transaction)
    if not records:
        raise LookupError(f"no transaction {transaction!r} in the journal of {store.path}")
    return records, replay(transaction, records)


def info(store: Store, transaction: str) -> TransactionInfo:
    """One transaction with every record; a damaged one comes back parked, without records.

    ``LookupError`` if the journal has no such transaction.
    """
    try:
        records, view = read(store, transaction)
    except (CorruptRecordError, ProtocolError) as exc:
        return TransactionInfo(transaction, "", "", TxState.PARKED, 0.0, None, 0, 0, 0, str(exc))
    return _from_view(view, tuple(records))


def _from_view(view: TransactionView, records: tuple[JournalRecord, ...]) -> TransactionInfo:
    return TransactionInfo(
        id=view.id,
        name=view.name,
        owner=view.owner,
        state=view.state,
        started=view.started,
        ended=view.ended,
        steps=len(view.steps),
        done=len(view.results),
        undone=len(view.undone),
        reason=view.reason or view.aborted,
        records=records,
    )


def list_transactions(store: Store, state: TxState | None = None) -> list[TransactionInfo]:
    """Every transaction in the journal, oldest first, optionally only those in ``state``."""
    out = []
    for summary in store.journal.summaries():
        last = summary.last
        if state is not None and last is not None:
            quick = _STATE_OF_LAST.get(last.kind, TxState.RUNNING)
            if quick is not state:
                continue  # the last record decides the state: no need to read the rest
        found = info(store, summary.transaction)
        if state is None or found.state is state:
            out.append(found)
    return out


def reopen(store: Store, transaction: str, *, by: str = "operator") -> TransactionView:
    """Append ``retry`` to a parked transaction: its owner finishes it (now, or at its next
    start). ``TransactionError`` if it is not parked."""
    view = _parked(store, transaction, "retry")
    store.journal.append(transaction, RETRY, {"by": by})
    return view


def abandon(store: Store, transaction: str, reason: str, *, by: str = "operator") -> str:
    """Give up on a parked transaction: append ``abandoned`` with ``reason`` and audit it.

    A transaction whose records are damaged cannot take another record: its records are
    deleted instead, after the audit event that says so. Returns what was done.
    """
    if not reason.strip():
        raise ValueError("`reason` must say why the transaction is abandoned")
    try:
        view = _parked(store, transaction, "abandon")
    except (CorruptRecordError, ProtocolError) as exc:
        store.audit.append(
            AuditKind.TRANSACTION, transaction, detail=f"{reason} (damaged journal: {exc}; records "
            "deleted)", action="abandon", outcome=ABANDONED,
        )  # fmt: skip
        store.journal.discard(transaction)
        return f"abandoned {transaction}; its damaged records were deleted"
    store.journal.append(transaction, ABANDONED, {"reason": reason, "by": by}, terminal=True)
    store.audit.append(
        AuditKind.TRANSACTION, transaction, detail=reason, action=view.name or "abandon",
        outcome=ABANDONED,
    )  # fmt: skip
    return f"abandoned {transaction}"


def _parked(store: Store, transaction: str, verb: str) -> TransactionView:
    _records, view = read(store, transaction)
    if view.state is not TxState.PARKED:
        raise TransactionError(
            f"cannot {verb} transaction {transaction}: it is {view.state.value}, not {PARKED}; "
            "only parked transactions can be retried or abandoned"
        )
    return view
