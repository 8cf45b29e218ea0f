"""Audit trail retention: age and size limits above a floor of newest events, applied by the
maintenance actor and configured in [storage.retention]."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from yesman_recovery.actors.maintenance import StoreMaintenance
from yesman_recovery.config import parse_config
from yesman_recovery.errors import ConfigError
from yesman_recovery.storage import RetentionPolicy, Store, open_store
from yesman_recovery.storage.retention import RecordStat, audit_records_to_drop
from yesman_recovery.supervisors import ManualClock, ManualScheduler

NOW = 1_000_000.0
DAY = 86400.0


def events(*ages: float, size: int = 100) -> list[RecordStat]:
    """Newest first."""
    return [RecordStat(bytes([i]), NOW - age, size) for i, age in enumerate(ages)]


def kept(recs: list[RecordStat], policy: RetentionPolicy) -> list[int]:
    dropped = {r.key for r in audit_records_to_drop(recs, policy, NOW)}
    return [r.key[0] for r in recs if r.key not in dropped]


def test_age_drops_old_events_but_never_below_the_floor() -> None:
    policy = RetentionPolicy(audit_max_age=DAY, audit_max_bytes=None, audit_keep_last=2)
    assert kept(events(10, 2 * DAY, 3 * DAY, 4 * DAY), policy) == [0, 1]
    everything_old = events(5 * DAY, 6 * DAY, 7 * DAY)
    assert kept(everything_old, policy) == [0, 1], "a quiet daemon keeps its last events"


def test_size_counts_from_the_newest() -> None:
    policy = RetentionPolicy(audit_max_age=None, audit_max_bytes=250, audit_keep_last=0)
    assert kept(events(1, 2, 3, 4), policy) == [0, 1]
    floor = RetentionPolicy(audit_max_age=None, audit_max_bytes=250, audit_keep_last=3)
    assert kept(events(1, 2, 3, 4), floor) == [0, 1, 2]


def test_defaults_keep_90_days_64_mib_and_a_floor_of_1000() -> None:
    policy = RetentionPolicy()
    assert (policy.audit_max_age, policy.audit_max_bytes, policy.audit_keep_last) == (
        90 * DAY,
        64 * 1024**2,
        1000,
    )
    with pytest.raises(ValueError, match="`audit_keep_last` must be at least 0"):
        RetentionPolicy(audit_keep_last=-1)


def test_store_prune_drops_old_events_and_keeps_the_floor(store: Store, clock: ManualClock) -> None:
    now = clock.time()
    for age in (40, 30, 20, 10):
        store.audit.append("recovery", "s", detail=f"{age} days ago", time=now - age * DAY)
    store.audit.append("recovery", "s", detail="now")
    policy = RetentionPolicy(audit_max_age=15 * DAY, audit_max_bytes=None, audit_keep_last=1)
    assert store.audit.prune(policy) == 3
    assert [e.detail for e in store.audit.query()] == ["now", "10 days ago"]
    report = store.maintain(RetentionPolicy(audit_max_age=DAY, audit_keep_last=1))
    assert report.audit_pruned == 1
    assert [e.detail for e in store.audit.query()] == ["now"]


def test_the_maintenance_actor_applies_audit_retention(tmp_path: Path) -> None:
    scheduler = ManualScheduler(ManualClock())
    with open_store(tmp_path / "state") as store:
        for i in range(5):
            store.audit.append("recovery", "s", detail=str(i), time=time.time() - 100 * DAY + i)
        store.audit.append("recovery", "s", detail="recent")
        policy = RetentionPolicy(audit_max_age=30 * DAY, audit_keep_last=2)
        ref = StoreMaintenance.start(store, policy, 60.0, scheduler)
        try:
            scheduler.advance(0)
            deadline = time.monotonic() + 10
            while len(store.audit.query()) != 2:
                assert time.monotonic() < deadline, "maintenance did not prune the audit trail"
                time.sleep(0.01)
            assert [e.detail for e in store.audit.query()] == ["recent", "4"]
        finally:
            ref.shutdown(5)


def test_the_limits_are_read_from_storage_retention() -> None:
    config = parse_config(
        {
            "storage": {
                "retention": {
                    "audit_max_age": "30d",
                    "audit_max_bytes": "8MiB",
                    "audit_keep_last": 50,
                }
            }
        }
    )
    retention = config.storage.retention
    assert (retention.audit_max_age, retention.audit_max_bytes, retention.audit_keep_last) == (
        30 * DAY,
        8 * 1024**2,
        50,
    )
    off = parse_config({"storage": {"retention": {"audit_max_age": False}}})
    assert off.storage.retention.audit_max_age is None
    with pytest.raises(ConfigError, match=r"storage\.retention\.audit_max_bytes = \"lots\""):
        parse_config({"storage": {"retention": {"audit_max_bytes": "lots"}}})
