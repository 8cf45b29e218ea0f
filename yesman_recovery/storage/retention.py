"""Retention of checkpoints and of the audit trail: which records to keep, as pure functions.

A policy has three independent limits per checkpoint scope; a record is dropped when any limit
drops it. The newest record of a scope is always kept, whatever its age or size: a session that
sat idle for longer than ``max_age`` must still come back as it last was.

The audit trail has two limits of its own, ``audit_max_age`` and ``audit_max_bytes`` (the whole
trail, newest events counted first), and a floor, ``audit_keep_last``: the newest events up to
that count are kept whatever their age or size, so a quiet daemon still shows its last
recoveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_KEEP_LAST = 1000
DEFAULT_MAX_AGE = 7 * 86400.0
DEFAULT_MAX_BYTES_PER_SCOPE = 100 * 1024**2
DEFAULT_AUDIT_MAX_AGE = 90 * 86400.0
DEFAULT_AUDIT_MAX_BYTES = 64 * 1024**2
DEFAULT_AUDIT_KEEP_LAST = 1000


@dataclass(frozen=True)
class RetentionPolicy:
    """How many checkpoints of each scope to keep; ``None`` disables a limit.

    ``keep_last``: the newest N of a scope; ``max_age``: seconds since creation;
    ``max_bytes_per_scope``: stored bytes of a scope, the newest records counted first.
    ``audit_max_age``, ``audit_max_bytes`` and ``audit_keep_last`` are the audit trail's:
    see :func:`audit_records_to_drop`.
    """

    keep_last: int | None = DEFAULT_KEEP_LAST
    max_age: float | None = DEFAULT_MAX_AGE
    max_bytes_per_scope: int | None = DEFAULT_MAX_BYTES_PER_SCOPE
    audit_max_age: float | None = DEFAULT_AUDIT_MAX_AGE
    audit_max_bytes: int | None = DEFAULT_AUDIT_MAX_BYTES
    audit_keep_last: int = DEFAULT_AUDIT_KEEP_LAST

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(
                f"`keep_last` must be at least 1 (or None for no limit), got {self.keep_last}"
            )
        if self.max_age is not None and self.max_age <= 0:
            raise ValueError(
                f"`max_age` must be a positive number of seconds (or None), got {self.max_age}"
            )
        if self.max_bytes_per_scope is not None and self.max_bytes_per_scope <= 0:
            raise ValueError(
                "`max_bytes_per_scope` must be a positive number of bytes (or None), "
                f"got {self.max_bytes_per_scope}"
            )
        if self.audit_max_age is not None and self.audit_max_age <= 0:
            raise ValueError(
                "`audit_max_age` must be a positive number of seconds (or None), "
                f"got {self.audit_max_age}"
            )
        if self.audit_max_bytes is not None and self.audit_max_bytes <= 0:
            raise ValueError(
                "`audit_max_bytes` must be a positive number of bytes (or None), "
                f"got {self.audit_max_bytes}"
            )
        if self.audit_keep_last < 0:
            raise ValueError(f"`audit_keep_last` must be at least 0, got {self.audit_keep_last}")


@dataclass(frozen=True)
class RecordStat:
    """What retention needs to know about one stored record: its key, time and stored size."""

    key: bytes
    time: float
    size: int


def records_to_drop(
    newest_first: Sequence[RecordStat], policy: RetentionPolicy, now: float
) -> list[RecordStat]:
    """The records of one scope that ``policy`` drops at wall time ``now``.

    ``newest_first`` must hold one scope's records, newest first. The first record is never
    dropped; after it, a record is dropped when it is past ``keep_last``, older than ``max_age``
    or would bring the scope's bytes (counted from the newest) above ``max_bytes_per_scope``.
    """
    drop: list[RecordStat] = []
    total = 0
    for index, record in enumerate(newest_first):
        total += record.size
        if index == 0:
            continue
        if (
            (policy.keep_last is not None and index >= policy.keep_last)
            or (policy.max_age is not None and now - record.time > policy.max_age)
            or (policy.max_bytes_per_scope is not None and total > policy.max_bytes_per_scope)
        ):
            drop.append(record)
    return drop


def audit_records_to_drop(
    newest_first: Sequence[RecordStat], policy: RetentionPolicy, now: float
) -> list[RecordStat]:
    """The audit events ``policy`` drops at wall time ``now``; ``newest_first``: the whole trail.

    The first ``audit_keep_last`` events are never dropped; after them an event is dropped when
    it is older than ``audit_max_age`` or would bring the trail's bytes (counted from the newest)
    above ``audit_max_bytes``.
    """
    drop: list[RecordStat] = []
    total = 0
    for index, record in enumerate(newest_first):
        total += record.size
        if index < policy.audit_keep_last:
            continue
        if (policy.audit_max_age is not None and now - record.time > policy.audit_max_age) or (
            policy.audit_max_bytes is not None and total > policy.audit_max_bytes
        ):
            drop.append(record)
    return drop
