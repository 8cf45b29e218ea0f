"""Recovery lanes: a few workers that finish the unfinished transactions found at start.

A start after a crash may find thousands of unfinished transactions. An actor each would cost
a thread, a start handshake and a message per decision for every one of them, which is most of
the recovery time. Instead the ``transactions`` supervisor starts :attr:`TransactionsSupervisor.
recovery_lanes <yesman_recovery.transactions.actor.TransactionsSupervisor.recovery_lanes>`
:class:`RecoveryLane` children (``temporary``) that take transactions from one shared
:class:`RecoveryQueue`, oldest first, and carry each one's decisions out in a loop with the
same :class:`~yesman_recovery.transactions.run.TransactionRun` an actor uses. Their journal
writes meet in the :class:`~yesman_recovery.transactions.writer.JournalWriter`, so the lanes
share flushes (group commit). A lane ends when the queue is empty.

- **A lane never sleeps.** A transaction whose next decision has a delay (the backoff of a
  retried step or compensation) is handed to the supervisor, which starts its own
  ``TransactionActor`` for it; the actor waits out the delay with a scheduler message.
- **A stop takes effect between two steps.** Before each decision a lane checks its stop
  request and its inbox; if either is set it lets the pending message in first, so a
  supervisor's shutdown stops it after the current step. The transaction it held stays
  unfinished in the journal for the next start.
- **One holder per transaction.** The queue knows which transactions are waiting or held; the
  supervisor starts no actor for one of them (an operator's ``retry`` is answered by the lane's
  work, or re-run once the lane lets go if it came while the lane held it).
- **A failure stays with its transaction.** A journal write that raises (a full disk) leaves
  that transaction unfinished and the lane goes on with the next one.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.storage import JournalRecord
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.transactions.run import Go, TransactionRun

if TYPE_CHECKING:
    from yesman_recovery.transactions.service import Transactions

logger = logging.getLogger(__name__)

_NEXT = "next"

Unfinished = tuple[str, list[JournalRecord] | None]
"""A transaction id and its records (None: read them again, they may be damaged)."""


@dataclass(frozen=True)
class HandOver:
    """To the supervisor: start an actor for ``run`` that carries out ``go`` after its delay."""

    run: TransactionRun
    go: Go


@dataclass(frozen=True)
class Reopened:
    """To the supervisor: ``transaction`` was reopened while a lane held it; run it again."""

    transaction: str


class RecoveryQueue:
    """The unfinished transactions waiting for a lane and those a lane holds; any thread."""

    def __init__(self, unfinished: list[Unfinished]) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[Unfinished] = deque(unfinished)  # guarded by _lock; oldest first
        # Guarded by _lock: transaction -> True iff it was asked for again while held.
        self._held: dict[str, bool] = {}
        self._queued = {transaction for transaction, _records in unfinished}  # guarded too

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def take(self) -> Unfinished | None:
        """The oldest waiting transaction, now held by the caller; None if none waits."""
        with self._lock:
            if not self._waiting:
                return None
            item = self._waiting.popleft()
            self._queued.discard(item[0])
            self._held[item[0]] = False
            return item

    def release(self, transaction: str) -> bool:
        """The caller lets ``transaction`` go; True iff it was asked for meanwhile."""
        with self._lock:
            return self._held.pop(transaction, False)

    def claim(self, transaction: str) -> bool:
        """True iff a lane holds ``transaction`` or will take it; if held, mark it asked for."""
        with self._lock:
            if transaction in self._held:
                self._held[transaction] = True
                return True
            return transaction in self._queued


class RecoveryLane(SupervisedActor):
    """Finishes transactions of ``queue`` one after the other, then stops.

    Runs in its own thread; ``supervisor`` (the ``transactions`` supervisor) receives the
    :class:`HandOver` and :class:`Reopened` messages.
    """

    def __init__(
        self, service: Transactions, queue: RecoveryQueue, supervisor: pykka.ActorRef[Any]
    ) -> None:
        super().__init__()
        self._service = service
        self._queue = queue
        self._supervisor = supervisor
        self._run: TransactionRun | None = None  # the transaction held, if any
        self._go: Go | None = None  # its next decision, if its run has started

    def on_start(self) -> None:
        self.actor_ref.tell(_NEXT)

    def on_exit(self, reason: ExitReason) -> None:
        run = self._run
        if run is not None:  # stopped between two steps: the journal keeps it unfinished
            self._let_go()
            self._service._interrupted(run.transaction, str(reason))

    def on_receive(self, message: Any) -> Any:
        if message == _NEXT:
            self._work()
            return None
        return super().on_receive(message)

    def _work(self) -> None:
        link = self._supervision
        while not link.stop_requested.is_set() and self.actor_inbox.empty():
            if self._run is None and not self._take():
                self.stop()
                return
            run = self._run
            assert run is not None
            try:
                go = run.carry_out(self._go) if self._go is not None else run.first(True)
            except Exception:  # a journal write failed: it stays unfinished for the next start
                logger.exception("recovery of transaction %s failed", run.transaction)
                go = None
            if go is None:
                self._let_go()
            elif go.delay > 0:
                self._hand_over(run, go)
            else:
                self._go = go
        self.actor_ref.tell(_NEXT)  # after the message that interrupted (a stop, most likely)

    def _take(self) -> bool:
        taken = self._queue.take()
        if taken is None:
            return False
        transaction, records = taken
        self._service.metrics.transactions_in_flight.inc()
        self._run = TransactionRun(self._service, transaction, records)
        self._go = None
        return True

    def _let_go(self) -> None:
        run, self._run, self._go = self._run, None, None
        assert run is not None
        self._service.metrics.transactions_in_flight.dec()
        if self._queue.release(run.transaction) and run.ended:
            self._tell(Reopened(run.transaction))

    def _hand_over(self, run: TransactionRun, go: Go) -> None:
        self._run, self._go = None, None
        self._service.metrics.transactions_in_flight.dec()  # the actor counts it from its start
        self._queue.release(run.transaction)
        self._tell(HandOver(run, go))

    def _tell(self, message: HandOver | Reopened) -> None:
        try:
            self._supervisor.tell(message)
        except pykka.ActorDeadError:  # stopping: the journal keeps it for the next start
            logger.debug("transactions supervisor gone; %s not delivered", message)
