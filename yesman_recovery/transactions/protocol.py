"""The journal protocol: given a transaction's records, what is its state and what comes next.

Pure functions, no threads, no store: :func:`replay` folds the records into a
:class:`TransactionView`, :func:`decide` turns a view into the one :class:`Decision` to carry
out next. The actor that runs a transaction appends one record, calls :func:`decide` again, and
so on; recovery after a crash calls the very same functions on what the journal holds.

The records of one transaction, in order::

    begin {name, owner, policy, steps}
      intent {step, attempt}            before the step's side effect, durably
      done {step, result}               or  failed {step, attempt, error, final, possibly_executed}
      ...
    committed                           every step done (terminal)

    aborted {reason}                    a step failed for good, or a restart chose to undo
      undo {step, attempt}              before the compensation runs, durably
      undone {step}                     or  undo_failed {step, attempt, error}
      ...
    compensated                         every step that may have run is undone (terminal)
    parked {reason, step}               a compensation kept failing, or the journal cannot be
                                        trusted: an operator decides
    retry {by}                          an operator reopened a parked transaction
    abandoned {reason}                  an operator gave up on it (terminal)

Decisions and why:

- **A step that may have run is undone.** A step whose last record is ``intent`` (the process
  died during the side effect) or whose failure was a timeout may have taken effect; its
  compensation runs with the same idempotency key, so it must be idempotent. A step that
  raised is assumed to have had no effect and is not compensated.
- **Each step is undone once.** ``undone`` marks it; an ``undo`` without ``undone`` (a crash
  during the compensation) runs the compensation again, with the same key.
- **After a restart** an unfinished transaction is compensated, unless its policy (or the
  configuration's ``on_restart``) is ``resume`` and its next step is safe to run: it never
  started, or it is idempotent. Once ``aborted`` is written the transaction only goes back.
- **Parked is not terminal in the journal** (only ``committed``, ``compensated`` and
  ``abandoned`` are): an operator's ``retry`` or ``abandon`` still has to be appended after it,
  and compaction never drops a parked transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from yesman_recovery.config.transactions import RetrySettings
from yesman_recovery.storage import JournalRecord

BEGIN, INTENT, DONE, FAILED = "begin", "intent", "done", "failed"
ABORTED, UNDO, UNDONE, UNDO_FAILED = "aborted", "undo", "undone", "undo_failed"
PARKED, RETRY = "parked", "retry"
COMMITTED, COMPENSATED, ABANDONED = "committed", "compensated", "abandoned"
TERMINAL_KINDS = frozenset({COMMITTED, COMPENSATED, ABANDONED})
KINDS = frozenset(
    {BEGIN, INTENT, DONE, FAILED, ABORTED, UNDO, UNDONE, UNDO_FAILED, PARKED, RETRY}
    | TERMINAL_KINDS
)


class TxState(enum.StrEnum):
    """Where a transaction is, as ``transactions list`` shows it."""

    RUNNING = "running"
    """Not finished: running now, or waiting for its owner to start again."""
    COMMITTED = "committed"
    COMPENSATED = "compensated"
    PARKED = "parked"
    """Waiting for an operator: ``transactions retry`` or ``transactions abandon``."""
    ABANDONED = "abandoned"


class ProtocolError(ValueError):
    """The records do not form a valid transaction (damaged or written by something else)."""


@dataclass(frozen=True)
class PlannedStep:
    """One step as ``begin`` recorded it: names, arguments, and how it may be run."""

    action: str
    args: dict[str, Any]
    compensate: str | None
    idempotent: bool
    timeout: float | None
    retry: RetrySettings

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "args": self.args,
            "compensate": self.compensate,
            "idempotent": self.idempotent,
            "timeout": self.timeout,
            "retry": self.retry.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> PlannedStep:
        try:
            return cls(
                action=str(data["action"]),
                args=dict(data["args"]),
                compensate=data.get("compensate"),
                idempotent=bool(data.get("idempotent", False)),
                timeout=data.get("timeout"),
                retry=RetrySettings.from_json(data.get("retry")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"a step of the begin record is malformed: {exc!r}") from None


@dataclass
class TransactionView:
    """What the records of one transaction say; built by :func:`replay`."""

    id: str
    name: str
    owner: str
    policy: str | None
    steps: tuple[PlannedStep, ...]
    started: float
    state: TxState = TxState.RUNNING
    ended: float | None = None  # time of the terminal or parked record
    results: dict[int, Any] = field(default_factory=dict)  # step -> result, for done steps
    attempts: dict[int, int] = field(default_factory=dict)  # step -> intents written
    last: dict[int, str] = field(default_factory=dict)  # step -> kind of its last forward record
    failures: dict[int, dict[str, Any]] = field(default_factory=dict)  # step -> last failed data
    maybe_ran: set[int] = field(default_factory=set)  # failed in a way that may have had effect
    aborted: str | None = None  # the abort reason, once aborted
    undone: set[int] = field(default_factory=set)
    undo_open: set[int] = field(default_factory=set)  # undo written, no outcome yet
    undo_failures: dict[int, list[str]] = field(default_factory=dict)  # since the last retry
    reason: str | None = None  # why it parked / was abandoned

    def with_records(self, records: Iterable[JournalRecord]) -> TransactionView:
        """A copy of this view with ``records`` folded in (this one is unchanged)."""
        view = replace(
            self,
            results=dict(self.results),
            attempts=dict(self.attempts),
            last=dict(self.last),
            failures=dict(self.failures),
            maybe_ran=set(self.maybe_ran),
            undone=set(self.undone),
            undo_open=set(self.undo_open),
            undo_failures={k: list(v) for k, v in self.undo_failures.items()},
        )
        for record in records:
            apply(view, record)
        return view

    @property
    def finished(self) -> bool:
        """True iff nothing more happens without an operator (terminal or parked)."""
        return self.state is not TxState.RUNNING

    def to_undo(self) -> list[int]:
        """Steps that may have taken effect and have a compensation, last step first."""
        out = []
        for index in reversed(range(len(self.steps))):
            ran = (
                index in self.results or self.last.get(index) == INTENT or (index in self.maybe_ran)
            )
            if ran and self.steps[index].compensate is not None:
                out.append(index)
        return out


def _step_index(view: TransactionView, data: Any, kind: str) -> int:
    index = data.get("step") if isinstance(data, dict) else None
    if not isinstance(index, int) or not 0 <= index < len(view.steps):
        raise ProtocolError(f"{view.id}: {kind} record names no valid step: {data!r}")
    return index


def replay(transaction: str, records: Sequence[JournalRecord]) -> TransactionView:
    """Fold ``records`` (in append order) into a view; :class:`ProtocolError` if malformed."""
    if not records or records[0].kind != BEGIN or not isinstance(records[0].data, dict):
        raise ProtocolError(f"{transaction}: the journal does not start with a begin record")
    begin = records[0].data
    steps = begin.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ProtocolError(f"{transaction}: the begin record has no steps")
    view = TransactionView(
        id=transaction,
        name=str(begin.get("name", "")),
        owner=str(begin.get("owner", "")),
        policy=begin.get("policy"),
        steps=tuple(PlannedStep.from_json(s) for s in steps),
        started=records[0].time,
    )
    for record in records[1:]:
        apply(view, record)
    return view


def apply(view: TransactionView, record: JournalRecord) -> None:
    """Fold one more record into ``view`` (what :func:`replay` does for each)."""
    kind, data = record.kind, record.data
    if kind not in KINDS or kind == BEGIN:
        raise ProtocolError(f"{view.id}: unexpected {kind!r} record")
    if view.state in (TxState.COMMITTED, TxState.COMPENSATED, TxState.ABANDONED):
        raise ProtocolError(f"{view.id}: a {kind!r} record follows the terminal record")
    if kind == INTENT:
        index = _step_index(view, data, kind)
        view.attempts[index] = view.attempts.get(index, 0) + 1
        view.last[index] = INTENT
    elif kind == DONE:
        index = _step_index(view, data, kind)
        view.results[index] = data.get("result")
        view.last[index] = DONE
    elif kind == FAILED:
        index = _step_index(view, data, kind)
        view.failures[index] = data
        view.last[index] = FAILED
        if data.get("possibly_executed"):
            view.maybe_ran.add(index)
    elif kind == ABORTED:
        view.aborted = str(data.get("reason", "")) if isinstance(data, dict) else "aborted"
    elif kind == UNDO:
        view.undo_open.add(_step_index(view, data, kind))
    elif kind == UNDONE:
        index = _step_index(view, data, kind)
        view.undo_open.discard(index)
        view.undone.add(index)
    elif kind == UNDO_FAILED:
        index = _step_index(view, data, kind)
        view.undo_open.discard(index)
        view.undo_failures.setdefault(index, []).append(str(data.get("error", "")))
    elif kind == PARKED:
        view.state = TxState.PARKED
        view.reason = str(data.get("reason", "")) if isinstance(data, dict) else ""
        view.ended = record.time
    elif kind == RETRY:
        view.state = TxState.RUNNING
        view.undo_failures.clear()  # an operator's retry grants a fresh set of attempts
        view.reason = None
        view.ended = None
    else:  # a terminal record
        view.state = {
            COMMITTED: TxState.COMMITTED,
            COMPENSATED: TxState.COMPENSATED,
            ABANDONED: TxState.ABANDONED,
        }[kind]
        view.ended = record.time
        if kind == ABANDONED and isinstance(data, dict):
            view.reason = str(data.get("reason", ""))


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStep:
    """Write ``intent``, run step ``index`` (attempt ``attempt``) after ``delay`` seconds."""

    index: int
    attempt: int
    delay: float = 0.0


@dataclass(frozen=True)
class Compensate:
    """Write ``undo``, run step ``index``'s compensation after ``delay`` seconds."""

    index: int
    attempt: int
    delay: float = 0.0


@dataclass(frozen=True)
class Abort:
    """Write ``aborted`` with ``reason``; compensation follows."""

    reason: str


@dataclass(frozen=True)
class Finish:
    """Write the terminal record ``kind`` (committed or compensated)."""

    kind: str


@dataclass(frozen=True)
class Park:
    """Write ``parked``: an operator must retry or abandon it."""

    reason: str
    step: int | None = None


@dataclass(frozen=True)
class Idle:
    """Nothing to do: the transaction is terminal or parked."""


Decision = RunStep | Compensate | Abort | Finish | Park | Idle


def decide(
    view: TransactionView,
    *,
    recovering: bool,
    on_restart: str = "compensate",
    compensation_retry: RetrySettings = RetrySettings(),  # noqa: B008 (frozen, never mutated)
) -> Decision:
    """The next thing to do for ``view``.

    ``recovering`` is True for the first decision of a process that found the transaction
    unfinished (after a crash, a stop, or an operator's retry): then it is compensated unless
    its policy — or ``on_restart`` when it chose none — says ``resume`` and the next step is
    safe to run again.
    """
    if view.finished:
        return Idle()
    if view.aborted is None:
        forward = _forward(view, recovering, view.policy or on_restart)
        if forward is not None:
            return forward
    return _backward(view, compensation_retry)


def _forward(view: TransactionView, recovering: bool, policy: str) -> Decision | None:
    for index, step in enumerate(view.steps):
        if index in view.results:
            continue
        label = f"step {index} ({step.action})"
        last = view.last.get(index)
        tried = view.attempts.get(index, 0)
        failure = view.failures.get(index, {})
        if last == FAILED and (failure.get("final") or tried >= step.retry.attempts):
            return Abort(f"{label} failed: {failure.get('error', '')}")
        # Running it (again) is safe if it never ran, if it is idempotent, or if its last
        # attempt raised (no effect) rather than timing out (effect unknown).
        safe = step.idempotent or last is None or (last == FAILED and index not in view.maybe_ran)
        if last == FAILED and not safe:
            return Abort(f"{label} timed out and is not idempotent: {failure.get('error', '')}")
        if recovering:
            if policy != "resume":
                return Abort(f"unfinished at start ({label} next); compensating")
            if not safe:
                return Abort(f"{label} was interrupted and is not idempotent; compensating")
        elif last == INTENT:
            # Only a crash leaves an intent without an outcome; a live actor never asks here.
            return Abort(f"{label} was interrupted; compensating")
        return RunStep(index, tried + 1, step.retry.delay(tried) if last == FAILED else 0.0)
    return Finish(COMMITTED)


def _backward(view: TransactionView, retry: RetrySettings) -> Decision:
    for index in view.to_undo():
        if index in view.undone:
            continue
        failures = view.undo_failures.get(index, [])
        if len(failures) >= retry.attempts and index not in view.undo_open:
            action = view.steps[index].compensate
            return Park(
                f"compensation {action} of step {index} failed {len(failures)} times; "
                f"last error: {failures[-1]}",
                index,
            )
        return Compensate(index, len(failures) + 1, retry.delay(len(failures)))
    return Finish(COMPENSATED)


def terminal_records(records: Iterable[JournalRecord]) -> list[JournalRecord]:
    """The records that end a transaction for good (at most one in a sound journal)."""
    return [r for r in records if r.kind in TERMINAL_KINDS]
