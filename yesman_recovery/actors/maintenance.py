"""``StoreMaintenance``: the actor that keeps the checkpoint store within its retention.

Every ``interval`` seconds (a scheduler tick, never a sleep) it runs ``store.maintain``: clears
stale LMDB reader slots left by killed processes, prunes checkpoints by the retention policy and
refreshes the store's size gauges. A failing pass is logged and counted, and tried again at
the next interval.

Every second it also writes the audit events a refused write left held in memory (a full disk:
:mod:`~yesman_recovery.storage.audit_backlog`), so they reach the trail soon after space
returns even when nothing else is audited then; a tick with nothing held costs one message.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from yesman_recovery.errors import StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics
from yesman_recovery.storage.store import JOURNAL_KEEP_SECONDS
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic, Scheduler, default_scheduler

if TYPE_CHECKING:
    from yesman_recovery.storage import Store
    from yesman_recovery.storage.retention import RetentionPolicy

logger = logging.getLogger(__name__)

_MAINTAIN = "maintain"
_FLUSH = "flush"
FLUSH_INTERVAL = 1.0
"""Seconds between attempts to write the audit events held in memory."""


class StoreMaintenance(SupervisedActor):
    """Runs ``store.maintain(retention)`` at start and then every ``interval`` seconds."""

    def __init__(
        self,
        store: Store,
        retention: RetentionPolicy,
        interval: float = 60.0,
        scheduler: Scheduler | None = None,
        metrics: RecoveryMetrics | None = None,
        *,
        journal_keep: float = JOURNAL_KEEP_SECONDS,
    ) -> None:
        super().__init__()
        self._metrics = metrics if metrics is not None else default_metrics()
        self._store = store
        self._retention = retention
        self._interval = interval
        self._scheduler = scheduler if scheduler is not None else default_scheduler()
        self._periodic: Periodic | None = None
        self._flush: Periodic | None = None
        self._journal_keep = journal_keep  # [transactions] keep_finished

    def on_start(self) -> None:
        self._periodic = self._scheduler.every(self._interval, self.actor_ref, _MAINTAIN)
        self._flush = self._scheduler.every(FLUSH_INTERVAL, self.actor_ref, _FLUSH)

    def on_exit(self, reason: ExitReason) -> None:
        for periodic in (self._periodic, self._flush):
            if periodic is not None:
                periodic.cancel()

    def on_receive(self, message: Any) -> Any:
        if message == _FLUSH:
            if len(self._store.audit.backlog):
                try:
                    self._store.audit.flush()
                except StoreError as exc:  # still refused: held, tried again next second
                    logger.debug("held audit events not written yet: %s", exc)
            return None
        if message == _MAINTAIN:
            try:
                report = self._store.maintain(self._retention, journal_keep=self._journal_keep)
            except StoreError as exc:
                # Housekeeping that fails (a full disk, say) must not take the daemon down by
                # crash-looping under the root: log it, count it, and try again next interval.
                logger.error("store maintenance failed: %s", exc)
                self._metrics.checkpoints.labels("maintain", "error").inc()
                return None
            logger.debug("store maintenance: %s", report)
            return None
        return super().on_receive(message)
