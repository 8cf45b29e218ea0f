"""Per-kind recovery intensity and give-up of one session: pure."""

from __future__ import annotations

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind
from yesman_recovery.actors.limits import RecoveryLimits, Windows

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


def test_a_kind_is_rearmed_once_its_window_has_passed() -> None:
    limits = RecoveryLimits("work", 1, 10.0, {})
    limits.over(EXITED, 0.0)
    reason = limits.over(EXITED, 1.0)
    assert reason is not None
    limits.give_up(FailureKind.DISCONNECTED, reason)
    assert limits.rearm(5.0) == []
    assert limits.rearm(11.5) == [FailureKind.DISCONNECTED]
    assert not limits.failed
    assert limits.over(EXITED, 12.0) is None  # counting starts over


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
