"""``CircuitBreaker``: the thread- and task-safe front of a :class:`Circuit`.

The lock guards the state machine for a few operations before and after a call and is
**never held while the protected call runs**, so concurrent calls through one breaker run
concurrently (pybreaker holds its lock around the call and serialises them), and an ``async``
call never blocks the event loop on it. Metrics are updated under the lock so the state gauge
always shows the state the machine is in; transitions are then logged, written to the audit
trail and passed to listeners outside it, on the thread whose call caused them (an audit write
is a durable LMDB commit, ~0.4 ms, once per transition).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from yesman_recovery.errors import CallNotPermitted
from yesman_recovery.labels import AuditKind
from yesman_recovery.resilience.circuit import (
    REFUSED,
    BreakerPolicy,
    BreakerState,
    Circuit,
    Transition,
)
from yesman_recovery.resilience.retry import decorate

if TYPE_CHECKING:
    from yesman_recovery.metrics.definitions import RecoveryMetrics

__all__ = ["AuditSink", "CircuitBreaker"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

NEVER_COUNTED: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)
"""Exceptions that say nothing about the dependency: neither success nor failure."""

CALL_KINDS = ("successful", "failed", "not_permitted", "slow")


class AuditSink(Protocol):
    """Where transitions are recorded: ``store.audit`` has this method."""

    def append(
        self, kind: str, subject: str, *, detail: str = ..., action: str = ..., outcome: str = ...
    ) -> str: ...


class CircuitBreaker:
    """A named circuit breaker; a decorator and call wrapper for plain and ``async`` callables.

    ``audit`` records every transition (``kind="breaker"``, subject the name, outcome the new
    state); ``listeners`` are called with ``(breaker, transition)`` after each one — both run
    outside the lock and their errors are logged, never raised into the call. ``clock`` is for
    tests. The metric series of ``name`` are created here: calls at 0, the state gauge 1 for
    ``closed`` and 0 for the other states, every transition at 0.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        metrics: RecoveryMetrics | None = None,
        audit: AuditSink | None = None,
        listeners: tuple[Callable[[CircuitBreaker, Transition], None], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")
        self.name = name
        self.policy = policy = policy if policy is not None else BreakerPolicy()
        self.audit = audit
        self.listeners = list(listeners)
        self._clock = clock
        self._lock = threading.Lock()
        self._circuit = Circuit(policy, clock())  # guarded by _lock
        self._recorded = policy.record_on
        self._ignored = (*NEVER_COUNTED, *policy.ignore_on)
        self._slow = policy.slow_call_duration
        if metrics is None:
            from yesman_recovery.metrics.definitions import default_metrics

            metrics = default_metrics()
        self.metrics = metrics
        self._calls = {kind: metrics.breaker_calls.labels(name, kind) for kind in CALL_KINDS}
        self._state_gauges = {s: metrics.breaker_state.labels(name, s.value) for s in BreakerState}
        for state, gauge in self._state_gauges.items():
            gauge.set(1 if state is BreakerState.CLOSED else 0)
        for src in BreakerState:
            for dst in BreakerState:
                if src is not dst:
                    metrics.breaker_transitions.labels(name, src.value, dst.value)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state.value!r})"

    @property
    def state(self) -> BreakerState:
        """The current state (an open circuit whose period ended still reads ``open`` until
        the next call asks)."""
        return self._circuit.state

    # --- calling ------------------------------------------------------------------------

    def _acquire(self) -> tuple[int, float]:
        now = self._clock()
        with self._lock:
            circuit = self._circuit
            generation = circuit.acquire(now)
            moved = circuit.take_transitions() if circuit.pending else None
            if moved:
                self._count_transitions(moved)
            if generation == REFUSED:
                self._calls["not_permitted"].inc()
                retry_in = circuit.retry_in(now)
                state = circuit.state.value
        if moved:
            self._report(moved)
        if generation == REFUSED:
            raise CallNotPermitted(self.name, state, retry_in)
        return generation, now

    def _finish(self, generation: int, started: float, exc: BaseException | None) -> None:
        now = self._clock()
        if exc is not None and (
            isinstance(exc, self._ignored) or not isinstance(exc, self._recorded)
        ):
            with self._lock:
                self._circuit.release(generation)
            return
        failed = exc is not None
        slow = self._slow is not None and now - started >= self._slow
        with self._lock:
            circuit = self._circuit
            circuit.record(generation, now, failed=failed or slow)
            self._calls["failed" if failed else "successful"].inc()
            if slow:
                self._calls["slow"].inc()
            moved = circuit.take_transitions() if circuit.pending else None
            if moved:
                self._count_transitions(moved)
        if moved:
            self._report(moved)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn`` if the breaker permits; raises :class:`CallNotPermitted` otherwise."""
        generation, started = self._acquire()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._finish(generation, started, exc)
            raise
        self._finish(generation, started, None)
        return result

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn`` if the breaker permits; a cancelled call frees its probe slot."""
        generation, started = self._acquire()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._finish(generation, started, exc)
            raise
        self._finish(generation, started, None)
        return result

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a function or coroutine function so every call goes through the breaker."""
        return decorate(fn, self.call, self.acall)

    # --- operator overrides -------------------------------------------------------------

    def force_open(self, reason: str = "forced open") -> None:
        """Refuse every call until :meth:`close` or :meth:`reset` (``breakers open``)."""
        self._override(lambda c, now: c.force_open(now, reason))

    def disable(self, reason: str = "disabled") -> None:
        """Permit every call and never trip until :meth:`close` or :meth:`reset`."""
        self._override(lambda c, now: c.disable(now, reason))

    def close(self, reason: str = "closed by request") -> None:
        """Back to normal operation (``breakers close``); past trips still lengthen the next
        open period."""
        self._override(lambda c, now: c.close(now, reason))

    def reset(self, reason: str = "reset") -> None:
        """Closed as new, forgetting every outcome and past trip (``breakers reset``)."""
        self._override(lambda c, now: c.reset(now, reason))

    def _override(self, move: Callable[[Circuit, float], None]) -> None:
        now = self._clock()
        with self._lock:
            move(self._circuit, now)
            moved = self._circuit.take_transitions()
            self._count_transitions(moved)
        self._report(moved)

    # --- reading and reporting ----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Name, state and window figures as JSON-able data (``breakers list``, ``/status``)."""
        now = self._clock()
        with self._lock:
            snapshot = self._circuit.snapshot(now)
        return {"name": self.name, **snapshot}

    def _count_transitions(self, moved: list[Transition]) -> None:
        # Under the lock: the gauges follow the machine in order, whatever the threads do.
        for t in moved:
            if t.from_state is not t.to_state:
                self._state_gauges[t.from_state].set(0)
                self._state_gauges[t.to_state].set(1)
                self.metrics.breaker_transitions.labels(
                    self.name, t.from_state.value, t.to_state.value
                ).inc()

    def _report(self, moved: list[Transition]) -> None:
        for t in moved:
            logger.warning(
                "circuit breaker %r: %s -> %s (%s)",
                self.name, t.from_state.value, t.to_state.value, t.reason,
            )  # fmt: skip
            if self.audit is not None:
                try:
                    self.audit.append(
                        AuditKind.BREAKER,
                        self.name,
                        detail=f"{t.from_state.value} -> {t.to_state.value}: {t.reason}",
                        action="transition",
                        outcome=t.to_state.value,
                    )
                except Exception:  # a full disk must not turn a transition into a failed call
                    logger.exception("could not record breaker %r's transition", self.name)
            for listener in self.listeners:
                try:
                    listener(self, t)
                except Exception:
                    logger.exception("a listener of breaker %r failed", self.name)
