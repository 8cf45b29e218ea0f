"""The circuit breaker's state machine: pure, single-threaded, time passed in.

States (resilience4j's): ``closed`` (calls run; outcomes are recorded), ``open`` (calls are
refused until the open period ends), ``half_open`` (at most ``half_open_calls`` probes run; all
succeeding closes the circuit, one failing opens it again), and the operator overrides
``forced_open`` (refuse everything) and ``disabled`` (permit everything, record nothing).

A closed circuit trips on ``consecutive_failures`` in a row, or when the failure rate over a
sliding window — the last ``window_size`` calls, or the calls of the last ``window_size``
seconds — reaches ``failure_rate`` percent once the window holds ``minimum_calls``. Each trip
without a close in between multiplies the open period by ``open_multiplier`` (up to
``open_max_duration``); closing forgets the trips.

Every change of state starts a new *generation*. A call is admitted with the generation it ran
in, and its outcome only counts if the generation is still current: a slow call admitted while
closed that fails after the circuit opened cannot re-open it or take a probe's place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from yesman_recovery.backoff import exponential_delay
from yesman_recovery.resilience import checks
from yesman_recovery.resilience.checks import fmt_seconds

__all__ = ["REFUSED", "BreakerPolicy", "BreakerState", "Circuit", "SlidingWindow", "Transition"]

REFUSED = -1
"""What :meth:`Circuit.acquire` returns for a refused call (admitted calls get a generation)."""


class BreakerState(StrEnum):
    """The states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


class SlidingWindow(StrEnum):
    """What the failure-rate window holds: the last N calls, or the calls of the last N seconds."""

    COUNT = "count"
    TIME = "time"


SLIDING_WINDOW_CHOICES = ", ".join(f'"{w.value}"' for w in SlidingWindow)


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker trips and how long it stays open. Durations are seconds; None is off.

    ``record_on`` are the exceptions that count as failures unless they are in ``ignore_on``
    (an ignored exception is neither success nor failure); cancellation and interrupts are
    always ignored. A call taking ``slow_call_duration`` or longer counts as a failure.
    """

    consecutive_failures: int | None = 5
    failure_rate: float | None = None
    sliding_window: SlidingWindow = SlidingWindow.COUNT
    window_size: int = 100
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    half_open_calls: int = 1
    open_duration: float = 30.0
    open_max_duration: float = 300.0
    open_multiplier: float = 2.0
    record_on: tuple[type[BaseException], ...] = (Exception,)
    ignore_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        window = self.sliding_window
        if not isinstance(window, SlidingWindow):
            if window not in {w.value for w in SlidingWindow}:
                checks.raise_if("sliding_window", window, f"must be {SLIDING_WINDOW_CHOICES}")
            object.__setattr__(self, "sliding_window", SlidingWindow(window))
        raise_if = checks.raise_if
        if self.consecutive_failures is None and self.failure_rate is None:
            raise ValueError(
                "`consecutive_failures` and `failure_rate` are both None: set at least one, "
                "or the breaker can never trip"
            )
        if self.consecutive_failures is not None:
            raise_if("consecutive_failures", self.consecutive_failures,
                     checks.integer_at_least(self.consecutive_failures, 1))  # fmt: skip
        if self.failure_rate is not None:
            raise_if("failure_rate", self.failure_rate, checks.percent(self.failure_rate))
        raise_if("window_size", self.window_size, checks.integer_at_least(self.window_size, 1))
        raise_if("minimum_calls", self.minimum_calls,
                 checks.integer_at_least(self.minimum_calls, 1))  # fmt: skip
        raise_if("slow_call_duration", self.slow_call_duration,
                 checks.seconds(self.slow_call_duration, positive=True, optional=True))  # fmt: skip
        raise_if("half_open_calls", self.half_open_calls,
                 checks.integer_at_least(self.half_open_calls, 1))  # fmt: skip
        raise_if("open_duration", self.open_duration,
                 checks.seconds(self.open_duration, positive=True))  # fmt: skip
        raise_if("open_max_duration", self.open_max_duration,
                 open_max_problem(self.open_max_duration, self.open_duration))  # fmt: skip
        raise_if("open_multiplier", self.open_multiplier,
                 checks.number_at_least(self.open_multiplier, 1))  # fmt: skip


def open_max_problem(open_max_duration: object, open_duration: float) -> str | None:
    """``open_max_duration`` must be a duration >= ``open_duration``."""
    problem = checks.seconds(open_max_duration, positive=True)
    if problem is None and open_max_duration < open_duration:  # type: ignore[operator]
        return f"must be >= open_duration ({fmt_seconds(open_duration)})"
    return problem


@dataclass(frozen=True)
class Transition:
    """A change of state: from, to, why, and when (the circuit's clock)."""

    from_state: BreakerState
    to_state: BreakerState
    reason: str
    at: float


class _CountWindow:
    """The outcomes of the last ``size`` calls in a ring; O(1) per call."""

    def __init__(self, size: int) -> None:
        self.ring = bytearray(size)
        self.next = 0
        self.calls = 0
        self.failures = 0

    def add(self, failed: bool, now: float) -> None:
        ring = self.ring
        if self.calls == len(ring):
            self.failures -= ring[self.next]
        else:
            self.calls += 1
        ring[self.next] = failed
        self.failures += failed
        self.next = (self.next + 1) % len(ring)

    def totals(self, now: float) -> tuple[int, int]:
        return self.calls, self.failures


class _TimeWindow:
    """Calls and failures of the last ``size`` seconds in one-second buckets (resilience4j's)."""

    def __init__(self, size: int) -> None:
        self.second = [-1] * size  # the whole second each bucket holds, -1 = empty
        self.bucket_calls = [0] * size
        self.bucket_failures = [0] * size
        self.calls = 0
        self.failures = 0

    def _bucket(self, now: float) -> int:
        second = int(now)
        index = second % len(self.second)
        if self.second[index] != second:  # a stale bucket: drop what it held
            self.calls -= self.bucket_calls[index]
            self.failures -= self.bucket_failures[index]
            self.second[index], self.bucket_calls[index], self.bucket_failures[index] = second, 0, 0
        return index

    def add(self, failed: bool, now: float) -> None:
        index = self._bucket(now)
        self.bucket_calls[index] += 1
        self.bucket_failures[index] += failed
        self.calls += 1
        self.failures += failed

    def totals(self, now: float) -> tuple[int, int]:
        oldest = int(now) - len(self.second)
        calls = failures = 0
        for index, second in enumerate(self.second):
            if second > oldest:
                calls += self.bucket_calls[index]
                failures += self.bucket_failures[index]
        return calls, failures


class Circuit:
    """The state machine of one breaker. Not thread-safe: its owner serialises the calls.

    ``pending`` collects the transitions made by each method; the owner takes them
    (:meth:`take_transitions`) to report them.
    """

    def __init__(self, policy: BreakerPolicy, now: float = 0.0) -> None:
        self.policy = policy
        self.state = BreakerState.CLOSED
        self.generation = 0  # +1 on every change of state
        self.consecutive = 0  # failures in a row while closed
        self.window: _CountWindow | _TimeWindow = self._new_window()
        self.trips = 0  # opens since the last close: the open-period backoff exponent
        self.open_until = 0.0  # while open: when the next probe may run
        self.probes_running = 0  # while half-open: admitted probes not finished yet
        self.probes_passed = 0  # while half-open: probes that succeeded
        self.pending: list[Transition] = []
        self.since = now  # when the current state began

    def _new_window(self) -> _CountWindow | _TimeWindow:
        size = self.policy.window_size
        return _TimeWindow(size) if self.policy.sliding_window is SlidingWindow.TIME else (
            _CountWindow(size)
        )  # fmt: skip

    # --- calls --------------------------------------------------------------------------

    def acquire(self, now: float) -> int:
        """Admit a call (its generation) or refuse it (:data:`REFUSED`)."""
        state = self.state
        if state is BreakerState.CLOSED or state is BreakerState.DISABLED:
            return self.generation
        if state is BreakerState.OPEN:
            if now < self.open_until:
                return REFUSED
            self._move(BreakerState.HALF_OPEN, now, "the open period ended: probing")
        elif state is BreakerState.FORCED_OPEN:
            return REFUSED
        if self.probes_running + self.probes_passed >= self.policy.half_open_calls:
            return REFUSED
        self.probes_running += 1
        return self.generation

    def record(self, generation: int, now: float, *, failed: bool) -> None:
        """The outcome of a call admitted in ``generation``."""
        if generation != self.generation:
            return  # admitted under an earlier state: its outcome no longer says anything
        state = self.state
        if state is BreakerState.CLOSED:
            window = self.window
            window.add(failed, now)
            self.consecutive = self.consecutive + 1 if failed else 0
            limit = self.policy.consecutive_failures
            if limit is not None and self.consecutive >= limit:
                self._trip(now, f"{self.consecutive} consecutive failures")
                return
            # Judged after successes too: the minimum number of calls may be reached by one.
            threshold = self.policy.failure_rate
            if threshold is not None:
                calls, failures = window.totals(now)
                if calls >= self.policy.minimum_calls and failures * 100 >= threshold * calls:
                    self._trip(
                        now,
                        f"failure rate {failures * 100 / calls:.0f}% >= {threshold:g}% over "
                        f"{calls} calls",
                    )
        elif state is BreakerState.HALF_OPEN:
            self.probes_running -= 1
            if failed:
                self._trip(now, "a half-open probe failed")
                return
            self.probes_passed += 1
            if self.probes_passed >= self.policy.half_open_calls:
                self._close(now, f"{self.probes_passed} half-open probe(s) succeeded")

    def release(self, generation: int) -> None:
        """A call admitted in ``generation`` ended without an outcome (ignored, cancelled)."""
        if generation == self.generation and self.state is BreakerState.HALF_OPEN:
            self.probes_running -= 1

    # --- operator overrides -------------------------------------------------------------

    def force_open(self, now: float, reason: str) -> None:
        """Refuse every call until :meth:`close` or :meth:`reset`."""
        self._move(BreakerState.FORCED_OPEN, now, reason)

    def disable(self, now: float, reason: str) -> None:
        """Permit every call and record nothing until :meth:`close` or :meth:`reset`."""
        self._move(BreakerState.DISABLED, now, reason)

    def close(self, now: float, reason: str) -> None:
        """Closed, with an empty window; earlier trips still lengthen the next open period."""
        trips = self.trips
        self._close(now, reason)
        self.trips = trips

    def reset(self, now: float, reason: str) -> None:
        """Closed as new: empty window, no trips remembered (reported even if already closed)."""
        self._close(now, reason, always=True)

    # --- reading ------------------------------------------------------------------------

    def retry_in(self, now: float) -> float | None:
        """Seconds until an open circuit lets a probe through; None unless open."""
        return max(0.0, self.open_until - now) if self.state is BreakerState.OPEN else None

    def snapshot(self, now: float) -> dict[str, Any]:
        """The figures ``breakers list`` and ``/status`` show."""
        calls, failures = self.window.totals(now)
        rate = failures * 100 / calls if calls >= self.policy.minimum_calls else None
        return {
            "state": self.state.value,
            "since_seconds": max(0.0, now - self.since),
            "retry_in_seconds": self.retry_in(now),
            "consecutive_failures": self.consecutive,
            "window_calls": calls,
            "window_failures": failures,
            "failure_rate": rate,
            "trips": self.trips,
        }

    def take_transitions(self) -> list[Transition]:
        """The transitions made since the last call, oldest first."""
        taken, self.pending = self.pending, []
        return taken

    # --- moves --------------------------------------------------------------------------

    def _trip(self, now: float, reason: str) -> None:
        policy = self.policy
        self.trips += 1
        period = exponential_delay(
            self.trips, policy.open_duration, policy.open_max_duration, policy.open_multiplier
        )
        self.open_until = now + period
        self._move(BreakerState.OPEN, now, f"{reason}; open for {fmt_seconds(period)}")

    def _close(self, now: float, reason: str, *, always: bool = False) -> None:
        self.trips = 0
        self.consecutive = 0
        self.window = self._new_window()
        self._move(BreakerState.CLOSED, now, reason, always=always)

    def _move(self, to: BreakerState, now: float, reason: str, *, always: bool = False) -> None:
        if to is self.state and not always:
            return
        self.pending.append(Transition(self.state, to, reason, now))
        self.state = to
        self.since = now
        self.generation += 1
        self.probes_running = 0
        self.probes_passed = 0
