"""``open_store`` and :class:`Store`: the checkpoint store, journal and audit trail of one
state directory.

Opening the same directory twice in one process shares one LMDB environment (reference
counted); each :class:`Store` has its own metrics and clock and closes independently. Both
opens must ask for the same durability. Many processes may open one directory at once: LMDB
readers never block the writer, so the CLI reads while the daemon writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics
from yesman_recovery.storage import environment
from yesman_recovery.storage.audit import AuditTrail
from yesman_recovery.storage.checkpoints import CheckpointStore, PruneReport
from yesman_recovery.storage.context import StoreContext
from yesman_recovery.storage.envelope import DEFAULT_MAX_STATE_SIZE
from yesman_recovery.storage.environment import DEFAULT_MAP_SIZE, Usage
from yesman_recovery.storage.journal import Journal
from yesman_recovery.storage.paths import default_state_dir
from yesman_recovery.storage.retention import RetentionPolicy

logger = logging.getLogger(__name__)

Durability = Literal["durable", "fast"]
DURABILITIES: tuple[Durability, ...] = ("durable", "fast")
JOURNAL_KEEP_SECONDS = 86400.0  # finished transactions stay readable for a day


@dataclass(frozen=True)
class MaintenanceReport:
    """What one ``maintain`` pass did."""

    stale_readers_cleared: int
    pruned: PruneReport
    transactions_compacted: int
    usage: Usage
    audit_pruned: int = 0


class Store:
    """An open store: :attr:`checkpoints`, :attr:`journal` and :attr:`audit` of one directory.

    Thread-safe. Use it as a context manager, or call :meth:`close`; using it after closing
    raises :class:`StoreError`.
    """

    def __init__(
        self,
        env: environment.Environment,
        metrics: RecoveryMetrics,
        clock: Clock,
        max_state_size: int = DEFAULT_MAX_STATE_SIZE,
    ):
        self._ctx = StoreContext(env, metrics, clock, max_state_size)
        self.path: Path = env.path
        self.durability: Durability = "durable" if env.durable else "fast"
        self.audit = AuditTrail(self._ctx)
        self.checkpoints = CheckpointStore(self._ctx, self.audit)
        self.journal = Journal(self._ctx, self.audit)

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r} durability={self.durability!r}>"

    def reader_check(self) -> int:
        """Clear reader slots left by dead processes; how many were cleared."""
        return self._ctx.env.reader_check()

    def usage(self) -> Usage:
        """Bytes per database, map size and used map bytes; also sets the store gauges."""
        usage = self._ctx.env.usage()
        metrics = self._ctx.metrics
        for name, size in usage.db_bytes.items():
            metrics.store_bytes.labels(name).set(size)
        metrics.store_map_bytes.set(usage.map_size)
        metrics.store_map_used_bytes.set(usage.map_used)
        return usage

    def maintain(
        self, retention: RetentionPolicy, *, journal_keep: float = JOURNAL_KEEP_SECONDS
    ) -> MaintenanceReport:
        """One upkeep pass: clear stale readers, prune checkpoints and the audit trail by
        ``retention``, drop finished transactions older than ``journal_keep`` seconds, refresh
        the size gauges.

        Runs in the caller's thread; takes as long as a prune (milliseconds per thousand
        records). Errors (a full disk) propagate as :class:`StoreError`.
        """
        cleared = self.reader_check()
        pruned = self.checkpoints.prune(retention)
        compacted = self.journal.compact(journal_keep)
        audit_pruned = self.audit.prune(retention)
        return MaintenanceReport(cleared, pruned, compacted, self.usage(), audit_pruned)

    def close(self) -> None:
        """Release this store; the environment closes with its last store. Idempotent."""
        env = self._ctx.detach()
        if env is not None:
            environment.release(env)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    path: str | Path | None = None,
    *,
    durability: Durability = "durable",
    metrics: RecoveryMetrics | None = None,
    clock: Clock = SYSTEM_CLOCK,
    map_size: int = DEFAULT_MAP_SIZE,
    max_state_size: int = DEFAULT_MAX_STATE_SIZE,
) -> Store:
    """Open (creating it if needed) the store in ``path``, default :func:`default_state_dir`.

    ``durability="durable"`` flushes every commit to disk (survives power loss);
    ``"fast"`` does not (survives a crash of the process, not of the machine) — the journal is
    flushed in both. ``map_size`` is the initial map; it grows when full. ``max_state_size``
    bounds the JSON of one record, read or written (a bigger stored record reads as corrupt). Raises
    :class:`StoreError` for a directory that is not private to the user,
    :class:`SchemaError` for a store written by a newer version.
    """
    if max_state_size <= 0:
        raise ValueError(
            f"`max_state_size` must be a positive number of bytes, got {max_state_size}"
        )
    if durability not in DURABILITIES:
        raise ValueError(f"`durability` must be 'durable' or 'fast', got {durability!r}")
    directory = Path(path) if path is not None else default_state_dir()
    env = environment.acquire(directory, durable=durability == "durable", map_size=map_size)
    store = Store(env, metrics if metrics is not None else default_metrics(), clock, max_state_size)
    logger.debug("opened %r", store)
    return store
