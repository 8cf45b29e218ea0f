"""``TransactionRun``: carries out one transaction's decisions, whoever lends it a thread.

A run holds a transaction's records and its :class:`~yesman_recovery.transactions.protocol.
TransactionView`. Each :meth:`TransactionRun.carry_out` appends what a decision needs, runs the
step or compensation it announces, and returns the next :class:`Go` (None once the
transaction ended or parked and its outcome was reported). It never sleeps and never sends a
message: a ``Go`` whose decision has a ``delay`` is for its holder to wait out. Two holders:

- a :class:`~yesman_recovery.transactions.actor.TransactionActor` carries out one ``Go`` per
  message to itself and waits out a delay with a scheduler message;
- a recovery lane (:mod:`~yesman_recovery.transactions.lanes`) carries out ``Go`` after ``Go``
  in a loop and hands a run whose next decision has a delay to its own ``TransactionActor``.

Not thread-safe: one holder at a time, which the lanes' queue and the supervisor ensure.

One flush per step: a step's outcome (``done``/``failed``) is committed together with the
first record of whatever follows (the next step's ``intent``, ``aborted``, an ``undo``, the
terminal record and its audit event). Every record is still on disk before the side effect it
announces, and a stop or crash between the two leaves an ``intent`` whose step never ran, which
the protocol already treats as "may have run".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from yesman_recovery.errors import CorruptRecordError
from yesman_recovery.storage import JournalRecord, envelope
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions.records import read
from yesman_recovery.transactions.registry import StepContext, call
from yesman_recovery.transactions.writer import Entry

if TYPE_CHECKING:
    from yesman_recovery.transactions.service import Transactions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Go:
    """Carry out ``decision``; its first record is already in the journal when ``journaled``."""

    decision: p.Decision
    journaled: bool = False

    @property
    def delay(self) -> float:
        """Seconds to wait before carrying it out (a retry's backoff); 0 for most."""
        return float(getattr(self.decision, "delay", 0.0))

    def waited(self) -> Go:
        """This ``Go`` once its delay has passed."""
        if isinstance(self.decision, p.RunStep | p.Compensate):
            return replace(self, decision=replace(self.decision, delay=0.0))
        return self


class TransactionRun:
    """The decisions of transaction ``transaction``, carried out one :class:`Go` at a time.

    ``records`` are the records already written (None reads them from the journal).
    """

    def __init__(
        self, service: Transactions, transaction: str, records: list[JournalRecord] | None = None
    ) -> None:
        self.service = service
        self.transaction = transaction
        self._records = records
        self._view: p.TransactionView | None = None  # set by first()
        self.ended = False
        """True iff the outcome was reported to the service (its holder must let it go)."""

    def first(self, recovering: bool) -> Go | None:
        """The first ``Go`` of this run; None if its records cannot be trusted (then parked).

        ``recovering`` is True when the transaction was found unfinished (a restart, an
        operator's retry): its first decision then applies the restart policy. A new
        transaction (its last record step 0's ``intent``, written by ``begin``) runs step 0.
        """
        if not self._load():
            return None
        assert self._records is not None
        if not recovering and self._records[-1].kind == p.INTENT:
            return Go(p.RunStep(0, 1), journaled=True)
        return self._next(recovering)

    def carry_out(self, go: Go) -> Go | None:
        """Carry out ``go`` (its delay, if any, has passed); the next ``Go``, or None if the
        run ended. A failed journal write raises (the transaction stays unfinished)."""
        decision = go.decision
        match decision:
            case p.RunStep():
                return self._run_step(decision, go.journaled)
            case p.Compensate():
                return self._compensate(decision, go.journaled)
            case p.Idle():  # ended or parked already (counted and audited then)
                assert self._view is not None
                self.service._resolve(self._view)
                self.ended = True
                return None
            case _:  # Abort, Finish, Park: one record, committed with what follows
                entry = self._first_record(decision)
                assert entry is not None
                return self._settle(entry)

    # --- deciding ---------------------------------------------------------------------------

    def _next(self, recovering: bool = False) -> Go:
        assert self._view is not None
        return Go(self._decide(self._view, recovering))

    def _decide(self, view: p.TransactionView, recovering: bool = False) -> p.Decision:
        config = self.service.config
        return p.decide(
            view,
            recovering=recovering,
            on_restart=config.on_restart,
            compensation_retry=config.compensation_retry,
        )

    def _load(self) -> bool:
        try:
            if self._records is None:
                self._records, self._view = read(self.service.store, self.transaction)
            else:
                self._view = p.replay(self.transaction, self._records)
        except (CorruptRecordError, p.ProtocolError) as exc:
            self.service._damaged(self.transaction, exc)
            self.ended = True
            return False
        return True

    def _first_record(self, decision: p.Decision) -> Entry | None:
        """The record that starts ``decision``, if it can be written right away."""
        assert self._view is not None
        actions = self.service.actions
        tx = self.transaction
        match decision:
            case p.RunStep(index=i, attempt=a, delay=0.0):
                if self._view.steps[i].action in actions:
                    return (tx, p.INTENT, {"step": i, "attempt": a}, False)
            case p.Compensate(index=i, attempt=a, delay=0.0):
                if self._view.steps[i].compensate in actions:
                    return (tx, p.UNDO, {"step": i, "attempt": a}, False)
            case p.Abort(reason=reason):
                return (tx, p.ABORTED, {"reason": reason}, False)
            case p.Finish(kind=kind):
                return (tx, kind, None, True)
            case p.Park(reason=reason, step=step):
                return (tx, p.PARKED, {"reason": reason, "step": step}, False)
        return None

    # --- records ----------------------------------------------------------------------------

    def _settle(self, outcome: Entry) -> Go | None:
        """Write a record (a step's outcome, ``aborted``, a terminal record) together with the
        first record of what comes next; what comes next."""
        assert self._view is not None
        now = self.service.clock.time()
        _tx, kind, data, terminal = outcome
        record = JournalRecord(self.transaction, now, kind, data, terminal)
        after = self._view.with_records([record])
        following = self._decide(after)
        entry = self._first_record(following)
        return self._write([outcome] if entry is None else [outcome, entry], following)

    def _write(self, entries: list[Entry], following: p.Decision) -> Go | None:
        """Commit ``entries``; then ``following`` (started by the last entry if it is that
        decision's first record)."""
        assert self._view is not None
        assert self._records is not None
        service = self.service
        ending = entries[-1][1] in (p.COMMITTED, p.COMPENSATED, p.PARKED)
        audit = []
        if ending:
            now = service.clock.time()
            pending = [JournalRecord(self.transaction, now, kind, data, terminal)
                       for _tx, kind, data, terminal in entries]  # fmt: skip
            audit.append(service._audit_event(self._view.with_records(pending)))
        # A failed write (a full disk) raises to the holder: the transaction stays unfinished
        # in the journal and the next start finishes it.
        for record in service.writer.append_many(entries, audit=audit):
            self._records.append(record)
            p.apply(self._view, record)
        if ending:
            service._finished(self._view, audited=True)
            self.ended = True
            return None
        if isinstance(following, p.RunStep | p.Compensate) and entries[-1][1] in (p.INTENT, p.UNDO):
            return Go(following, journaled=True)
        return self._next()

    def _append_one(self, kind: str, data: Any) -> None:
        assert self._view is not None
        assert self._records is not None
        record = self.service.writer.append(self.transaction, kind, data)
        self._records.append(record)
        p.apply(self._view, record)

    # --- steps and compensations ------------------------------------------------------------

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

    def _run_step(self, decision: p.RunStep, journaled: bool) -> Go | None:
        assert self._view is not None
        svc = self.service
        index = decision.index
        step = self._view.steps[index]
        if step.action not in svc.actions:
            return self.carry_out(Go(p.Park(self._unknown(step.action, index), index)))
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
            done = {"step": index, "result": result}
            return self._settle((self.transaction, p.DONE, done, False))
        svc.metrics.transaction_steps.labels(step.action, "failed").inc()
        final = failure.pop("final", False) or decision.attempt >= step.retry.attempts
        data = {"step": index, "attempt": decision.attempt, "final": final, **failure}
        return self._settle((self.transaction, p.FAILED, data, False))

    def _compensate(self, decision: p.Compensate, journaled: bool) -> Go | None:
        assert self._view is not None
        svc = self.service
        index = decision.index
        step = self._view.steps[index]
        name = step.compensate
        assert name is not None  # to_undo() lists only steps with a compensation
        if name not in svc.actions:
            return self.carry_out(Go(p.Park(self._unknown(name, index), index)))
        if not journaled:
            self._append_one(p.UNDO, {"step": index, "attempt": decision.attempt})
        try:
            call(svc.actions.get(name), self._context(index, decision.attempt, True), step.timeout)
        except Exception as exc:  # retried with backoff, then parked
            svc.metrics.compensations.labels("failed").inc()
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("compensation %s of %s step %d failed: %s", name, self.transaction,
                           index, error)  # fmt: skip
            data = {"step": index, "attempt": decision.attempt, "error": error}
            return self._settle((self.transaction, p.UNDO_FAILED, data, False))
        svc.metrics.compensations.labels("done").inc()
        return self._settle((self.transaction, p.UNDONE, {"step": index}, False))

    def _unknown(self, name: str, index: int) -> str:
        return (
            f"step {index} needs action {name!r}, which this process has not registered "
            f"({self.service.actions.describe_known()}); register it and retry"
        )
