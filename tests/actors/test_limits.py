"""Per-kind recovery intensity and give-up of one session: pure."""

from __future__ import annotations

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind
from yesman_recovery.actors.limits import GiveUpBackoff, History, RecoveryLimits, Windows

EXITED = Diagnosis(FailureKind.DISCONNECTED, "window 0 pane 0 'tail' exited")
CRASH = Diagnosis(FailureKind.CRASHED, "no tmux server")


def test_each_kind_has_its_own_intensity_and_give_up() -> None:
    limits = RecoveryLimits("work", 2, 10.0, {})
    assert limits.over(EXITED, 0.0) is None
    assert limits.over(EXITED, 1.0) is None
    reason = limits.over(EXITED, 2.0)
    assert reason == (
        "disconnected: window 0 pane 0 'tail' exited; gave up after more than 2 recoveries in 10 s"
    )
    limits.give_up(FailureKind.DISCONNECTED, reason)
    assert limits.failed
    assert limits.gave_up(FailureKind.DISCONNECTED)
    assert not limits.gave_up(FailureKind.CRASHED)
    assert limits.over(CRASH, 2.0) is None  # a server crash is still recovered
    assert limits.reasons() == reason


def test_a_kind_is_rearmed_after_its_backoff_and_counting_starts_over() -> None:
    limits = RecoveryLimits("work", 1, 10.0, {}, backoff=GiveUpBackoff(60.0, 3600.0, 600.0))
    limits.over(EXITED, 0.0)
    reason = limits.over(EXITED, 1.0)
    assert reason is not None
    assert limits.give_up(FailureKind.DISCONNECTED, reason, 1.0) == 60.0
    assert limits.next_attempt() == 61.0
    assert limits.rearm(30.0) == []  # the intensity window passed, the backoff did not
    assert limits.rearm(61.0) == [FailureKind.DISCONNECTED]
    assert not limits.failed
    assert limits.next_attempt() is None
    assert limits.over(EXITED, 62.0) is None  # counting starts over


def _give_up_at(limits: RecoveryLimits, now: float) -> float | None:
    limits.over(EXITED, now)
    reason = limits.over(EXITED, now)
    assert reason is not None
    delay = limits.give_up(FailureKind.DISCONNECTED, reason, now)
    assert delay is not None
    assert limits.rearm(now + delay) == [FailureKind.DISCONNECTED]
    return delay


def test_rearm_delays_double_up_to_the_maximum() -> None:
    limits = RecoveryLimits("work", 1, 10.0, {}, backoff=GiveUpBackoff(60.0, 300.0, 600.0))
    now, delays = 0.0, []
    for _ in range(5):
        delay = _give_up_at(limits, now)
        assert delay is not None
        delays.append(delay)
        now += delay + 1.0  # fails again a second after each re-arm
    assert delays == [60.0, 120.0, 240.0, 300.0, 300.0]


def test_the_backoff_starts_over_after_a_healthy_while_and_outlives_the_actor() -> None:
    history: History = {}
    backoff = GiveUpBackoff(60.0, 3600.0, 600.0)
    limits = RecoveryLimits("work", 1, 10.0, {}, backoff=backoff, history=history)
    assert _give_up_at(limits, 0.0) == 60.0
    again = RecoveryLimits("work", 1, 10.0, {}, backoff=backoff, history=history)  # restarted
    assert _give_up_at(again, 100.0) == 120.0
    # Re-armed at 220; a give-up 600 s or more later starts over.
    assert _give_up_at(again, 820.0) == 60.0


def test_the_windows_outlive_the_actor_that_filled_them() -> None:
    windows: Windows = {}
    first = RecoveryLimits("work", 1, 60.0, windows)
    first.over(EXITED, 0.0)
    again = RecoveryLimits("work", 1, 60.0, windows)  # the actor crashed and restarted
    assert again.over(EXITED, 1.0) is not None
    other = RecoveryLimits("other", 1, 60.0, windows)
    assert other.over(EXITED, 1.0) is None  # each session has its own


def test_a_give_up_without_recoveries_is_not_rearmed_by_time() -> None:
    limits = RecoveryLimits("work", 3, 60.0, {})
    limits.give_up(FailureKind.CORRUPTED, "spec.yaml: bad")  # a broken spec: no window
    assert limits.rearm(1e9) == []
    assert limits.gave_up(FailureKind.CORRUPTED)


def test_a_reset_by_hand_clears_the_backoff_too() -> None:
    history: History = {}
    limits = RecoveryLimits(
        "work", 1, 10.0, {}, backoff=GiveUpBackoff(60.0, 3600.0, 600.0), history=history
    )
    assert _give_up_at(limits, 0.0) == 60.0
    assert _give_up_at(limits, 100.0) == 120.0
    limits.reset()
    assert _give_up_at(limits, 300.0) == 60.0


def test_the_give_up_backoff_stays_at_its_maximum_after_a_thousand_give_ups() -> None:
    # A kind given up on once an hour for six weeks: 2 ** 1024 is no float, the wait is 1 h.
    assert GiveUpBackoff(60.0, 3600.0, 600.0).delay(1100) == 3600.0
