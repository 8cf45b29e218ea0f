"""The check state machine: thresholds, grace, flapping, heal budget, backoff, escalation."""

from __future__ import annotations

import pytest

from yesman_recovery.health.policy import (
    CheckPolicy,
    CheckState,
    Status,
    Suppression,
    Verdict,
    heals_in_window,
    observe,
)
from yesman_recovery.supervisors import ManualClock


def status_of(state: CheckState) -> Status:
    """``state.status`` read through a call: mypy would keep the narrowing of an earlier
    ``assert state.status is …`` across the ``observe`` calls that change it."""
    return state.status


def run(
    state: CheckState, policy: CheckPolicy, results: str, start: float, step: float = 1.0
) -> list[Verdict]:
    """Feed results ('+' pass, '-' fail) one per ``step`` seconds of a manual clock."""
    clock = ManualClock(start=start)
    verdicts = []
    for r in results:
        verdicts.append(observe(state, policy, r == "+", clock.monotonic()))
        clock.advance(step)
    return verdicts


def test_failure_and_success_thresholds_give_hysteresis() -> None:
    policy = CheckPolicy(interval=1, failure_threshold=3, success_threshold=2, flap_threshold=None)
    state = CheckState(started_at=0.0)
    run(state, policy, "++", 0)
    assert status_of(state) is Status.HEALTHY
    run(state, policy, "--", 2)
    assert status_of(state) is Status.HEALTHY  # two failures are not three
    verdicts = run(state, policy, "-", 4)
    assert status_of(state) is Status.FAILING
    assert verdicts[0].status_changed
    assert verdicts[0].heal
    run(state, policy, "+", 5)
    assert status_of(state) is Status.FAILING  # one success is not two
    run(state, policy, "+", 6)
    assert status_of(state) is Status.HEALTHY


def test_failures_within_the_start_grace_do_not_count() -> None:
    policy = CheckPolicy(interval=1, failure_threshold=1, start_grace=10, flap_threshold=None)
    state = CheckState(started_at=100.0)
    verdicts = run(state, policy, "-----", 100)
    assert all(v.in_grace for v in verdicts)
    assert status_of(state) is Status.UNKNOWN
    assert state.failures_total == 0
    verdict = observe(state, policy, False, 110.0)
    assert status_of(state) is Status.FAILING
    assert verdict.heal


def test_alternating_results_flap_and_suppress_heals_until_they_settle() -> None:
    policy = CheckPolicy(
        interval=1, failure_threshold=1, flap_window=10, flap_threshold=4, flap_leave_threshold=1,
        heal_backoff=0.5,
    )  # fmt: skip
    state = CheckState(started_at=0.0)
    verdicts = run(state, policy, "-+-+-+-+", 0)
    assert verdicts[0].heal  # before flapping is known, a failure heals
    assert state.flapping
    flapping_at = next(i for i, v in enumerate(verdicts) if v.flapping_changed)
    assert flapping_at == 4  # the 4th change
    suppressed = [v for v in verdicts[flapping_at:] if not v.heal and v.suppressed]
    assert suppressed
    assert all(v.suppressed is Suppression.FLAPPING for v in suppressed)
    assert [v.new_suppression for v in suppressed] == [True] + [False] * (len(suppressed) - 1)
    # Steady failures: changes age out of the window; flapping ends at <= 1 change, heals resume.
    verdicts = run(state, policy, "-" * 12, 8)
    left = next(i for i, v in enumerate(verdicts) if v.flapping_changed)
    assert not state.flapping
    assert any(v.heal for v in verdicts[left:])


def test_heal_budget_then_escalation_once() -> None:
    policy = CheckPolicy(
        interval=1, failure_threshold=1, heal_max=2, heal_window=100, heal_backoff=1,
        flap_threshold=None,
    )  # fmt: skip
    state = CheckState(started_at=0.0)
    verdicts = run(state, policy, "-" * 8, 0)
    heals = [i for i, v in enumerate(verdicts) if v.heal]
    assert heals == [0, 1]  # backoff 1 s after the first heal, then 2 s: budget first
    escalations = [i for i, v in enumerate(verdicts) if v.escalate]
    assert escalations == [2]
    assert state.escalated
    assert all(v.suppressed is Suppression.BUDGET for v in verdicts[2:])
    assert heals_in_window(state, policy, 7.0) == 2
    # Healthy again: escalation clears, but the budget window still remembers both heals.
    run(state, policy, "+", 8)
    assert state.escalated is False
    verdict = observe(state, policy, False, 9.0)
    assert verdict.escalate
    assert not verdict.heal
    # Once the window has passed, heals run again.
    run(state, policy, "+", 10)
    assert observe(state, policy, False, 200.0).heal


def test_backoff_doubles_between_heals_of_one_spell() -> None:
    policy = CheckPolicy(
        interval=1, failure_threshold=1, heal_max=10, heal_backoff=2, flap_threshold=None
    )
    state = CheckState(started_at=0.0)
    verdicts = run(state, policy, "-" * 15, 0)
    assert [i for i, v in enumerate(verdicts) if v.heal] == [0, 2, 6, 14]
    waiting = verdicts[1]
    assert not waiting.heal
    assert waiting.suppressed is None
    assert waiting.next_heal_at == 2.0


def test_a_check_without_heal_escalates_when_failing() -> None:
    policy = CheckPolicy(interval=1, failure_threshold=2, flap_threshold=None)
    state = CheckState(started_at=0.0)
    verdicts = [observe(state, policy, False, float(t), can_heal=False) for t in range(4)]
    assert [v.escalate for v in verdicts] == [False, True, False, False]


def test_a_heal_running_for_another_check_is_suppressed_not_counted() -> None:
    policy = CheckPolicy(interval=1, failure_threshold=1, flap_threshold=None)
    state = CheckState(started_at=0.0)
    verdict = observe(state, policy, False, 0.0, heal_busy=True)
    assert verdict.suppressed is Suppression.IN_PROGRESS
    assert not verdict.heal
    assert len(state.heals) == 0
    assert observe(state, policy, False, 1.0).heal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": -1}, "`interval` must be a positive"),
        ({"interval": 1, "timeout": 1}, "`timeout` (1 s) must be shorter than `interval`"),
        ({"failure_threshold": 0}, "`failure_threshold` must be an integer >= 1"),
        ({"success_threshold": 0}, "`success_threshold`"),
        ({"flap_threshold": 3, "flap_leave_threshold": 3}, "`flap_leave_threshold`"),
        ({"heal_max": 0}, "`heal_max`"),
    ],
)
def test_bad_policies_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CheckPolicy(**kwargs)  # type: ignore[arg-type]


def test_derived_defaults() -> None:
    assert CheckPolicy(interval=2).timeout == 1.0
    assert CheckPolicy(interval=60).timeout == 5.0
    assert CheckPolicy(interval=2).flap_window == 40.0
