"""The stopped-program tracker: stop durations, SIGCONTs that worked, the next re-check."""

from __future__ import annotations

import pytest

from yesman_recovery.actors.stops import Resumed, StopTracker


def test_a_stop_is_timed_from_when_it_was_first_seen() -> None:
    stops = StopTracker()
    assert stops.observe([(0, 0)], now=10.0) == []
    stops.observe([(0, 0), (1, 0)], now=11.0)
    assert stops.stopped_for(12.0) == {(0, 0): 2.0, (1, 0): 1.0}
    stops.observe([(1, 0)], now=12.5)  # (0, 0) runs again by itself
    assert stops.stopped_for(13.0) == {(1, 0): 2.0}


def test_a_pane_running_again_after_sigcont_is_reported_once() -> None:
    stops = StopTracker()
    stops.observe([(0, 0)], now=0.0)
    stops.sigcont_sent((0, 0), now=2.0)
    assert stops.resumed_for(3.0) == {(0, 0): 1.0}
    assert stops.observe([(0, 0)], now=3.0) == []  # still stopped
    assert stops.observe([], now=3.5) == [Resumed((0, 0), 1.5)]
    assert stops.observe([], now=4.0) == []
    assert stops.resumed_for(4.0) == {}


def test_a_respawn_forgets_the_stop() -> None:
    stops = StopTracker()
    stops.observe([(0, 0)], now=0.0)
    stops.sigcont_sent((0, 0), now=2.0)
    stops.respawned((0, 0))
    assert stops.stopped_for(5.0) == {}
    assert stops.resumed_for(5.0) == {}
    assert stops.observe([], now=5.0) == []  # nothing to count as resumed


def test_the_next_recheck_is_the_earliest_grace_still_to_end() -> None:
    stops = StopTracker()
    assert stops.next_deadline(0.0, grace=2.0) is None
    stops.observe([(0, 0)], now=10.0)
    stops.observe([(0, 0), (1, 0)], now=11.0)
    assert stops.next_deadline(10.5, grace=2.0) == pytest.approx(1.5)
    stops.sigcont_sent((0, 0), now=12.0)
    assert stops.next_deadline(12.5, grace=2.0) == pytest.approx(0.5)  # (1, 0)'s stop
    assert stops.next_deadline(13.5, grace=2.0) == pytest.approx(0.5)  # the SIGCONT's grace
    assert stops.next_deadline(14.0, grace=2.0) is None  # all passed: nothing to wait for
