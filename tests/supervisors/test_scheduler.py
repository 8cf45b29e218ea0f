"""The scheduler: timed delivery to actors, cancel, and at most one pending periodic tick."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from yesman_recovery.supervisors import (
    ManualClock,
    ManualScheduler,
    SupervisedActor,
    SupervisedRef,
    ThreadScheduler,
    default_scheduler,
)

from .probes import wait_until


class Inbox(SupervisedActor):
    """Records every message it handles; ``"busy"`` blocks it until ``release`` is set."""

    def __init__(self, release: threading.Event | None = None) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.got: list[Any] = []
        self.release = release or threading.Event()

    def on_receive(self, message: Any) -> Any:
        if message == "busy":
            self.release.wait(10)
            return None
        with self.lock:
            self.got.append(message)
        return None

    def seen(self) -> list[Any]:
        with self.lock:
            return list(self.got)


@pytest.fixture
def release() -> threading.Event:
    return threading.Event()


@pytest.fixture
def inbox(release: threading.Event) -> Iterator[SupervisedRef]:
    ref = Inbox.start(release)
    yield ref
    release.set()
    assert ref.shutdown(5)


@pytest.fixture
def threads() -> Iterator[ThreadScheduler]:
    scheduler = ThreadScheduler()
    yield scheduler
    scheduler.close()


def seen(ref: SupervisedRef) -> list[Any]:
    got: list[Any] = ref.proxy().seen().get(timeout=5)
    return got


def test_thread_scheduler_delivers_later_and_cancel_prevents_delivery(
    threads: ThreadScheduler, inbox: SupervisedRef
) -> None:
    threads.call_later(0.01, inbox, "first")
    cancelled = threads.call_later(0.02, inbox, "never")
    threads.call_later(0.05, inbox, "marker")
    cancelled.cancel()
    wait_until(lambda: "marker" in seen(inbox))
    assert seen(inbox) == ["first", "marker"]  # due order; the cancelled one never came


def test_thread_scheduler_periodic_ticks_until_cancelled(
    threads: ThreadScheduler, inbox: SupervisedRef
) -> None:
    periodic = threads.every(0.005, inbox, "tick")
    wait_until(lambda: seen(inbox).count("tick") >= 3)  # handlers see the payload, not a Tick
    periodic.cancel()
    at_cancel = len(seen(inbox))
    threads.call_later(0.05, inbox, "marker")
    wait_until(lambda: "marker" in seen(inbox))
    assert seen(inbox).count("tick") <= at_cancel + 1  # at most the one already in flight
    assert periodic.cancelled


def test_thread_scheduler_survives_a_failing_delivery(
    threads: ThreadScheduler, inbox: SupervisedRef
) -> None:
    class Broken:
        def tell(self, message: Any) -> None:
            raise RuntimeError("broken ref")

    threads.call_later(0.0, Broken(), "lost")  # type: ignore[arg-type]
    threads.call_later(0.01, inbox, "after")
    wait_until(lambda: seen(inbox) == ["after"])


def test_closed_thread_scheduler_refuses_new_entries(inbox: SupervisedRef) -> None:
    scheduler = ThreadScheduler()
    scheduler.call_later(10.0, inbox, "pending")
    scheduler.close()
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.call_later(0.0, inbox, "late")


def test_default_scheduler_is_one_per_process() -> None:
    assert default_scheduler() is default_scheduler()


def test_periodic_skips_a_tick_while_one_is_pending(
    inbox: SupervisedRef, release: threading.Event
) -> None:
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    periodic = scheduler.every(1.0, inbox, "tick", first=1.0)
    inbox.tell("busy")  # the actor cannot handle the first tick yet
    assert scheduler.advance(1.0) == 1
    assert scheduler.advance(1.0) == 1  # the period came, but a tick is still pending
    assert scheduler.advance(1.0) == 1
    assert periodic.skipped == 2
    release.set()
    wait_until(lambda: seen(inbox) == ["tick"])
    scheduler.advance(1.0)  # handled, so the next period sends a tick again
    wait_until(lambda: seen(inbox) == ["tick", "tick"])
    assert periodic.skipped == 2
    assert scheduler.pending() == [clock.monotonic() + 1.0]


def test_periodic_to_a_dead_actor_ends(inbox: SupervisedRef) -> None:
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    dead = Inbox.start()
    assert dead.shutdown(5)
    periodic = scheduler.every(1.0, dead, "tick")
    scheduler.call_later(1.0, dead, "once")  # a one-shot to a dead actor is dropped quietly
    assert scheduler.advance(1.0) == 2
    assert periodic.cancelled
    assert scheduler.pending() == []


def test_manual_scheduler_fires_only_inside_advance(inbox: SupervisedRef) -> None:
    clock = ManualClock(start=0.0)
    scheduler = ManualScheduler(clock)
    scheduler.call_later(2.0, inbox, "b")
    scheduler.call_later(1.0, inbox, "a")
    cancelled = scheduler.call_later(1.5, inbox, "never")
    cancelled.cancel()
    assert scheduler.pending() == [1.0, 2.0]
    assert scheduler.advance(0.5) == 0
    assert scheduler.advance(2.0) == 2
    wait_until(lambda: seen(inbox) == ["a", "b"])


def test_invalid_interval_and_clock_misuse_are_refused(inbox: SupervisedRef) -> None:
    clock = ManualClock(start=5.0, wall=100.0)
    assert (clock.monotonic(), clock.time()) == (5.0, 100.0)
    with pytest.raises(ValueError, match="`seconds` must not be negative, got -1"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="`interval` must be positive, got 0"):
        ManualScheduler(clock).every(0, inbox, "tick")


def test_ticks_reach_plain_pykka_actors_as_ticks() -> None:
    """Only SupervisedActor unwraps ticks; a plain Pykka actor sees the Tick envelope."""
    from yesman_recovery.supervisors import Tick

    got = threading.Event()

    class Plain(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            if isinstance(message, Tick) and message.payload == "tick":
                got.set()
            return None

    ref = Plain.start()
    try:
        scheduler = ManualScheduler(ManualClock())
        scheduler.every(1.0, ref, "tick")
        scheduler.advance(0.0)
        assert got.wait(5)
    finally:
        ref.stop(timeout=5)
