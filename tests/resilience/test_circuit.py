"""The breaker's state machine against a simple model, and its sliding windows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.resilience.conftest import state_of
from yesman_recovery.resilience import BreakerPolicy, BreakerState, Circuit, SlidingWindow
from yesman_recovery.resilience.circuit import REFUSED

POLICY = BreakerPolicy(
    consecutive_failures=3,
    failure_rate=50,
    window_size=5,
    minimum_calls=4,
    half_open_calls=2,
    open_duration=10.0,
    open_max_duration=35.0,
    open_multiplier=2.0,
)


@dataclass
class Model:
    """The breaker as its documentation says it behaves, with plain lists and no cleverness."""

    state: str = "closed"
    epoch: int = 0
    outcomes: list[bool] = field(default_factory=list)  # last window_size outcomes, True = failed
    consecutive: int = 0
    trips: int = 0
    open_until: float = 0.0
    probes_running: int = 0
    probes_passed: int = 0

    def move(self, state: str, *, always: bool = False) -> None:
        if state != self.state or always:
            self.state = state
            self.epoch += 1
            self.probes_running = self.probes_passed = 0

    def trip(self, now: float) -> None:
        self.trips += 1
        self.open_until = now + min(35.0, 10.0 * 2.0 ** (self.trips - 1))
        self.move("open")

    def close(self, *, keep_trips: bool = False, always: bool = False) -> None:
        trips = self.trips
        self.trips, self.outcomes, self.consecutive = 0, [], 0
        self.move("closed", always=always)
        if keep_trips:
            self.trips = trips

    def acquire(self, now: float) -> int | None:
        if self.state in ("closed", "disabled"):
            return self.epoch
        if self.state == "forced_open" or (self.state == "open" and now < self.open_until):
            return None
        if self.state == "open":
            self.move("half_open")
        if self.probes_running + self.probes_passed >= 2:
            return None
        self.probes_running += 1
        return self.epoch

    def record(self, epoch: int, now: float, failed: bool) -> None:
        if epoch != self.epoch:
            return
        if self.state == "closed":
            self.outcomes = [*self.outcomes, failed][-5:]
            self.consecutive = self.consecutive + 1 if failed else 0
            rate_trips = len(self.outcomes) >= 4 and sum(self.outcomes) * 2 >= len(self.outcomes)
            if self.consecutive >= 3 or rate_trips:
                self.trip(now)
        elif self.state == "half_open":
            self.probes_running -= 1
            if failed:
                self.trip(now)
            else:
                self.probes_passed += 1
                if self.probes_passed >= 2:
                    self.close()


class BreakerAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.circuit = Circuit(POLICY, self.now)
        self.model = Model()
        self.running: list[tuple[int | None, int]] = []  # (model epoch, circuit generation)

    @rule()
    def start_call(self) -> None:
        expected = self.model.acquire(self.now)
        got = self.circuit.acquire(self.now)
        assert (got != REFUSED) == (expected is not None)
        if expected is not None:
            self.running.append((expected, got))

    @precondition(lambda self: self.running)
    @rule(index=st.integers(min_value=0), failed=st.booleans())
    def finish_call(self, index: int, failed: bool) -> None:
        epoch, generation = self.running.pop(index % len(self.running))
        assert epoch is not None
        self.model.record(epoch, self.now, failed)
        self.circuit.record(generation, self.now, failed=failed)

    @rule(seconds=st.sampled_from([0.5, 3.0, 10.0, 20.0, 40.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def force_open(self) -> None:
        self.model.move("forced_open")
        self.circuit.force_open(self.now, "test")

    @rule()
    def disable(self) -> None:
        self.model.move("disabled")
        self.circuit.disable(self.now, "test")

    @rule()
    def close(self) -> None:
        self.model.close(keep_trips=True)
        self.circuit.close(self.now, "test")

    @rule()
    def reset(self) -> None:
        self.model.close(always=True)
        self.circuit.reset(self.now, "test")

    @invariant()
    def same_state(self) -> None:
        assert self.circuit.state.value == self.model.state
        assert self.circuit.trips == self.model.trips
        assert self.circuit.probes_running + self.circuit.probes_passed <= 2
        if self.model.state == "open":
            assert self.circuit.retry_in(self.now) == max(0.0, self.model.open_until - self.now)

    @invariant()
    def transitions_chain(self) -> None:
        moved = self.circuit.take_transitions()
        for before, after in itertools.pairwise(moved):
            assert before.to_state is after.from_state


BreakerAgainstModel.TestCase.settings = settings(max_examples=200, stateful_step_count=60,
                                                 deadline=None)  # fmt: skip
TestBreakerAgainstModel = BreakerAgainstModel.TestCase


# --- examples a reader can follow ---------------------------------------------------------


def _fail(circuit: Circuit, now: float, times: int) -> None:
    for _ in range(times):
        circuit.record(circuit.acquire(now), now, failed=True)


def test_the_open_period_grows_on_repeated_trips_and_resets_after_a_close() -> None:
    circuit = Circuit(BreakerPolicy(consecutive_failures=1, open_duration=10,
                                    open_max_duration=25, open_multiplier=2))  # fmt: skip
    now = 0.0
    periods = []
    for _ in range(4):
        _fail(circuit, now, 1)
        periods.append(circuit.retry_in(now))
        now += 100  # past any open period: the next call is a probe, and it fails
    assert periods == [10, 20, 25, 25]
    circuit.record(circuit.acquire(now), now, failed=False)  # a probe succeeds: closed
    assert state_of(circuit) is BreakerState.CLOSED
    _fail(circuit, now, 1)
    assert circuit.retry_in(now) == 10


def test_the_failure_rate_needs_the_minimum_number_of_calls() -> None:
    circuit = Circuit(BreakerPolicy(consecutive_failures=None, failure_rate=50,
                                    window_size=10, minimum_calls=4))  # fmt: skip
    _fail(circuit, 0, 3)
    assert state_of(circuit) is BreakerState.CLOSED  # 100 % of 3 calls: too few to judge
    circuit.record(circuit.acquire(0), 0, failed=False)
    assert state_of(circuit) is BreakerState.OPEN  # 75 % of 4 calls
    assert "failure rate 75% >= 50% over 4 calls" in circuit.take_transitions()[-1].reason


def test_a_time_window_forgets_calls_older_than_its_size() -> None:
    circuit = Circuit(BreakerPolicy(consecutive_failures=None, failure_rate=50,
                                    sliding_window=SlidingWindow.TIME, window_size=10,
                                    minimum_calls=4))  # fmt: skip
    _fail(circuit, 0.0, 3)
    for t in (20.0, 20.5, 21.0):  # the three failures at 0 s fell out of the 10 s window
        circuit.record(circuit.acquire(t), t, failed=False)
    _fail(circuit, 21.5, 1)
    assert state_of(circuit) is BreakerState.CLOSED  # 1 failure in 4 calls
    assert circuit.snapshot(21.5)["window_calls"] == 4
    assert circuit.snapshot(100.0)["window_calls"] == 0


def test_an_outcome_from_before_a_transition_counts_for_nothing() -> None:
    circuit = Circuit(BreakerPolicy(consecutive_failures=2, half_open_calls=1, open_duration=1))
    slow = circuit.acquire(0)  # admitted while closed, still running
    _fail(circuit, 0, 2)
    assert state_of(circuit) is BreakerState.OPEN
    probe = circuit.acquire(5)
    assert state_of(circuit) is BreakerState.HALF_OPEN
    circuit.record(slow, 5, failed=True)  # the old call fails late: not the probe's outcome
    assert state_of(circuit) is BreakerState.HALF_OPEN
    circuit.record(probe, 5, failed=False)
    assert state_of(circuit) is BreakerState.CLOSED


def test_the_policy_refuses_bad_values_in_the_words_of_the_config() -> None:
    with pytest.raises(ValueError, match=r"`failure_rate` = 0: must be a percentage in \(0, 100\]"):
        BreakerPolicy(failure_rate=0)
    with pytest.raises(ValueError, match=r"`failure_rate` = 101"):
        BreakerPolicy(failure_rate=101)
    with pytest.raises(ValueError, match=r"`minimum_calls` = 0: must be an integer >= 1"):
        BreakerPolicy(minimum_calls=0)
    with pytest.raises(ValueError, match="both None"):
        BreakerPolicy(consecutive_failures=None, failure_rate=None)
    with pytest.raises(ValueError, match=r"`open_max_duration` = 5: must be >= open_duration"):
        BreakerPolicy(open_duration=10, open_max_duration=5)
    with pytest.raises(ValueError, match=r"`sliding_window` = 'sliding'"):
        BreakerPolicy(sliding_window="sliding")  # type: ignore[arg-type]
