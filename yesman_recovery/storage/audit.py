"""``store.audit``: the audit trail, one event per recovery action, kept in time order.

Keys are ``time_ns:u64be seq:u32be`` of the event's own time (``seq`` tells apart events of the
same nanosecond), so a time range is one seek. ``query`` returns events **newest first** (the
most recent are what an operator asks for, and ``limit`` keeps those); ``export_jsonl`` writes
**oldest first**, as a log reads. A corrupt event is skipped with a warning and counted in
``yesman_recovery_checkpoint_corruptions_total``; it never stops a query.

An action that takes time (a recovery) is recorded when it begins, not only when it ends, so a
daemon killed in between still leaves a trace: :meth:`AuditTrail.begin` writes the event with
outcome :data:`IN_PROGRESS` and marks it open (a key in the ``meta`` database, in the same
transaction); :meth:`AuditTrail.complete` rewrites the same event with its outcome and duration
and drops the mark. :meth:`AuditTrail.open_events` lists what was begun and never completed —
what a daemon that starts after a kill closes.

A daemon sets ``keep_refused``: an event the store refuses (a full disk) is held in memory and
written, with its own time, ahead of the next audit write that succeeds
(:mod:`~yesman_recovery.storage.audit_backlog`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import IO, Any, TypeVar

from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError, StoreError
from yesman_recovery.group_commit import GroupCommit
from yesman_recovery.labels import AuditKind
from yesman_recovery.storage import envelope
from yesman_recovery.storage.audit_backlog import Backlog, Held
from yesman_recovery.storage.context import NS, StoreContext
from yesman_recovery.storage.environment import Txn
from yesman_recovery.storage.keys import split_stamp, stamp_key
from yesman_recovery.storage.retention import RecordStat, RetentionPolicy, audit_records_to_drop

logger = logging.getLogger(__name__)

T = TypeVar("T")

IN_PROGRESS = "in_progress"
"""The outcome of an event begun and not yet completed."""
_OPEN_PREFIX = b"audit-open\0"  # meta key prefix: + event key, for events begun not completed

KNOWN_KINDS: tuple[str, ...] = tuple(kind.value for kind in AuditKind)
"""Event kinds yesman-recovery writes; ``audit --kind`` accepts these and any kind in the trail."""
_DELETE_BATCH = 5000  # events deleted per write transaction when pruning


@dataclass(frozen=True)
class AuditEvent:
    """One audited action: what happened to what, what was done and how it ended."""

    id: str
    time: float
    kind: str
    subject: str
    detail: str = ""
    action: str = ""
    outcome: str = ""
    duration: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (the ``export_jsonl`` line)."""
        return asdict(self)


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be a string, got {value!r}")
    return value


class AuditTrail:
    """Append and query audit events (``store.audit``); any thread may call any method."""

    def __init__(self, ctx: StoreContext) -> None:
        self._ctx = ctx
        self.keep_refused = False
        """True in a daemon: a write the store refuses (a full disk) is held in memory and
        written ahead of the next one that succeeds, instead of raising (see
        :mod:`~yesman_recovery.storage.audit_backlog`)."""
        self.backlog = Backlog()
        self._write_lock = threading.Lock()
        # Events appended by many threads at once (every session's recovery record after a
        # reboot) share one commit, one flush.
        self._group: GroupCommit[tuple[tuple[int, bytes], bool], bytes] = GroupCommit(
            lambda items: self._write(lambda txn: [self.put(txn, p, _open=o) for p, o in items])
        )

    @property
    def _db(self) -> Any:
        return self._ctx.env.dbs["audit"]

    def append(
        self,
        kind: str,
        subject: str,
        *,
        detail: str = "",
        action: str = "",
        outcome: str = "",
        duration: float | None = None,
        time: float | None = None,
        _open: bool = False,
    ) -> str:
        """Record an event (at ``time``, default now); its id. Durable once this returns."""
        prepared = self.prepare(kind, subject, detail=detail, action=action, outcome=outcome,
                                duration=duration, time=time)  # fmt: skip
        try:
            with self._ctx.measure("audit_append"):
                key = self._group.submit((prepared, _open))
        except StoreError as exc:
            if not self.keep_refused:
                raise
            time_ns, payload = prepared
            key = stamp_key(time_ns, self.backlog.next_seq())
            self.backlog.hold_event(key, json.loads(payload), open=_open)
            self._held(f"{kind} event of {subject!r}", exc)
        return key.hex()

    def prepare(
        self,
        kind: str,
        subject: str,
        *,
        detail: str = "",
        action: str = "",
        outcome: str = "",
        duration: float | None = None,
        time: float | None = None,
    ) -> tuple[int, bytes]:
        """Check an event as :meth:`append` does; ``(time_ns, payload)`` for :meth:`put`."""
        if not _check_text("kind", kind):
            raise ValueError("`kind` must be a non-empty string such as 'recovery'")
        for name, text in (("subject", subject), ("detail", detail), ("action", action),
                           ("outcome", outcome)):  # fmt: skip
            _check_text(name, text)
        if duration is not None and not isinstance(duration, int | float):
            raise ValueError(f"`duration` must be seconds as a number or None, got {duration!r}")
        time_ns = int(time * NS) if time is not None else self._ctx.now_ns()
        if time_ns < 0:
            raise ValueError(f"`time` must not be before 1970, got {time}")
        body = {"kind": kind, "subject": subject, "detail": detail, "action": action,
                "outcome": outcome, "duration": duration}  # fmt: skip
        return time_ns, envelope.dump_json(body)

    def put(self, txn: Txn, prepared: tuple[int, bytes], *, _open: bool = False) -> bytes:
        """Store a prepared event inside the write transaction ``txn``; its key.

        Lets another part of the store commit an event together with its own records (the
        journal writes a transaction's end and its audit event in one flush).
        """
        time_ns, payload = prepared
        db = self._db
        cursor = txn.cursor(db)
        seq = 0
        # the last key of this nanosecond, if any: seek past it and step back
        found = cursor.prev() if cursor.set_range(stamp_key(time_ns + 1, 0)) else cursor.last()
        if found:
            last_ns, last_seq = split_stamp(cursor.key())
            if last_ns == time_ns:
                seq = last_seq + 1
        key = stamp_key(time_ns, seq)
        txn.put(key, envelope.seal(key, payload), db=db)
        if _open:
            txn.put(_OPEN_PREFIX + key, b"", db=self._ctx.env.dbs["meta"])
        return key

    def begin(
        self, kind: str, subject: str, *, detail: str = "", action: str = "",
        time: float | None = None,
    ) -> str:  # fmt: skip
        """Record an action that starts now; its id, for :meth:`complete`. Durable on return."""
        return self.append(
            kind, subject, detail=detail, action=action, outcome=IN_PROGRESS, time=time, _open=True
        )

    def complete(
        self,
        event_id: str,
        *,
        outcome: str,
        detail: str | None = None,
        action: str | None = None,
        duration: float | None = None,
    ) -> None:
        """Give a begun event its outcome (and detail, action, duration) in place.

        Raises :class:`~yesman_recovery.errors.RecordNotFoundError` if there is no such event
        (e.g. pruned), :class:`CorruptRecordError` if it is damaged.
        """
        fields: dict[str, Any] = {"outcome": _check_text("outcome", outcome), "duration": duration}
        if detail is not None:
            fields["detail"] = _check_text("detail", detail)
        if action is not None:
            fields["action"] = _check_text("action", action)
        key = bytes.fromhex(event_id)
        try:
            with self._ctx.measure("audit_complete"):
                self._write(lambda txn: self._complete_in(txn, key, fields))
        except (CorruptRecordError, RecordNotFoundError):
            raise
        except StoreError as exc:
            if not self.keep_refused:
                raise
            self.backlog.hold_completion(key, fields)
            self._held(f"completion of audit event {event_id}", exc)

    def flush(self) -> int:
        """Write the events and completions held since writes were refused; how many.

        Raises :class:`StoreError` (and keeps holding them) if the store still refuses.
        """
        held = len(self.backlog)
        if held:
            self._write(lambda txn: None)
        return held

    def _complete_in(self, txn: Txn, key: bytes, fields: dict[str, Any]) -> None:
        stored = txn.get(key, db=self._db)
        if stored is None:
            raise RecordNotFoundError(f"no audit event {key.hex()} to complete")
        body = envelope.decode(key, stored, f"audit event {key.hex()}", self._ctx.max_state_size)
        if not isinstance(body, dict):
            raise CorruptRecordError(f"record audit event {key.hex()} is corrupt")
        body.update(fields)
        txn.put(key, envelope.seal(key, envelope.dump_json(body)), db=self._db)
        txn.delete(_OPEN_PREFIX + key, db=self._ctx.env.dbs["meta"])

    def _write(self, work: Callable[[Txn], T]) -> T:
        """Commit ``work`` with everything held written first, in the same transaction.

        One audit write at a time in this process (LMDB takes one writer at a time anyway): a
        completion must never look for its event while another thread is writing it.
        """
        with self._write_lock:
            held = self.backlog.take() if len(self.backlog) else []
            if not held:
                return self._ctx.env.write(work)

            def with_held(txn: Txn) -> T:
                for item in held:
                    self._put_held(txn, item)
                return work(txn)

            try:
                result = self._ctx.env.write(with_held)
            except BaseException:
                self.backlog.give_back(held)
                raise
        logger.warning("wrote %d audit write(s) held while the store refused writes", len(held))
        return result

    def _put_held(self, txn: Txn, held: Held) -> None:
        if held.body is not None:
            txn.put(held.key, envelope.seal(held.key, envelope.dump_json(held.body)), db=self._db)
            if held.open:
                txn.put(_OPEN_PREFIX + held.key, b"", db=self._ctx.env.dbs["meta"])
            return
        try:
            self._complete_in(txn, held.key, held.completion)
        except (CorruptRecordError, RecordNotFoundError) as exc:  # pruned or damaged meanwhile
            logger.warning("held completion of audit event %s dropped: %s", held.key.hex(), exc)

    def _held(self, what: str, exc: StoreError) -> None:
        logger.error(
            "audit trail: %s held in memory until the store takes writes again (%d held): %s",
            what, len(self.backlog), exc,
        )  # fmt: skip

    def open_events(self) -> list[AuditEvent]:
        """Events begun and never completed, oldest first (a corrupt one is skipped)."""
        meta = self._ctx.env.dbs["meta"]
        found: list[AuditEvent] = []
        with self._ctx.env.read() as txn:
            cursor = txn.cursor(meta)
            ok = cursor.set_range(_OPEN_PREFIX)
            while ok and cursor.key().startswith(_OPEN_PREFIX):
                key = cursor.key()[len(_OPEN_PREFIX) :]
                stored = txn.get(key, db=self._db)
                event = None if stored is None else self._decode(key, stored)
                if event is not None:
                    found.append(event)
                ok = cursor.next()
        return found

    def _events(
        self, since: float | None, until: float | None
    ) -> Generator[AuditEvent, None, None]:
        """Events with ``since <= time <= until``, newest first."""
        low = stamp_key(int(since * NS), 0) if since is not None else b""
        with self._ctx.env.read() as txn:
            cursor = txn.cursor(self._db)
            if until is None:
                found = cursor.last()
            else:
                found = cursor.prev() if cursor.set_range(
                    stamp_key(int(until * NS) + 1, 0)) else cursor.last()  # fmt: skip
            while found:
                key = cursor.key()
                if key < low:
                    return
                event = self._decode(key, cursor.value())
                if event is not None:
                    yield event
                found = cursor.prev()

    def _decode(self, key: bytes, stored: bytes) -> AuditEvent | None:
        try:
            body = envelope.decode(
                key, stored, f"audit event {key.hex()}", self._ctx.max_state_size
            )
            if not isinstance(body, dict):
                raise CorruptRecordError(f"record audit event {key.hex()} is corrupt: not an event")
            time_ns, _seq = split_stamp(key)
            return AuditEvent(
                key.hex(), time_ns / NS, body["kind"], body["subject"], body["detail"],
                body["action"], body["outcome"], body["duration"],
            )  # fmt: skip
        except (CorruptRecordError, KeyError) as exc:
            if self._ctx.found_corrupt(key):
                logger.warning("skipping corrupt audit event %s: %s", key.hex(), exc)
            return None

    def query(
        self,
        since: float | None = None,
        until: float | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events between ``since`` and ``until`` (wall seconds, inclusive), newest first.

        ``kind`` and ``subject`` must match exactly; ``limit`` keeps the newest N.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"`limit` must not be negative, got {limit}")
        found: list[AuditEvent] = []
        if limit == 0:
            return found
        with self._ctx.measure("audit_query"), closing(self._events(since, until)) as events:
            for event in events:
                if (kind is None or event.kind == kind) and (
                    subject is None or event.subject == subject
                ):
                    found.append(event)
                    if limit is not None and len(found) >= limit:
                        break
        return found

    def export_jsonl(
        self,
        fp: IO[str],
        since: float | None = None,
        until: float | None = None,
        kind: str | None = None,
        subject: str | None = None,
    ) -> int:
        """Write matching events to ``fp`` as JSON lines, oldest first; the number written."""
        events = self.query(since, until, kind, subject)
        for event in reversed(events):
            fp.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        return len(events)

    def facets(self) -> tuple[set[str], set[str]]:
        """Every kind and every subject present in the trail (a full scan: for error messages)."""
        kinds: set[str] = set()
        subjects: set[str] = set()
        with closing(self._events(None, None)) as events:
            for event in events:
                kinds.add(event.kind)
                subjects.add(event.subject)
        return kinds, subjects

    def prune(self, retention: RetentionPolicy) -> int:
        """Drop the events the audit limits of ``retention`` do not keep; how many were dropped.

        The newest ``audit_keep_last`` events always stay (see
        :func:`~yesman_recovery.storage.retention.audit_records_to_drop`).
        """
        if retention.audit_max_age is None and retention.audit_max_bytes is None:
            return 0
        with self._ctx.env.read(buffers=True) as txn:
            cursor = txn.cursor(self._db)
            stats = [
                RecordStat(bytes(key), split_stamp(bytes(key))[0] / NS, len(value))
                for key, value in cursor
            ]
        drop = audit_records_to_drop(stats[::-1], retention, self._ctx.clock.time())
        db = self._db
        for start in range(0, len(drop), _DELETE_BATCH):
            batch = [record.key for record in drop[start : start + _DELETE_BATCH]]

            def work(txn: Txn, batch: list[bytes] = batch) -> None:
                for key in batch:
                    txn.delete(key, db=db)

            self._ctx.env.write(work)
        if drop:
            logger.info("audit retention dropped %d event(s)", len(drop))
        return len(drop)
