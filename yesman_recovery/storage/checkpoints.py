"""``store.checkpoints``: JSON states saved per scope (a tmux session), newest first.

Records live in the ``checkpoints`` database under ``scope \\0 time_ns seq`` (see
:mod:`~yesman_recovery.storage.keys`); the value is an envelope around
``{"metadata": ..., "state": ...}``. A record's time is the one in its key, so listing needs no
decoding. Any thread may call any method; every call is one or a few short LMDB transactions.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError, StoreError
from yesman_recovery.group_commit import GroupCommit
from yesman_recovery.storage import envelope
from yesman_recovery.storage.audit import AuditTrail
from yesman_recovery.storage.checkpoint_write import (
    Prepared,
    newest_record,
    prepare,
    put_prepared,
)
from yesman_recovery.storage.context import NS, StoreContext
from yesman_recovery.storage.environment import Txn
from yesman_recovery.storage.keys import (
    checkpoint_id,
    make_key,
    parse_checkpoint_id,
    prefix,
    scope_bytes,
    scope_text,
    seek_newest,
    split_key,
    split_stamp,
)
from yesman_recovery.storage.retention import RecordStat, RetentionPolicy, records_to_drop

logger = logging.getLogger(__name__)

_DELETE_BATCH = 5000  # keys deleted per write transaction when pruning


@dataclass(frozen=True)
class CheckpointInfo:
    """One stored checkpoint, without its state: id, scope, wall time, stored bytes."""

    id: str
    scope: str
    time: float
    size: int


@dataclass(frozen=True)
class Checkpoint(CheckpointInfo):
    """One stored checkpoint with its decoded state and metadata."""

    state: Any
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ScopeUsage:
    """How many checkpoints a scope has and the bytes they take."""

    count: int
    bytes: int


@dataclass(frozen=True)
class PruneReport:
    """Checkpoints dropped (or that would be, in a dry run) by retention, and their bytes."""

    dropped: tuple[CheckpointInfo, ...]
    freed_bytes: int
    dry_run: bool


@dataclass(frozen=True)
class VerifyReport:
    """Records checked by ``verify`` and the corrupt ones as ``(id, reason)``."""

    checked: int
    corrupt: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        """True iff no record is corrupt."""
        return not self.corrupt


def _info(key: bytes, size: int) -> CheckpointInfo:
    raw_scope, time_ns, _seq = split_key(key)
    return CheckpointInfo(checkpoint_id(key), scope_text(raw_scope), time_ns / NS, size)


def _unseal(key: bytes, stored: bytes | memoryview, max_size: int) -> Checkpoint:
    """The checkpoint stored under ``key``; :class:`CorruptRecordError` naming its id if bad."""
    name = checkpoint_id(key)
    body = envelope.decode(key, stored, name, max_size)
    if not (isinstance(body, dict) and "state" in body and isinstance(body.get("metadata"), dict)):
        raise CorruptRecordError(f"record {name} is corrupt: not a checkpoint body")
    info = _info(key, len(stored))
    return Checkpoint(info.id, info.scope, info.time, info.size, body["state"], body["metadata"])


def _newest_first(cursor: Any, pre: bytes) -> Iterator[tuple[bytes, Any]]:
    """``(key, value)`` of one scope, newest first."""
    key = seek_newest(cursor, pre)
    while key is not None and key.startswith(pre):
        yield key, cursor.value()
        if not cursor.prev():
            return
        key = bytes(cursor.key())


class CheckpointStore:
    """Create, read, list, verify and prune checkpoints (``store.checkpoints``)."""

    def __init__(self, ctx: StoreContext, audit: AuditTrail) -> None:
        self._ctx = ctx
        self._audit = audit
        self._group: GroupCommit[Prepared, tuple[bytes, bool]] = GroupCommit(self._write_batch)

    @property
    def _db(self) -> Any:
        return self._ctx.env.dbs["checkpoints"]

    # --- writing ---------------------------------------------------------------------------

    def create(self, scope: str, state: Any, metadata: dict[str, Any] | None = None) -> str:
        """Save ``state`` for ``scope``; its id (the newest one's if the state is unchanged).

        Checkpoints created by many threads at once (the session actors after one poll) are
        written together in one transaction, one flush (:class:`GroupCommit`); each is still
        deduplicated against its scope's newest, checksummed and readable on its own.

        Raises ``ValueError`` naming the key path if ``state`` or ``metadata`` is not plain
        JSON, :class:`StoreError` if the disk is full (nothing is written then).
        """
        with self._ctx.measure("create") as outcome:
            key, written = self._group.submit(self._prepare(scope, state, metadata))
            if not written:
                outcome.value = "deduplicated"
            return checkpoint_id(key)

    def create_many(
        self, items: Sequence[tuple[str, Any, dict[str, Any] | None]]
    ) -> builtins.list[str]:
        """Save ``(scope, state, metadata)`` items in one transaction; their ids, in order.

        Each as :meth:`create` (deduplicated, checksummed, readable alone); a bad item raises
        ``ValueError`` before anything is written.
        """
        with self._ctx.measure("create"):
            prepared = [self._prepare(*item) for item in items]
            results = self._write_batch(prepared)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return [checkpoint_id(r[0]) for r in results if not isinstance(r, BaseException)]

    @property
    def commits(self) -> int:
        """Transactions :meth:`create` has committed in this process (benchmarks, tests)."""
        return self._group.batches

    def _prepare(self, scope: str, state: Any, metadata: dict[str, Any] | None) -> Prepared:
        return prepare(scope, state, metadata, self._ctx.max_state_size, self._ctx.now_ns())

    def _write_batch(
        self, batch: Sequence[Prepared]
    ) -> builtins.list[tuple[bytes, bool] | BaseException]:
        """Write prepared checkpoints in one transaction: ``(key, written)`` of each."""
        db = self._db

        def work(txn: Txn) -> builtins.list[tuple[bytes, bool, bytes]]:
            return [self._put(txn, db, item) for item in batch]

        try:
            done = self._ctx.env.write(work)
        except StoreError:
            raise
        except Exception:
            if len(batch) == 1:
                raise
            # One item the transaction could not take fails only itself: each on its own.
            return [self._one(item) for item in batch]
        for item, (_key, written, checksum) in zip(batch, done, strict=True):
            if written:
                self._ctx.env.newest_states[item.raw] = (checksum, item.digest)
        return [(key, written) for key, written, _ in done]

    def _one(self, item: Prepared) -> tuple[bytes, bool] | BaseException:
        try:
            result = self._write_batch([item])[0]
        except Exception as exc:
            return exc
        return result

    def _put(self, txn: Txn, db: Any, item: Prepared) -> tuple[bytes, bool, bytes]:
        newest, stored = newest_record(txn, db, item.raw)
        if newest is not None and self._newest_digest(item.raw, newest, stored) == item.digest:
            return newest, False, b""
        return put_prepared(txn, db, item, newest)

    def put_exported(
        self, scope: str, time_ns: int, seq: int, state: Any, metadata: dict[str, Any]
    ) -> str | None:
        """Store a checkpoint under its original stamp (an import); its id, None if it exists.

        Unlike :meth:`create` this keeps the record's time and never deduplicates; an existing
        record under the same id is left alone. Raises ``ValueError`` as :meth:`create` does.
        """
        with self._ctx.measure("import") as outcome:
            raw = scope_bytes(scope)
            envelope.check_json(state)
            envelope.check_json(metadata, "metadata")
            key = make_key(raw, time_ns, seq)
            payload = b'{"metadata":' + envelope.dump_json(metadata) + b',"state":'
            stored = envelope.seal(key, payload + envelope.dump_json(state) + b"}")
            db = self._db
            added: bool = self._ctx.env.write(
                lambda txn: txn.put(key, stored, db=db, overwrite=False)
            )
            if not added:
                outcome.value = "duplicate"
                return None
            return checkpoint_id(key)

    def _newest_digest(self, raw: bytes, key: bytes, stored: bytes) -> bytes | None:
        """The state digest of a scope's newest record, None if it is corrupt."""
        checksum = envelope.intact_checksum(key, stored)
        if checksum is None:
            return None  # a corrupt newest record is never a reason not to write
        known = self._ctx.env.newest_states.get(raw)
        if known is not None and known[0] == checksum:
            return known[1]
        try:
            previous = _unseal(key, stored, self._ctx.max_state_size)
        except CorruptRecordError:
            return None
        return envelope.state_digest(envelope.dump_json(previous.state))

    def delete(self, checkpoint: str) -> bool:
        """Delete one checkpoint by id; True iff it existed."""
        with self._ctx.measure("delete") as outcome:
            key = parse_checkpoint_id(checkpoint)
            db = self._db
            existed: bool = self._ctx.env.write(lambda txn: txn.delete(key, db=db))
            if not existed:
                outcome.value = "not_found"
            return existed

    # --- reading ---------------------------------------------------------------------------

    def get(self, checkpoint: str) -> Checkpoint:
        """The checkpoint with this id: state, metadata, time and size.

        Raises :class:`RecordNotFoundError` if there is none and :class:`CorruptRecordError`
        (naming the id) if its bytes fail their checksum; never returns a damaged state.
        """
        with self._ctx.measure("get"):
            return self._get(checkpoint)

    def restore(self, checkpoint: str) -> Any:
        """The state saved under this id (errors as :meth:`get`)."""
        with self._ctx.measure("restore"):
            return self._get(checkpoint).state

    def _get(self, checkpoint: str) -> Checkpoint:
        key = parse_checkpoint_id(checkpoint)
        with self._ctx.env.read() as txn:
            stored = txn.get(key, db=self._db)
        if stored is None:
            raise RecordNotFoundError(
                f"no checkpoint {checkpoint}: it was never created, or was deleted or pruned; "
                "see `yesman-recovery checkpoints list`"
            )
        try:
            return _unseal(key, stored, self._ctx.max_state_size)
        except CorruptRecordError:
            self._ctx.found_corrupt(key)
            raise

    def latest(self, scope: str) -> Checkpoint | None:
        """The newest checkpoint of ``scope``, or None; :class:`CorruptRecordError` if damaged."""
        with self._ctx.measure("latest"):
            pre = prefix(scope_bytes(scope))
            with self._ctx.env.read() as txn:
                cursor = txn.cursor(self._db)
                key = seek_newest(cursor, pre)
                if key is None:
                    return None
                stored = cursor.value()
            try:
                return _unseal(key, stored, self._ctx.max_state_size)
            except CorruptRecordError:
                self._ctx.found_corrupt(key)
                raise

    def latest_good(self, scope: str) -> Checkpoint | None:
        """The newest checkpoint of ``scope`` that reads back intact, or None.

        Walks back past corrupt records; each one is counted in
        ``yesman_recovery_checkpoint_corruptions_total`` and written to the audit trail (kind
        ``corruption``) once per process.
        """
        with self._ctx.measure("latest_good") as outcome:
            corrupt: builtins.list[tuple[bytes, str]] = []
            good: Checkpoint | None = None
            with self._ctx.env.read() as txn:
                for key, stored in _newest_first(txn.cursor(self._db), prefix(scope_bytes(scope))):
                    try:
                        good = _unseal(key, stored, self._ctx.max_state_size)
                        break
                    except CorruptRecordError as exc:
                        corrupt.append((key, str(exc)))
            for key, reason in corrupt:
                if self._ctx.found_corrupt(key):
                    logger.warning("%s", reason)
                    self._audit.append(
                        "corruption", checkpoint_id(key), detail=reason, action="skipped",
                        outcome=f"fell back to {good.id}" if good else "no intact checkpoint",
                    )  # fmt: skip
            if corrupt:
                outcome.value = "fell_back" if good else "corrupt"
            return good

    def list(self, scope: str | None = None, limit: int | None = 100) -> list[CheckpointInfo]:
        """Checkpoints newest first, of one scope or of all; at most ``limit`` (None: all)."""
        if limit is not None and limit < 0:
            raise ValueError(f"`limit` must not be negative, got {limit}")
        with self._ctx.measure("list"), self._ctx.env.read(buffers=True) as txn:
            cursor = txn.cursor(self._db)
            if scope is not None:
                found: builtins.list[CheckpointInfo] = []
                for key, stored in _newest_first(cursor, prefix(scope_bytes(scope))):
                    if limit is not None and len(found) >= limit:
                        break
                    found.append(_info(key, len(stored)))
                return found
            stamped = sorted(
                ((split_stamp(bytes(key)), bytes(key), len(value)) for key, value in cursor),
                reverse=True,
            )
            chosen = stamped if limit is None else stamped[:limit]
            return [_info(key, size) for _stamp, key, size in chosen]

    def sizes(self) -> dict[str, ScopeUsage]:
        """Count and stored bytes of each scope."""
        return {
            scope_text(raw): ScopeUsage(len(records), sum(r.size for r in records))
            for raw, records in self._by_scope().items()
        }

    def _by_scope(self) -> dict[bytes, builtins.list[RecordStat]]:
        """Every record's key, time and size, grouped by raw scope, oldest first."""
        groups: dict[bytes, builtins.list[RecordStat]] = {}
        with self._ctx.env.read(buffers=True) as txn:
            for raw_key, value in txn.cursor(self._db):
                key = bytes(raw_key)
                raw_scope, time_ns, _seq = split_key(key)
                groups.setdefault(raw_scope, []).append(RecordStat(key, time_ns / NS, len(value)))
        return groups

    # --- upkeep ----------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check every record's checksum and body; the corrupt ones named by id."""
        with self._ctx.measure("verify"):
            checked = 0
            corrupt: builtins.list[tuple[str, str]] = []
            with self._ctx.env.read(buffers=True) as txn:
                for raw_key, value in txn.cursor(self._db):
                    key = bytes(raw_key)
                    checked += 1
                    try:
                        _unseal(key, value, self._ctx.max_state_size)
                    except CorruptRecordError as exc:
                        corrupt.append((checkpoint_id(key), str(exc)))
                        self._ctx.found_corrupt(key)
            return VerifyReport(checked, tuple(corrupt))

    def prune(self, retention: RetentionPolicy, *, dry_run: bool = False) -> PruneReport:
        """Drop what ``retention`` does not keep (nothing with ``dry_run``); what was dropped.

        The newest checkpoint of every scope is always kept.
        """
        with self._ctx.measure("prune"):
            now = self._ctx.clock.time()
            drop: builtins.list[RecordStat] = []
            for records in self._by_scope().values():
                drop.extend(records_to_drop(records[::-1], retention, now))
            if not dry_run:
                db = self._db
                for start in range(0, len(drop), _DELETE_BATCH):
                    batch = [record.key for record in drop[start : start + _DELETE_BATCH]]

                    def work(txn: Txn, batch: builtins.list[bytes] = batch) -> None:
                        for key in batch:
                            txn.delete(key, db=db)

                    self._ctx.env.write(work)
            if drop:
                logger.info("retention %s %d checkpoint(s)", "would drop" if dry_run else "dropped",
                         len(drop))  # fmt: skip
            dropped = tuple(_info(record.key, record.size) for record in drop)
            return PruneReport(dropped, sum(record.size for record in drop), dry_run)
