"""``TransactionActor`` runs one transaction; ``TransactionsSupervisor`` owns them all.

The actor is thin: it appends a record, folds it into its view, asks
:func:`~yesman_recovery.transactions.protocol.decide` what comes next and carries that out,
one decision per message to itself, so a stop request is handled between two steps. Retry
delays are scheduler messages, never sleeps. It is a ``temporary`` child: when it ends, its
transaction is finished or parked, or the journal keeps it unfinished for the next start.

The supervisor finishes every unfinished transaction of its owner when it starts (at most
``recovery_concurrency`` at a time), compacts the journal periodically, and starts the actors
of new transactions for :meth:`Transactions.begin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from yesman_recovery.errors import CorruptRecordError, StoreError
from yesman_recovery.storage import envelope
from yesman_recovery.supervisors.actor import ChildExited, SupervisedActor, SupervisedRef
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic
from yesman_recovery.supervisors.spec import ChildSpec, Restart
from yesman_recovery.supervisors.supervisor import Supervisor
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions.records import read
from yesman_recovery.transactions.registry import StepContext, call

if TYPE_CHECKING:
    from yesman_recovery.storage import JournalRecord
    from yesman_recovery.transactions.service import Transactions

logger = logging.getLogger(__name__)

_ADVANCE = "advance"
_COMPACT = "compact"


@dataclass(frozen=True)
class _Go:
    """Message to self: carry out a decision whose delay has passed."""

    decision: p.Decision


class TransactionActor(SupervisedActor):
    """Runs the transaction ``transaction`` to its end (or to parked) from its journal records.

    ``recovering`` is True when the transaction was found unfinished (a restart, an operator's
    retry): its first decision then applies the restart policy. ``records`` are the records
    already written (the ``begin`` of a new transaction); None reads them from the journal.
    """

    def __init__(
        self,
        service: Transactions,
        transaction: str,
        recovering: bool,
        records: list[JournalRecord] | None = None,
    ) -> None:
        super().__init__()
        self._service = service
        self._tx = transaction
        self._recovering = recovering
        self._records = records
        self._view: p.TransactionView | None = None  # set by the first advance
        self._ended = False  # True iff the outcome was reported to the service

    def on_start(self) -> None:
        self._service.metrics.transactions_in_flight.inc()
        self.actor_ref.tell(_ADVANCE)

    def on_exit(self, reason: ExitReason) -> None:
        self._service.metrics.transactions_in_flight.dec()
        if not self._ended:
            self._service._interrupted(self._tx, str(reason))

    def on_receive(self, message: Any) -> Any:
        if message == _ADVANCE:
            self._advance()
        elif isinstance(message, _Go):
            self._carry_out(message.decision)
        else:
            return super().on_receive(message)
        return None

    # --- one decision at a time -----------------------------------------------------------

    def _advance(self) -> None:
        if self._view is None and not self._load():
            return
        assert self._view is not None
        svc = self._service
        decision = p.decide(
            self._view,
            recovering=self._recovering,
            on_restart=svc.config.on_restart,
            compensation_retry=svc.config.compensation_retry,
        )
        self._recovering = False
        delay = getattr(decision, "delay", 0.0)
        if delay > 0:
            svc.scheduler.call_later(delay, self.actor_ref, _Go(decision))
        else:
            self._carry_out(decision)

    def _load(self) -> bool:
        try:
            if self._records is None:
                self._records, self._view = read(self._service.store, self._tx)
            else:
                self._view = p.replay(self._tx, self._records)
        except (CorruptRecordError, p.ProtocolError) as exc:
            self._service._damaged(self._tx, exc)
            self._end()
            return False
        return True

    def _carry_out(self, decision: p.Decision) -> None:
        match decision:
            case p.RunStep():
                self._run_step(decision)
            case p.Compensate():
                self._compensate(decision)
            case p.Abort(reason=reason):
                self._append(p.ABORTED, {"reason": reason})
            case p.Finish(kind=kind):
                self._append(kind, None, terminal=True)
                self._report()
                return
            case p.Park(reason=reason, step=step):
                self._append(p.PARKED, {"reason": reason, "step": step})
                self._report()
                return
            case p.Idle():
                self._report()
                return
        self.actor_ref.tell(_ADVANCE)

    def _context(self, index: int, attempt: int, compensating: bool) -> StepContext:
        assert self._view is not None
        view = self._view
        step = view.steps[index]
        return StepContext(
            transaction=view.id,
            name=view.name,
            index=index,
            action=step.compensate if compensating and step.compensate else step.action,
            args=step.args,
            key=f"{view.id}:{index}",
            attempt=attempt,
            results=tuple(view.results.get(i) for i in range(index)),
            result=view.results.get(index),
            compensating=compensating,
        )

    def _run_step(self, decision: p.RunStep) -> None:
        assert self._view is not None
        svc = self._service
        step = self._view.steps[decision.index]
        if step.action not in svc.actions:
            self._carry_out(p.Park(self._unknown(step.action, decision.index), decision.index))
            return
        action = svc.actions.get(step.action)
        self._append(p.INTENT, {"step": decision.index, "attempt": decision.attempt})
        context = self._context(decision.index, decision.attempt, compensating=False)
        failure: dict[str, Any] | None = None
        result: Any = None
        try:
            result = call(action, context, step.timeout)
        except TimeoutError as exc:
            failure = {"error": f"timed out: {exc}", "possibly_executed": True}
        except Exception as exc:  # the step failed; the transaction decides what follows
            failure = {"error": f"{type(exc).__name__}: {exc}", "possibly_executed": False}
        else:
            try:
                envelope.check_json(result, f"the result of step {decision.index} ({step.action})")
            except ValueError as exc:
                # It ran, but its result cannot be journaled: undo it rather than lose it.
                failure = {"error": str(exc), "possibly_executed": True, "final": True}
        if failure is None:
            svc.metrics.transaction_steps.labels(step.action, "done").inc()
            self._append(p.DONE, {"step": decision.index, "result": result})
            return
        svc.metrics.transaction_steps.labels(step.action, "failed").inc()
        final = failure.pop("final", False) or decision.attempt >= step.retry.attempts
        self._append(
            p.FAILED,
            {"step": decision.index, "attempt": decision.attempt, "final": final, **failure},
        )

    def _compensate(self, decision: p.Compensate) -> None:
        assert self._view is not None
        svc = self._service
        step = self._view.steps[decision.index]
        name = step.compensate
        assert name is not None  # to_undo() lists only steps with a compensation
        if name not in svc.actions:
            self._carry_out(p.Park(self._unknown(name, decision.index), decision.index))
            return
        self._append(p.UNDO, {"step": decision.index, "attempt": decision.attempt})
        try:
            call(svc.actions.get(name), self._context(decision.index, decision.attempt, True),
                 step.timeout)  # fmt: skip
        except Exception as exc:  # retried with backoff, then parked
            svc.metrics.compensations.labels("failed").inc()
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("compensation %s of %s step %d failed: %s", name, self._tx,
                           decision.index, error)  # fmt: skip
            self._append(
                p.UNDO_FAILED, {"step": decision.index, "attempt": decision.attempt, "error": error}
            )
            return
        svc.metrics.compensations.labels("done").inc()
        self._append(p.UNDONE, {"step": decision.index})

    def _unknown(self, name: str, index: int) -> str:
        return (
            f"step {index} needs action {name!r}, which this process has not registered "
            f"({self._service.actions.describe_known()}); register it and retry"
        )

    # --- records and the end ----------------------------------------------------------------

    def _append(self, kind: str, data: Any, *, terminal: bool = False) -> None:
        assert self._view is not None
        assert self._records is not None
        # A failed append (a full disk) crashes this actor: the transaction stays unfinished in
        # the journal and the next start finishes it.
        record = self._service.writer.append(self._tx, kind, data, terminal=terminal)
        self._records.append(record)
        p.apply(self._view, record)

    def _report(self) -> None:
        assert self._view is not None
        self._service._finished(self._view)
        self._end()

    def _end(self) -> None:
        self._ended = True
        self.stop()


class TransactionsSupervisor(Supervisor):
    """The ``transactions`` supervisor: a ``temporary`` :class:`TransactionActor` per running
    transaction; finishes its owner's unfinished transactions when it starts."""

    recovery_concurrency = 32
    """Recovered transactions running at once; the rest wait for a free slot."""

    def __init__(self, service: Transactions, **kwargs: Any) -> None:
        super().__init__(children=(), name="transactions", **kwargs)
        self._service = service
        self._backlog: list[str] = []  # unfinished transactions waiting for a slot, oldest last
        self._compaction: Periodic | None = None

    def on_start(self) -> None:
        super().on_start()
        svc = self._service
        self._backlog = list(reversed(svc.unfinished()))
        self._fill()
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
            return None
        answer = super().on_receive(message)
        if isinstance(message, ChildExited):
            self._fill()
        return answer

    def start_transaction(
        self, transaction: str, recovering: bool, records: list[JournalRecord] | None = None
    ) -> SupervisedRef | None:
        """Start the actor of ``transaction``; None if one runs already."""
        if self._find(transaction) is not None:
            return None
        return self.start_child(
            ChildSpec(
                transaction,
                TransactionActor,
                kwargs={
                    "service": self._service,
                    "transaction": transaction,
                    "recovering": recovering,
                    "records": records,
                },
                restart=Restart.TEMPORARY,
            )
        )

    def _fill(self) -> None:
        while self._backlog and len(self._children) < self.recovery_concurrency:
            transaction = self._backlog.pop()
            try:
                self.start_transaction(transaction, recovering=True)
            except Exception:  # its start failed: it stays unfinished for the next start
                logger.exception("could not start the recovery of %s", transaction)
