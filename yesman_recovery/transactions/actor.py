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
from yesman_recovery.storage import JournalRecord, envelope
from yesman_recovery.supervisors.actor import (
    ChildExited,
    ChildRef,
    SupervisedActor,
    SupervisedRef,
)
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic
from yesman_recovery.supervisors.spec import ChildSpec, Restart
from yesman_recovery.supervisors.supervisor import Supervisor
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions.records import read
from yesman_recovery.transactions.registry import StepContext, call
from yesman_recovery.transactions.writer import Entry

if TYPE_CHECKING:
    from yesman_recovery.transactions.service import Transactions

logger = logging.getLogger(__name__)

_ADVANCE = "advance"
_COMPACT = "compact"


@dataclass(frozen=True)
class _Go:
    """Message to self: carry out ``decision`` (its delay has passed, or its first record is
    already in the journal when ``journaled``)."""

    decision: p.Decision
    journaled: bool = False


class TransactionActor(SupervisedActor):
    """Runs the transaction ``transaction`` to its end (or to parked) from its journal records.

    ``recovering`` is True when the transaction was found unfinished (a restart, an operator's
    retry): its first decision then applies the restart policy. ``records`` are the records
    already written (``begin`` and step 0's ``intent`` of a new transaction); None reads them
    from the journal.

    One flush per step: a step's outcome (``done``/``failed``) is committed together with the
    first record of whatever follows (the next step's ``intent``, ``aborted``, an ``undo``, the
    terminal record and its audit event). Every record is still on disk before the side effect
    it announces, and a stop or crash between the two leaves an ``intent`` whose step never
    ran, which the protocol already treats as "may have run".
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
        self._view: p.TransactionView | None = None  # set by the first message
        self._ended = False  # True iff the outcome was reported to the service

    def on_start(self) -> None:
        self._service.metrics.transactions_in_flight.inc()
        if not self._recovering and self._records and self._records[-1].kind == p.INTENT:
            # A new transaction: begin() journaled step 0's intent with the begin record.
            self.actor_ref.tell(_Go(p.RunStep(0, 1), journaled=True))
        else:
            self.actor_ref.tell(_ADVANCE)

    def on_exit(self, reason: ExitReason) -> None:
        self._service.metrics.transactions_in_flight.dec()
        if not self._ended:
            self._service._interrupted(self._tx, str(reason))

    def on_receive(self, message: Any) -> Any:
        if message == _ADVANCE:
            self._advance()
        elif isinstance(message, _Go):
            if self._view is None and not self._load():
                return None
            self._carry_out(message.decision, journaled=message.journaled)
        else:
            return super().on_receive(message)
        return None

    # --- one decision at a time -----------------------------------------------------------

    def _decide(self, view: p.TransactionView, recovering: bool = False) -> p.Decision:
        config = self._service.config
        return p.decide(
            view,
            recovering=recovering,
            on_restart=config.on_restart,
            compensation_retry=config.compensation_retry,
        )

    def _advance(self) -> None:
        if self._view is None and not self._load():
            return
        assert self._view is not None
        decision = self._decide(self._view, self._recovering)
        self._recovering = False
        delay = getattr(decision, "delay", 0.0)
        if delay > 0:
            self._service.scheduler.call_later(delay, self.actor_ref, _Go(decision))
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

    def _carry_out(self, decision: p.Decision, *, journaled: bool = False) -> None:
        match decision:
            case p.RunStep():
                self._run_step(decision, journaled)
            case p.Compensate():
                self._compensate(decision, journaled)
            case p.Idle():  # ended or parked already (counted and audited then)
                assert self._view is not None
                self._service._resolve(self._view)
                self._end()
            case _:  # Abort, Finish, Park: one record, committed with what follows
                entry = self._first_record(decision)
                assert entry is not None
                self._settle(entry)

    def _first_record(self, decision: p.Decision) -> Entry | None:
        """The record that starts ``decision``, if it can be written right away."""
        assert self._view is not None
        actions = self._service.actions
        match decision:
            case p.RunStep(index=i, attempt=a, delay=0.0):
                if self._view.steps[i].action in actions:
                    return (self._tx, p.INTENT, {"step": i, "attempt": a}, False)
            case p.Compensate(index=i, attempt=a, delay=0.0):
                if self._view.steps[i].compensate in actions:
                    return (self._tx, p.UNDO, {"step": i, "attempt": a}, False)
            case p.Abort(reason=reason):
                return (self._tx, p.ABORTED, {"reason": reason}, False)
            case p.Finish(kind=kind):
                return (self._tx, kind, None, True)
            case p.Park(reason=reason, step=step):
                return (self._tx, p.PARKED, {"reason": reason, "step": step}, False)
        return None

    def _settle(self, outcome: Entry) -> None:
        """Write a record (a step's outcome, ``aborted``, a terminal record) together with the
        first record of what comes next."""
        assert self._view is not None
        assert self._records is not None
        now = self._service.clock.time()
        _tx, kind, data, terminal = outcome
        after = self._view.with_records([JournalRecord(self._tx, now, kind, data, terminal)])
        following = self._decide(after)
        entry = self._first_record(following)
        self._write([outcome] if entry is None else [outcome, entry], following)

    def _write(self, entries: list[Entry], following: p.Decision) -> None:
        """Commit ``entries``; then carry on with ``following`` (started by the last entry
        if it is that decision's first record)."""
        assert self._view is not None
        assert self._records is not None
        ending = entries[-1][1] in (p.COMMITTED, p.COMPENSATED, p.PARKED)
        audit = []
        if ending:
            now = self._service.clock.time()
            pending = [JournalRecord(self._tx, now, kind, data, terminal)
                       for _tx, kind, data, terminal in entries]  # fmt: skip
            audit.append(self._service._audit_event(self._view.with_records(pending)))
        # A failed write (a full disk) crashes this actor: the transaction stays unfinished in
        # the journal and the next start finishes it.
        for record in self._service.writer.append_many(entries, audit=audit):
            self._records.append(record)
            p.apply(self._view, record)
        if ending:
            self._report(audited=True)
        elif isinstance(following, p.RunStep | p.Compensate) and entries[-1][1] in (
            p.INTENT, p.UNDO
        ):  # fmt: skip
            self.actor_ref.tell(_Go(following, journaled=True))
        else:
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

    def _run_step(self, decision: p.RunStep, journaled: bool) -> None:
        assert self._view is not None
        svc = self._service
        index = decision.index
        step = self._view.steps[index]
        if step.action not in svc.actions:
            self._carry_out(p.Park(self._unknown(step.action, index), index))
            return
        if not journaled:
            self._append_one(p.INTENT, {"step": index, "attempt": decision.attempt})
        context = self._context(index, decision.attempt, compensating=False)
        failure: dict[str, Any] | None = None
        result: Any = None
        try:
            result = call(svc.actions.get(step.action), context, step.timeout)
        except TimeoutError as exc:
            failure = {"error": f"timed out: {exc}", "possibly_executed": True}
        except Exception as exc:  # the step failed; the transaction decides what follows
            failure = {"error": f"{type(exc).__name__}: {exc}", "possibly_executed": False}
        else:
            try:
                envelope.check_json(result, f"the result of step {index} ({step.action})")
            except ValueError as exc:
                # It ran, but its result cannot be journaled: undo it rather than lose it.
                failure = {"error": str(exc), "possibly_executed": True, "final": True}
        if failure is None:
            svc.metrics.transaction_steps.labels(step.action, "done").inc()
            self._settle((self._tx, p.DONE, {"step": index, "result": result}, False))
            return
        svc.metrics.transaction_steps.labels(step.action, "failed").inc()
        final = failure.pop("final", False) or decision.attempt >= step.retry.attempts
        data = {"step": index, "attempt": decision.attempt, "final": final, **failure}
        self._settle((self._tx, p.FAILED, data, False))

    def _compensate(self, decision: p.Compensate, journaled: bool) -> None:
        assert self._view is not None
        svc = self._service
        index = decision.index
        step = self._view.steps[index]
        name = step.compensate
        assert name is not None  # to_undo() lists only steps with a compensation
        if name not in svc.actions:
            self._carry_out(p.Park(self._unknown(name, index), index))
            return
        if not journaled:
            self._append_one(p.UNDO, {"step": index, "attempt": decision.attempt})
        try:
            call(svc.actions.get(name), self._context(index, decision.attempt, True), step.timeout)
        except Exception as exc:  # retried with backoff, then parked
            svc.metrics.compensations.labels("failed").inc()
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("compensation %s of %s step %d failed: %s", name, self._tx, index,
                           error)  # fmt: skip
            data = {"step": index, "attempt": decision.attempt, "error": error}
            self._settle((self._tx, p.UNDO_FAILED, data, False))
            return
        svc.metrics.compensations.labels("done").inc()
        self._settle((self._tx, p.UNDONE, {"step": index}, False))

    def _unknown(self, name: str, index: int) -> str:
        return (
            f"step {index} needs action {name!r}, which this process has not registered "
            f"({self._service.actions.describe_known()}); register it and retry"
        )

    # --- records and the end ----------------------------------------------------------------

    def _append_one(self, kind: str, data: Any) -> None:
        assert self._view is not None
        assert self._records is not None
        record = self._service.writer.append(self._tx, kind, data)
        self._records.append(record)
        p.apply(self._view, record)

    def _report(self, *, audited: bool = False) -> None:
        assert self._view is not None
        self._service._finished(self._view, audited=audited)
        self._end()

    def _end(self) -> None:
        self._ended = True
        self.stop()


class TransactionsSupervisor(Supervisor):
    """The ``transactions`` supervisor: a ``temporary`` :class:`TransactionActor` per running
    transaction; finishes its owner's unfinished transactions when it starts."""

    recovery_concurrency = 64
    """Recovered transactions running at once; the rest wait for a free slot."""

    def __init__(self, service: Transactions, **kwargs: Any) -> None:
        super().__init__(children=(), name="transactions", **kwargs)
        self._service = service
        # Unfinished transactions (with their records) waiting for a slot, oldest last.
        self._backlog: list[tuple[str, list[JournalRecord] | None]] = []
        self._compaction: Periodic | None = None

    def on_start(self) -> None:
        super().on_start()
        svc = self._service
        self._backlog = list(reversed(svc._unfinished_records()))
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
    ) -> ChildRef | None:
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
            transaction, records = self._backlog.pop()
            try:
                self.start_transaction(transaction, True, records)
            except Exception:  # its start failed: it stays unfinished for the next start
                logger.exception("could not start the recovery of %s", transaction)
