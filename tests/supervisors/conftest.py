"""Fixtures for the supervision tests: a fresh metrics registry, a manual clock and scheduler,
and a ``start_tree`` factory that stops every tree it started when the test ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from yesman_recovery import Supervisor
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import ManualClock, ManualScheduler, SupervisedRef

from .probes import Log

StartTree = Callable[..., SupervisedRef]


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def metrics() -> RecoveryMetrics:
    return RecoveryMetrics()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> ManualScheduler:
    return ManualScheduler(clock)


@pytest.fixture
def start_tree(metrics: RecoveryMetrics) -> Iterator[StartTree]:
    """Start a root :class:`Supervisor` (metrics default to the test's fresh registry)."""
    started: list[SupervisedRef] = []

    def start(*children: Any, **kwargs: Any) -> SupervisedRef:
        kwargs.setdefault("metrics", metrics)
        ref = Supervisor.start(children=list(children), **kwargs)
        started.append(ref)
        return ref

    yield start
    for ref in reversed(started):
        assert ref.shutdown(timeout=15), f"{ref} did not stop"


@pytest.fixture(autouse=True)
def _no_leftover_actors() -> Iterator[None]:
    """Every test stops what it started: fail loudly if an actor it started outlives it.

    Only roots are in Pykka's registry; a child left running shows as its thread.
    """
    before = {r.actor_urn for r in pykka.ActorRegistry.get_all()}
    threads = set(threading.enumerate())
    yield
    alive = [r for r in pykka.ActorRegistry.get_all() if r.is_alive() and r.actor_urn not in before]
    if alive:
        for ref in alive:
            ref.stop(block=False)
        pytest.fail(f"actors left running: {alive}")
    deadline = time.monotonic() + 5.0
    while left := [t for t in set(threading.enumerate()) - threads if _is_actor_thread(t)]:
        if time.monotonic() > deadline:
            pytest.fail(f"actor threads left running: {left}")
        threading.Event().wait(0.01)


def _is_actor_thread(thread: threading.Thread) -> bool:
    # Pykka names an actor's thread after its class: "Probe-12", "Supervisor-3".
    return (
        thread.is_alive()
        and thread.name.rsplit("-", 1)[-1].isdigit()
        and not (thread.name.startswith(("Thread-", "asyncio_", "ThreadPoolExecutor")))
    )


def sample(metrics: RecoveryMetrics, name: str, **labels: str) -> float:
    """The value of ``yesman_recovery_<name>`` with ``labels``; 0.0 when it was never set."""
    value = metrics.registry.get_sample_value(f"yesman_recovery_{name}", labels)
    return 0.0 if value is None else value
