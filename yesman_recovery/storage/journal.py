"""``store.journal``: the write-ahead journal of crash-safe transactions (sagas).

Each transaction is a scope of the ``journal`` database: its records are keyed
``transaction \\0 time_ns seq`` and so read back in the order they were appended. A record has a
``kind`` (free text chosen by the transaction engine: ``begin``, ``intent``, ``done``...), JSON
``data`` and a ``terminal`` flag; a transaction is finished once it has a terminal record and
accepts no record after it.

Every append is flushed to disk before it returns, also in ``fast`` durability: the journal is
written before side effects so that a crash can be undone, and that only works if it survives
the machine crashing too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from yesman_recovery.errors import CorruptRecordError, StoreError
from yesman_recovery.storage import envelope
from yesman_recovery.storage.audit import AuditTrail
from yesman_recovery.storage.context import NS, StoreContext
from yesman_recovery.storage.environment import Txn
from yesman_recovery.storage.keys import (
    make_key,
    next_stamp,
    prefix,
    scope_bytes,
    scope_text,
    seek_newest,
    split_key,
    split_stamp,
)


@dataclass(frozen=True)
class JournalRecord:
    """One journal record of a transaction."""

    transaction: str
    time: float
    kind: str
    data: Any
    terminal: bool


@dataclass(frozen=True)
class TransactionSummary:
    """One transaction as :meth:`Journal.summaries` lists it: its first time and last record."""

    transaction: str
    started: float
    last: JournalRecord | None  # None iff the last record is damaged
    records: int


def _record(key: bytes, stored: bytes, max_size: int) -> JournalRecord:
    raw_tx, time_ns, seq = split_key(key)
    name = f"journal {scope_text(raw_tx)!r} #{time_ns:x}.{seq}"
    body = envelope.decode(key, stored, name, max_size)
    if not (isinstance(body, dict) and {"kind", "data", "terminal"} <= body.keys()):
        raise CorruptRecordError(f"record {name} is corrupt: not a journal record")
    return JournalRecord(
        scope_text(raw_tx), time_ns / NS, body["kind"], body["data"], bool(body["terminal"])
    )


class Journal:
    """Append and read transaction records (``store.journal``); any thread may call it."""

    def __init__(self, ctx: StoreContext, audit: AuditTrail | None = None) -> None:
        self._ctx = ctx
        self._audit = audit

    @property
    def _db(self) -> Any:
        return self._ctx.env.dbs["journal"]

    def append(
        self, transaction: str, kind: str, data: Any = None, *, terminal: bool = False
    ) -> JournalRecord:
        """Append a record to ``transaction``; on disk when this returns.

        Raises ``ValueError`` for a bad id, kind or non-JSON ``data``, :class:`StoreError` if
        the transaction already has a terminal record, :class:`CorruptRecordError` if its last
        record is damaged.
        """
        return self.append_many([(transaction, kind, data, terminal)])[0]

    def append_many(
        self,
        entries: Sequence[tuple[str, str, Any, bool]],
        *,
        audit: Sequence[Mapping[str, Any]] = (),
    ) -> list[JournalRecord]:
        """Append ``(transaction, kind, data, terminal)`` records in one flushed commit.

        All or nothing: the same errors as :meth:`append` for any entry, and then none is
        stored. One flush for many records is what lets concurrent transactions share the
        cost of a durable commit (group commit). ``audit`` holds keyword arguments of
        :meth:`AuditTrail.append` for events stored in the same commit.
        """
        if audit and self._audit is None:
            raise StoreError("this journal has no audit trail to write events to")
        events = [self._audit.prepare(**event) for event in audit] if self._audit else []
        prepared = []
        for transaction, kind, data, terminal in entries:
            raw = scope_bytes(transaction, "transaction")
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"`kind` must be a non-empty string, got {kind!r}")
            envelope.check_json(data, "journal data")
            payload = envelope.dump_json({"kind": kind, "data": data, "terminal": bool(terminal)})
            envelope.check_size(payload, data, "journal data", self._ctx.max_state_size)
            prepared.append((transaction, raw, payload))
        now_ns = self._ctx.now_ns()
        db = self._db

        def work(txn: Txn) -> list[bytes]:
            cursor = txn.cursor(db)
            keys = []
            # Per transaction, the key and terminal flag of the record this batch wrote last:
            # a batch often holds consecutive records of one transaction, and those need no
            # second seek nor decode.
            written: dict[bytes, tuple[bytes, bool]] = {}
            for (transaction, raw, payload), entry in zip(prepared, entries, strict=True):
                if raw in written:
                    newest, ended = written[raw]
                    last_kind = "a terminal record"
                else:
                    found = seek_newest(cursor, prefix(raw))
                    newest, ended, last_kind = found or b"", False, ""
                    if found is not None:
                        last = _record(found, cursor.value(), self._ctx.max_state_size)
                        ended, last_kind = last.terminal, repr(last.kind)
                if ended:
                    raise StoreError(
                        f"transaction {transaction!r} already ended with {last_kind}; "
                        "records cannot follow a terminal record: use a new transaction id"
                    )
                key = make_key(raw, *next_stamp(now_ns, split_stamp(newest) if newest else None))
                txn.put(key, envelope.seal(key, payload), db=db)
                keys.append(key)
                written[raw] = (key, bool(entry[3]))
            for event in events:
                assert self._audit is not None
                self._audit.put(txn, event)
            return keys

        with self._ctx.measure("journal_append"):
            keys = self._ctx.env.write(work, force_sync=True)
        return [
            JournalRecord(transaction, split_stamp(key)[0] / NS, kind, data, bool(terminal))
            for key, (transaction, kind, data, terminal) in zip(keys, entries, strict=True)
        ]

    def records(self, transaction: str) -> list[JournalRecord]:
        """The records of ``transaction`` in append order ([] if it has none).

        Raises :class:`CorruptRecordError` naming the record if one is damaged.
        """
        pre = prefix(scope_bytes(transaction, "transaction"))
        found: list[JournalRecord] = []
        with self._ctx.env.read() as txn:
            cursor = txn.cursor(self._db)
            if not cursor.set_range(pre):
                return found
            for key, stored in cursor:
                if not key.startswith(pre):
                    break
                found.append(_record(key, stored, self._ctx.max_state_size))
        return found

    def _last_records(self) -> list[tuple[str, JournalRecord | None, list[bytes], float]]:
        """Per transaction, oldest first: id, last record (None if corrupt), keys, first time."""
        groups = []
        with self._ctx.env.read() as txn:
            cursor = txn.cursor(self._db)
            for raw_tx, items in groupby(cursor, key=lambda item: split_key(item[0])[0]):
                records = list(items)
                last_key, last_value = records[-1]
                try:
                    last: JournalRecord | None = _record(
                        last_key, last_value, self._ctx.max_state_size
                    )
                except CorruptRecordError:
                    self._ctx.found_corrupt(last_key)
                    last = None
                keys = [key for key, _value in records]
                groups.append((scope_text(raw_tx), last, keys, split_stamp(keys[0])[0] / NS))
        groups.sort(key=lambda group: group[3])
        return groups

    def unfinished(self) -> list[str]:
        """Transactions without a terminal record, oldest first (to finish after a crash).

        A transaction whose last record is damaged counts as unfinished.
        """
        return [tx for tx, last, _keys, _t in self._last_records() if not (last and last.terminal)]

    def summaries(self) -> list[TransactionSummary]:
        """Every transaction in the journal, oldest first, with its last record.

        Reads only each transaction's last record; ``last`` is None when it is damaged.
        """
        return [
            TransactionSummary(tx, started, last, len(keys))
            for tx, last, keys, started in self._last_records()
        ]

    def discard(self, transaction: str) -> int:
        """Delete every record of ``transaction``, finished or not; how many were deleted.

        For an operator giving up on a transaction whose records are damaged (nothing can be
        appended after a damaged last record); record why elsewhere (the audit trail) first.
        """
        pre = prefix(scope_bytes(transaction, "transaction"))
        db = self._db

        def work(txn: Txn) -> int:
            cursor = txn.cursor(db)
            count = 0
            if cursor.set_range(pre):
                while cursor.key().startswith(pre):
                    if not cursor.delete():
                        break
                    count += 1
            return count

        return self._ctx.env.write(work, force_sync=True)

    def compact(self, older_than: float = 0.0) -> int:
        """Delete finished transactions whose terminal record is ``older_than`` seconds old.

        Returns how many transactions were removed.
        """
        if older_than < 0:
            raise ValueError(f"`older_than` must not be negative, got {older_than}")
        cutoff = self._ctx.clock.time() - older_than
        doomed = [
            keys for _tx, last, keys, _t in self._last_records()
            if last is not None and last.terminal and last.time <= cutoff
        ]  # fmt: skip
        if doomed:
            db = self._db

            def work(txn: Txn) -> None:
                for keys in doomed:
                    for key in keys:
                        txn.delete(key, db=db)

            self._ctx.env.write(work)
        return len(doomed)
