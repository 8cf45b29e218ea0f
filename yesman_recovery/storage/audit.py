"""``store.audit``: the audit trail, one event per recovery action, kept in time order.

Keys are ``time_ns:u64be seq:u32be`` of the event's own time (``seq`` tells apart events of the
same nanosecond), so a time range is one seek. ``query`` returns events **newest first** (the
most recent are what an operator asks for, and ``limit`` keeps those); ``export_jsonl`` writes
**oldest first**, as a log reads. A corrupt event is skipped with a warning and counted in
``yesman_recovery_checkpoint_corruptions_total``; it never stops a query.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import IO, Any

from yesman_recovery.errors import CorruptRecordError
from yesman_recovery.storage import envelope
from yesman_recovery.storage.context import NS, StoreContext
from yesman_recovery.storage.environment import Txn
from yesman_recovery.storage.keys import split_stamp, stamp_key

logger = logging.getLogger(__name__)


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
    ) -> str:
        """Record an event (at ``time``, default now); its id. Durable once this returns."""
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
        payload = envelope.dump_json(body)
        db = self._db

        def work(txn: Txn) -> bytes:
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
            return key

        with self._ctx.measure("audit_append"):
            key = self._ctx.env.write(work)
        return key.hex()

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
            body = envelope.decode(key, stored, f"audit event {key.hex()}")
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
