"""``Transactions``: begin multi-step operations that finish or are undone, even after a crash.

A host builds one per store and action registry, puts :meth:`Transactions.child_spec` into its
supervision tree (or calls :meth:`Transactions.start` for a tree of its own), and calls
:meth:`begin` from any thread or from ``async`` code. ``begin`` checks everything it can before
the journal is touched — every action registered, every argument plain JSON — then writes the
``begin`` record durably and starts the transaction's actor; the returned handle carries the id
and a future of the outcome.

Transactions belong to an *owner* (a name per program, stored in ``begin``): a program finishes
only its own unfinished transactions at start, so the daemon and an embedding program can share
a state directory without undoing each other's work. Run one process per owner at a time.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import logging
import secrets
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.config.transactions import ON_RESTART, RetrySettings, TransactionsConfig
from yesman_recovery.errors import CorruptRecordError, TransactionError, TransactionInterrupted
from yesman_recovery.labels import AuditKind
from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics
from yesman_recovery.storage import JournalRecord, Store, envelope
from yesman_recovery.supervisors.actor import SupervisedFuture, SupervisedRef
from yesman_recovery.supervisors.scheduler import Scheduler, default_scheduler
from yesman_recovery.supervisors.spec import ChildSpec
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions import records as rec
from yesman_recovery.transactions.registry import ActionRegistry
from yesman_recovery.transactions.writer import JournalWriter

logger = logging.getLogger(__name__)

DEFAULT_OWNER = "yesman-recovery"


@dataclass(frozen=True)
class Step:
    """One step of a transaction: a registered action and its JSON arguments.

    ``compensate`` overrides the action's registered compensation (None keeps it). ``timeout``
    bounds one attempt, in seconds. ``retry`` retries a failing attempt with backoff (default:
    one attempt): :class:`RetrySettings`, or the name of a policy given to
    :class:`Transactions` as ``retry_policies``. A step that timed out is retried only if its
    action is idempotent.
    """

    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    compensate: str | None = None
    timeout: float | None = None
    retry: RetrySettings | str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a transaction ended: committed, compensated, parked (for an operator) or abandoned.

    ``results`` holds each step's result (None for steps that did not complete); ``reason``
    says why it was compensated, parked or abandoned.
    """

    transaction: str
    name: str
    state: p.TxState
    results: tuple[Any, ...]
    reason: str | None

    @property
    def committed(self) -> bool:
        return self.state is p.TxState.COMMITTED


class TransactionHandle:
    """The id of a begun transaction and a future of its :class:`Outcome`.

    ``result(timeout)`` waits in the calling thread; ``await handle`` waits in asyncio without
    blocking the loop. The future fails with :class:`TransactionInterrupted` if this process
    stops running the transaction before it ends (the journal keeps it for the next start).
    """

    def __init__(self, transaction: str, future: concurrent.futures.Future[Outcome]) -> None:
        self.id = transaction
        self.future = future

    def result(self, timeout: float | None = None) -> Outcome:
        return self.future.result(timeout)

    def __await__(self) -> Generator[Any, None, Outcome]:
        # Awaited like an actor's answer (yesman_recovery.aio): the thread that completes the
        # future wakes the loop, and a cancelled await leaves the future to other waiters.
        mirror: SupervisedFuture[Outcome] = SupervisedFuture()
        self.future.add_done_callback(lambda done: _copy(done, mirror))
        return mirror.__await__()

    def __repr__(self) -> str:
        return f"<TransactionHandle {self.id} done={self.future.done()}>"


def _copy(done: concurrent.futures.Future[Outcome], mirror: SupervisedFuture[Outcome]) -> None:
    """Give ``mirror`` the outcome (or the exception) of ``done``; any thread."""
    if done.cancelled():
        error: BaseException = concurrent.futures.CancelledError()
    elif (failure := done.exception()) is not None:
        error = failure
    else:
        mirror.set(done.result())
        return
    mirror.set_exception((type(error), error, error.__traceback__))


class Transactions:
    """Begin, inspect, retry and abandon transactions of one ``owner`` in one store.

    Thread-safe. ``config`` holds retention, the restart policy and compensation retries;
    ``retry_policies`` names retry settings that steps may refer to (``Step(retry="api")``),
    looked up at each :meth:`begin` (the daemon passes its ``[retry.*]`` policies);
    ``metrics`` defaults to the process-wide set; ``clock`` and ``scheduler`` are for tests.
    """

    def __init__(
        self,
        store: Store,
        actions: ActionRegistry | None = None,
        *,
        config: TransactionsConfig | None = None,
        owner: str = DEFAULT_OWNER,
        metrics: RecoveryMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        start_timeout: float = 10.0,
        retry_policies: Mapping[str, RetrySettings] | None = None,
    ) -> None:
        if not isinstance(owner, str) or not owner:
            raise ValueError(f"`owner` must be a non-empty string, got {owner!r}")
        self.store = store
        self.actions = actions if actions is not None else ActionRegistry()
        self.config = config if config is not None else TransactionsConfig()
        self.owner = owner
        self.metrics = metrics if metrics is not None else default_metrics()
        self.clock = clock
        self.scheduler: Scheduler = scheduler if scheduler is not None else default_scheduler()
        self.writer = JournalWriter(store.journal)
        self._start_timeout = start_timeout
        # Read at each begin(), not copied: a live mapping (the daemon's NamedRetryPolicies)
        # follows reloads.
        self.retry_policies: Mapping[str, RetrySettings] = (
            retry_policies if retry_policies is not None else {}
        )
        self._futures: dict[str, concurrent.futures.Future[Outcome]] = {}  # pending outcomes
        self._supervisor: SupervisedRef | None = None  # the running supervisor, if any
        # Its proxy, made once: building a Pykka proxy introspects the actor (~0.5 ms).
        self._supervisor_proxy: Any = None
        self._own_root: SupervisedRef | None = None  # set iff start() started it
        # Written by begin() callers and actor threads; single dict operations are atomic.

    # --- running it -----------------------------------------------------------------------

    def child_spec(self, child_id: str = "transactions") -> ChildSpec:
        """The ``transactions`` supervisor, for a host's supervision tree."""
        from yesman_recovery.transactions.actor import TransactionsSupervisor

        return ChildSpec(
            child_id,
            TransactionsSupervisor,
            kwargs={"service": self, "clock": self.clock, "scheduler": self.scheduler,
                    "metrics": self.metrics},
        )  # fmt: skip

    def start(self) -> Self:
        """Start the supervisor on its own (no host tree); recovery starts before this returns."""
        from yesman_recovery.transactions.actor import TransactionsSupervisor

        spec = self.child_spec()
        self._own_root = TransactionsSupervisor.start(**spec.kwargs)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop what :meth:`start` started; unfinished transactions stay in the journal."""
        root, self._own_root = self._own_root, None
        if root is not None and not root.shutdown(timeout):
            logger.error("the transactions supervisor did not stop within %s s", timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the API ----------------------------------------------------------------------------

    def begin(
        self, name: str, steps: Sequence[Step | tuple[str, Mapping[str, Any]]], *,
        policy: str | None = None,
    ) -> TransactionHandle:  # fmt: skip
        """Journal and start a transaction; its handle (id and future of the outcome).

        ``steps`` are :class:`Step` or ``(action, args)`` pairs. ``policy`` is what a restart
        does with it if unfinished: ``"compensate"``, ``"resume"``, or None for the
        configuration's ``on_restart``. Raises ``ValueError`` (nothing journaled, nothing run)
        for an unknown action or non-JSON arguments, naming the step and key path;
        :class:`TransactionError` if the transactions supervisor is not running.
        """
        plan = self._plan(name, steps, policy)
        supervisor, proxy = self._supervisor, self._supervisor_proxy
        if supervisor is None or not supervisor.is_alive():
            raise TransactionError(
                "the transactions supervisor is not running; start it (Transactions.start() "
                "or its child_spec() in a supervision tree) before begin()"
            )
        transaction = f"tx-{secrets.token_hex(8)}"
        future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        self._futures[transaction] = future
        # Step 0's intent goes with the begin record: one flush fewer, and the actor runs the
        # step at once (an intent whose step never ran is compensated like any other).
        try:
            records = self.writer.append_many(
                [(transaction, p.BEGIN, plan, False),
                 (transaction, p.INTENT, {"step": 0, "attempt": 1}, False)]
            )  # fmt: skip
        except BaseException:
            self._futures.pop(transaction, None)
            raise

        try:
            proxy.start_transaction(transaction, False, records).get(timeout=self._start_timeout)
        except Exception as exc:  # journaled: the next start of this owner finishes it
            self._interrupted(transaction, f"its actor did not start: {exc!r}")
        return TransactionHandle(transaction, future)

    def get(self, transaction: str) -> rec.TransactionInfo:
        """The transaction with every record; ``LookupError`` if the journal has none."""
        return rec.info(self.store, transaction)

    def list(self, state: p.TxState | None = None) -> list[rec.TransactionInfo]:
        """Every transaction in the journal (all owners), oldest first."""
        return rec.list_transactions(self.store, state)

    def retry(self, transaction: str) -> str:
        """Reopen a parked transaction and finish it now if it is this owner's."""
        view = rec.reopen(self.store, transaction)
        if view.owner != self.owner:
            return f"reopened {transaction}; its owner {view.owner!r} finishes it when it starts"
        proxy = self._supervisor_proxy if self._supervisor is not None else None
        if proxy is None:
            return f"reopened {transaction}; it is finished at the next start"
        proxy.start_transaction(transaction, True).get(timeout=self._start_timeout)
        return f"retrying {transaction}"

    def abandon(self, transaction: str, reason: str) -> str:
        """Give up on a parked transaction, recording ``reason`` (journal and audit trail)."""
        message = rec.abandon(self.store, transaction, reason)
        self.metrics.transactions.labels("abandoned").inc()
        return message

    def compact(self) -> int:
        """Drop transactions that ended more than ``keep_finished`` seconds ago; how many."""
        return self.store.journal.compact(self.config.keep_finished)

    # --- called by the actors -------------------------------------------------------------------

    def _plan(
        self, name: str, steps: Iterable[Step | tuple[str, Mapping[str, Any]]], policy: str | None
    ) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")
        if policy is not None and policy not in ON_RESTART:
            raise ValueError(f"`policy` must be 'compensate', 'resume' or None, got {policy!r}")
        planned = []
        for index, raw in enumerate(steps):
            step = raw if isinstance(raw, Step) else Step(*raw)
            if step.action not in self.actions:
                raise ValueError(
                    f"step {index} of {name!r}: unknown action {step.action!r}; "
                    f"{self.actions.describe_known()}"
                )
            action = self.actions.get(step.action)
            compensate = step.compensate or action.compensate
            if compensate is not None and compensate not in self.actions:
                raise ValueError(
                    f"step {index} of {name!r}: unknown compensation {compensate!r} of "
                    f"{step.action!r}; {self.actions.describe_known()}"
                )
            args = dict(step.args)
            envelope.check_json(args, f"the arguments of step {index} ({step.action})")
            if step.timeout is not None and not step.timeout > 0:
                raise ValueError(f"step {index}: `timeout` must be positive, got {step.timeout}")
            planned.append(
                p.PlannedStep(
                    step.action, args, compensate, action.idempotent, step.timeout,
                    self._retry(step.retry, index),
                ).to_json()
            )  # fmt: skip
        if not planned:
            raise ValueError(f"transaction {name!r} has no steps")
        return {"name": name, "owner": self.owner, "policy": policy, "steps": planned}

    def _retry(self, retry: RetrySettings | str | None, index: int) -> RetrySettings:
        if retry is None:
            return RetrySettings(attempts=1)
        if isinstance(retry, RetrySettings):
            return retry
        found = self.retry_policies.get(retry)
        if found is None:
            known = ", ".join(sorted(self.retry_policies)) or "none"
            raise ValueError(f"step {index}: unknown retry policy {retry!r}; known: {known}")
        return found

    def _attach(self, supervisor: SupervisedRef) -> None:
        self._supervisor_proxy = supervisor.proxy()
        self._supervisor = supervisor
        for name in self.actions.names():  # action names are bounded: they are registered
            for outcome in ("done", "failed"):
                self.metrics.transaction_steps.labels(name, outcome)

    def _detach(self, supervisor: SupervisedRef) -> None:
        if self._supervisor is not None and self._supervisor.actor_urn == supervisor.actor_urn:
            self._supervisor = None

    def unfinished(self) -> builtins.list[str]:
        """Transactions of this owner that are neither ended nor parked, oldest first.

        What the supervisor finishes when it starts; a transaction with damaged records is
        included (its recovery parks it).
        """
        return [transaction for transaction, _records in self._unfinished_records()]

    def _unfinished_records(self) -> builtins.list[tuple[str, builtins.list[JournalRecord] | None]]:
        """:meth:`unfinished` with each one's records (None if damaged: read them again)."""
        out: builtins.list[tuple[str, builtins.list[JournalRecord] | None]] = []
        for summary in self.store.journal.summaries():
            last = summary.last
            if last is not None and (last.terminal or last.kind == p.PARKED):
                continue
            try:
                records = self.store.journal.records(summary.transaction)
            except CorruptRecordError:  # the actor reads it again, then parks and audits it
                out.append((summary.transaction, None))
                continue
            first = records[0].data if records else None
            if isinstance(first, dict) and first.get("owner") == self.owner:
                out.append((summary.transaction, records))
            elif not isinstance(first, dict):  # not a sound begin record: park it
                out.append((summary.transaction, None))
        return out

    def _audit_event(self, view: p.TransactionView) -> dict[str, Any]:
        """The audit event of a transaction that ended or parked (``AuditTrail.append`` args)."""
        duration = max(0.0, (view.ended or self.clock.time()) - view.started)
        detail = f"{view.name}: {len(view.results)}/{len(view.steps)} steps done"
        if view.undone:
            detail += f", {len(view.undone)} undone"
        if view.reason or view.aborted:
            detail += f"; {view.reason or view.aborted}"
        return {"kind": AuditKind.TRANSACTION, "subject": view.id, "detail": detail,
                "action": view.name, "outcome": view.state.value, "duration": duration}  # fmt: skip

    def _resolve(self, view: p.TransactionView) -> None:
        """Complete the future of a transaction that ended or parked, if anyone waits."""
        future = self._futures.pop(view.id, None)
        if future is not None and not future.done():
            results = tuple(view.results.get(i) for i in range(len(view.steps)))
            reason = view.reason or view.aborted
            future.set_result(Outcome(view.id, view.name, view.state, results, reason))

    def _finished(self, view: p.TransactionView, *, audited: bool = False) -> None:
        """Count, log, audit (unless the actor committed the event with the record) and resolve
        the future of a transaction that ended or parked."""
        state = view.state
        self.metrics.transactions.labels(state.value).inc()
        if state is not p.TxState.PARKED:
            self.metrics.transaction_duration.observe(
                max(0.0, (view.ended or self.clock.time()) - view.started)
            )
        if not audited:
            event = self._audit_event(view)
            self._audit(event.pop("subject"), **event)
        if state is p.TxState.PARKED:
            logger.error("transaction %s (%s) parked: %s", view.id, view.name, view.reason)
        self._resolve(view)

    def _damaged(self, transaction: str, error: Exception) -> None:
        """A transaction whose journal cannot be trusted: parked (derived), audited once."""
        self.metrics.transactions.labels("parked").inc()
        logger.error("transaction %s parked: %s", transaction, error)
        try:
            seen = self.store.audit.query(kind=AuditKind.CORRUPTION, subject=transaction, limit=1)
        except Exception:
            seen = []
        if not seen:
            self._audit(transaction, detail=str(error), action="replay", outcome="parked",
                        kind=AuditKind.CORRUPTION)  # fmt: skip
        future = self._futures.pop(transaction, None)
        if future is not None and not future.done():
            future.set_result(Outcome(transaction, "", p.TxState.PARKED, (), str(error)))

    def _interrupted(self, transaction: str, reason: str) -> None:
        future = self._futures.pop(transaction, None)
        if future is not None and not future.done():
            future.set_exception(
                TransactionInterrupted(
                    f"transaction {transaction} did not finish in this process ({reason}); "
                    "the journal keeps it and the next start of its owner finishes it"
                )
            )

    def _audit(self, subject: str, *, kind: str = AuditKind.TRANSACTION, **fields: Any) -> None:
        try:
            self.store.audit.append(kind, subject, **fields)
        except Exception:  # the audit trail must not break a transaction's end
            logger.exception("could not audit transaction %s", subject)
