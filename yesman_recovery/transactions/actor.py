"""``TransactionActor`` runs one transaction; ``TransactionsSupervisor`` owns them all.

The actor is thin: its :class:`~yesman_recovery.transactions.run.TransactionRun` appends the
records, asks :func:`~yesman_recovery.transactions.protocol.decide` what comes next and carries
it out; the actor handles one decision per message to itself, so a stop request is handled
between two steps. Retry delays are scheduler messages, never sleeps. It is a ``temporary``
child: when it ends, its transaction is finished or parked, or the journal keeps it unfinished
for the next start.

The supervisor finishes every unfinished transaction of its owner when it starts, through a
few recovery lanes (:mod:`~yesman_recovery.transactions.lanes`: a thread and an actor per
recovered transaction cost most of a recovery's time), compacts the journal periodically, and
starts the actors of new transactions for :meth:`Transactions.begin`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from yesman_recovery.errors import StoreError
from yesman_recovery.storage import JournalRecord
from yesman_recovery.supervisors.actor import (
    ChildRef,
    SupervisedActor,
    SupervisedRef,
)
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic
from yesman_recovery.supervisors.spec import ChildSpec, Restart
from yesman_recovery.supervisors.supervisor import Supervisor
from yesman_recovery.transactions.lanes import HandOver, RecoveryLane, RecoveryQueue, Reopened
from yesman_recovery.transactions.run import Go, TransactionRun

if TYPE_CHECKING:
    from yesman_recovery.transactions.service import Transactions

logger = logging.getLogger(__name__)

_FIRST = "first"
_COMPACT = "compact"


class TransactionActor(SupervisedActor):
    """Runs the transaction ``transaction`` to its end (or to parked) from its journal records.

    ``recovering`` is True when the transaction was found unfinished (a restart, an operator's
    retry): its first decision then applies the restart policy. ``records`` are the records
    already written (``begin`` and step 0's ``intent`` of a new transaction); None reads them
    from the journal. A recovery lane hands over its ``run`` with the next ``go``, whose delay
    this actor waits out.
    """

    def __init__(
        self,
        service: Transactions,
        transaction: str,
        recovering: bool,
        records: list[JournalRecord] | None = None,
        *,
        run: TransactionRun | None = None,
        go: Go | None = None,
    ) -> None:
        super().__init__()
        self._service = service
        self._recovering = recovering
        self._run = run if run is not None else TransactionRun(service, transaction, records)
        self._go = go  # handed over by a recovery lane, still to wait for

    def on_start(self) -> None:
        self._service.metrics.transactions_in_flight.inc()
        if self._go is not None:
            self._dispatch(self._go)
        else:
            self.actor_ref.tell(_FIRST)

    def on_exit(self, reason: ExitReason) -> None:
        self._service.metrics.transactions_in_flight.dec()
        if not self._run.ended:
            self._service._interrupted(self._run.transaction, str(reason))

    def on_receive(self, message: Any) -> Any:
        # A failed journal write (a full disk) raises here and crashes this actor: the
        # transaction stays unfinished in the journal and the next start finishes it.
        if message == _FIRST:
            go = self._run.first(self._recovering)
            if go is not None and go.delay == 0:  # reading the records is not a step
                go = self._run.carry_out(go)
            self._dispatch(go)
        elif isinstance(message, Go):
            self._dispatch(self._run.carry_out(message))
        else:
            return super().on_receive(message)
        return None

    def _dispatch(self, go: Go | None) -> None:
        """One decision per message to self, so a stop request is handled between two."""
        if go is None:
            self.stop()
        elif go.delay > 0:
            self._service.scheduler.call_later(go.delay, self.actor_ref, go.waited())
        else:
            self.actor_ref.tell(go)


class TransactionsSupervisor(Supervisor):
    """The ``transactions`` supervisor: a ``temporary`` :class:`TransactionActor` per running
    transaction, and at start ``temporary`` recovery lanes for its owner's unfinished ones."""

    recovery_lanes = 32
    """Recovery lanes started at start (fewer if fewer transactions are unfinished). Each
    lane waits for its own flush, so a flush holds at most one commit of each lane: fewer
    lanes mean more flushes, more lanes more threads contending for the interpreter lock (on
    the development machine 8 lanes recover 1,000 transactions in ~0.85 s, 32 in ~0.6 s, and
    64 hardly faster)."""

    def __init__(self, service: Transactions, **kwargs: Any) -> None:
        super().__init__(children=(), name="transactions", **kwargs)
        self._service = service
        self._queue = RecoveryQueue([])  # set in on_start; read by the lanes' threads
        self._compaction: Periodic | None = None

    def on_start(self) -> None:
        super().on_start()
        svc = self._service
        self._queue = RecoveryQueue(svc._unfinished_records())
        for lane in range(min(self.recovery_lanes, len(self._queue))):
            try:
                self.start_child(
                    ChildSpec(
                        f"recovery-lane-{lane}",
                        RecoveryLane,
                        kwargs={"service": svc, "queue": self._queue, "supervisor": self.actor_ref},
                        restart=Restart.TEMPORARY,
                    )
                )
            except Exception:  # the other lanes take its share; none: the next start does
                logger.exception("could not start recovery lane %d", lane)
        self._compaction = svc.scheduler.every(
            svc.config.compact_interval, self.actor_ref, _COMPACT, first=svc.config.compact_interval
        )
        svc._attach(cast(SupervisedRef, self.actor_ref))

    def on_exit(self, reason: ExitReason) -> None:
        self._service._detach(cast(SupervisedRef, self.actor_ref))
        if self._compaction is not None:
            self._compaction.cancel()
        super().on_exit(reason)

    def on_receive(self, message: Any) -> Any:
        if message == _COMPACT:
            try:
                self._service.compact()
            except StoreError as exc:  # a full disk: try again next time, stay up
                logger.error("journal compaction failed: %s", exc)
        elif isinstance(message, HandOver):
            self._start_actor(message.run.transaction, False, run=message.run, go=message.go)
        elif isinstance(message, Reopened):
            self._start_actor(message.transaction, True)
        else:
            return super().on_receive(message)
        return None

    def start_transaction(
        self, transaction: str, recovering: bool, records: list[JournalRecord] | None = None
    ) -> ChildRef | None:
        """Start the actor of ``transaction``; None if an actor or a recovery lane has it."""
        if self._find(transaction) is not None or self._queue.claim(transaction):
            return None
        return self.start_child(self._spec(transaction, recovering, records=records))

    def _start_actor(self, transaction: str, recovering: bool, **kwargs: Any) -> None:
        if self._find(transaction) is not None:
            return
        try:
            self.start_child(self._spec(transaction, recovering, **kwargs))
        except Exception:  # its start failed: it stays unfinished for the next start
            logger.exception("could not start the actor of transaction %s", transaction)

    def _spec(self, transaction: str, recovering: bool, **kwargs: Any) -> ChildSpec:
        return ChildSpec(
            transaction,
            TransactionActor,
            kwargs={"service": self._service, "transaction": transaction,
                    "recovering": recovering, **kwargs},
            restart=Restart.TEMPORARY,
        )  # fmt: skip
