"""Crash-safe storage on LMDB: checkpoints, transaction journal, audit trail.

``open_store(path)`` opens the store of a state directory; see ``docs/storage.md``.
"""

from __future__ import annotations

from yesman_recovery.storage.audit import AuditEvent, AuditTrail
from yesman_recovery.storage.checkpoints import (
    Checkpoint,
    CheckpointInfo,
    CheckpointStore,
    PruneReport,
    ScopeUsage,
    VerifyReport,
)
from yesman_recovery.storage.environment import Usage
from yesman_recovery.storage.journal import Journal, JournalRecord, TransactionSummary
from yesman_recovery.storage.paths import default_state_dir
from yesman_recovery.storage.retention import RetentionPolicy
from yesman_recovery.storage.store import MaintenanceReport, Store, open_store

__all__ = [
    "AuditEvent",
    "AuditTrail",
    "Checkpoint",
    "CheckpointInfo",
    "CheckpointStore",
    "Journal",
    "JournalRecord",
    "MaintenanceReport",
    "PruneReport",
    "RetentionPolicy",
    "ScopeUsage",
    "Store",
    "TransactionSummary",
    "Usage",
    "VerifyReport",
    "default_state_dir",
    "open_store",
]
