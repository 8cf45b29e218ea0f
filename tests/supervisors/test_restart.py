"""The pure restart logic against simple models (hypothesis), and spec validation."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, Supervisor
from yesman_recovery.errors import SupervisorError
from yesman_recovery.supervisors import ExitKind, ExitReason, IntensityWindow
from yesman_recovery.supervisors.restart import affected_children, should_restart

from .probes import Log, Probe, probe

REASONS = st.sampled_from(list(ExitKind)).map(ExitReason)
IDS = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=1, max_size=8, unique=True)


class IntensityModel(RuleBasedStateMachine):
    """IntensityWindow against a model that keeps every restart time and counts by brute force."""

    @initialize(
        max_restarts=st.integers(0, 5),
        # Exact binary fractions too, so restarts land exactly `max_seconds` apart.
        max_seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0]) | st.floats(0.5, 20.0),
    )
    def setup(self, max_restarts: int, max_seconds: float) -> None:
        self.window = IntensityWindow(max_restarts, max_seconds)
        self.now = 0.0
        self.stamps: list[float] = []

    def in_window(self) -> int:
        return sum(1 for s in self.stamps if self.now - s < self.window.max_seconds)

    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.5]) | st.floats(0.0, 10.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    @rule()
    def restart(self) -> None:
        self.stamps.append(self.now)
        gave_up = self.window.record(self.now)
        assert gave_up == (self.in_window() > self.window.max_restarts)

    @invariant()
    def count_matches_the_model(self) -> None:
        if hasattr(self, "window"):
            assert self.window.count(self.now) == self.in_window()


TestIntensityWindow = IntensityModel.TestCase
TestIntensityWindow.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


class RestartDecisions(RuleBasedStateMachine):
    """A supervisor's pure pipeline (decide, then which children) against a model of OTP's rules.

    The model tracks which children are running; an exit of one child either leaves it down
    (``temporary`` always, ``transient`` after a normal exit) or takes down and restarts the
    group the strategy names, which must contain the child and keep start order.
    """

    @initialize(
        strategy=st.sampled_from(list(Strategy)),
        types=st.lists(st.sampled_from(list(Restart)), min_size=1, max_size=6),
    )
    def setup(self, strategy: Strategy, types: list[Restart]) -> None:
        self.strategy = strategy
        self.order = [f"c{i}" for i in range(len(types))]
        self.types = dict(zip(self.order, types, strict=True))
        self.running = set(self.order)

    @rule(data=st.data(), reason=REASONS)
    def child_exits(self, data: st.DataObject, reason: ExitReason) -> None:
        if not self.running:
            return
        live = [c for c in self.order if c in self.running]
        failed = data.draw(st.sampled_from(live))
        restart = should_restart(self.types[failed], reason)
        expected = {
            Restart.PERMANENT: True,
            Restart.TRANSIENT: reason.kind in (ExitKind.CRASHED, ExitKind.START_FAILED),
            Restart.TEMPORARY: False,
        }[self.types[failed]]
        assert restart == expected
        if not restart:
            self.running.discard(failed)
            return
        group = affected_children(self.strategy, live, failed)
        model = {
            Strategy.ONE_FOR_ONE: [failed],
            Strategy.ONE_FOR_ALL: live,
            Strategy.REST_FOR_ONE: live[live.index(failed) :],
        }[self.strategy]
        assert group == model
        self.running |= set(group)

    @rule(child=st.integers(0, 5))
    def operator_restarts(self, child: int) -> None:
        if child < len(self.order):
            self.running.add(self.order[child])


TestRestartDecisions = RestartDecisions.TestCase
TestRestartDecisions.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@given(strategy=st.sampled_from(list(Strategy)), order=IDS, data=st.data())
def test_affected_children_is_an_ordered_slice_containing_the_failed(
    strategy: Strategy, order: list[str], data: st.DataObject
) -> None:
    failed = data.draw(st.sampled_from(order))
    group = affected_children(strategy, order, failed)
    assert failed in group
    start = order.index(group[0])
    assert group == order[start : start + len(group)]


def test_affected_children_refuses_an_unknown_child() -> None:
    with pytest.raises(ValueError, match=r"`failed` \('x'\) is not one of the children"):
        affected_children(Strategy.ONE_FOR_ONE, ["a"], "x")


@given(
    initial=st.floats(0.001, 10.0),
    factor=st.floats(1.0, 4.0),
    cap=st.floats(1.0, 1000.0),
    n=st.integers(1, 10_000),
)
def test_backoff_base_delay_follows_the_formula_capped(
    initial: float, factor: float, cap: float, n: int
) -> None:
    backoff = Backoff(initial=initial, max=max(cap, initial), multiplier=factor, jitter=0.0)
    delay = backoff.base_delay(n)
    assert initial <= delay <= backoff.max
    exact = math.log(initial) + (n - 1) * math.log(factor)
    if exact < math.log(backoff.max) - 1e-9:
        assert delay == pytest.approx(initial * factor ** (n - 1))
    else:
        assert delay == pytest.approx(backoff.max)
    assert backoff.base_delay(n + 1) >= delay


@given(jitter=st.floats(0.0, 1.0), n=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_backoff_jitter_stays_within_its_fraction(jitter: float, n: int, seed: int) -> None:
    backoff = Backoff(initial=0.5, max=30.0, jitter=jitter)
    base = backoff.base_delay(n)
    delay = backoff.delay(n, random.Random(seed))
    assert base <= delay <= base * (1.0 + jitter)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0}, "`initial` must be a positive number of seconds, got 0"),
        ({"initial": 2.0, "max": 1.0}, r"`max` \(1.0\) must be at least `initial` \(2.0\)"),
        ({"multiplier": 0.5}, "`multiplier` must be >= 1, got 0.5"),
        ({"jitter": 1.5}, "`jitter` must be between 0 and 1, got 1.5"),
        ({"reset_after": -1}, "`reset_after` must be a positive number of seconds, got -1"),
    ],
)
def test_backoff_refuses_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_backoff_n_is_one_based() -> None:
    with pytest.raises(ValueError, match="`n` must be >= 1, got 0"):
        Backoff().base_delay(0)


def test_child_spec_validates_and_normalises() -> None:
    log = Log()
    assert ChildSpec("a", Probe, restart="transient").restart is Restart.TRANSIENT
    with pytest.raises(ValueError, match="`id` must be a non-empty string, got ''"):
        ChildSpec("", Probe)
    with pytest.raises(ValueError, match="`shutdown` must be positive or None, got 0"):
        probe("a", log, shutdown=0)
    with pytest.raises(ValueError, match="`start_timeout` must be a positive number"):
        probe("a", log, start_timeout=0)


def test_intensity_window_refuses_bad_limits() -> None:
    with pytest.raises(ValueError, match="`max_restarts` must be an integer >= 0, got -1"):
        IntensityWindow(-1, 5.0)
    with pytest.raises(ValueError, match="`max_seconds` must be a positive number, got 0"):
        IntensityWindow(3, 0)


def test_supervisor_refuses_bad_children() -> None:
    log = Log()
    with pytest.raises(TypeError, match="`children` must be ChildSpec instances"):
        Supervisor(children=["a"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="`start` must be a SupervisedActor subclass"):
        Supervisor(children=[ChildSpec("a", object)])  # type: ignore[arg-type]
    with pytest.raises(SupervisorError, match="duplicate child id 'a'"):
        Supervisor(children=[probe("a", log), probe("a", log)])
    with pytest.raises(
        ValueError,
        match="`strategy` must be one of one_for_one, one_for_all, rest_for_one; got 'nope'",
    ):
        Supervisor(strategy="nope")


def test_exit_reason_text_and_abnormal() -> None:
    assert str(ExitReason(ExitKind.NORMAL)) == "normal"
    crashed = ExitReason(ExitKind.CRASHED, KeyError("k"))
    assert str(crashed) == "crashed: KeyError('k')"
    assert crashed.abnormal
    assert not ExitReason(ExitKind.SHUTDOWN).abnormal
