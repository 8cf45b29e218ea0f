"""Fixtures for the resilience tests: a fake clock whose sleep only advances it, fresh metrics."""

from __future__ import annotations

from typing import Protocol

import pytest

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import BreakerState


class FakeClock:
    """A monotonic clock that moves only when told; ``sleep`` advances it and records the delay."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


class HasState(Protocol):
    @property
    def state(self) -> BreakerState: ...


def state_of(breaker: HasState) -> BreakerState:
    """``breaker.state`` read through a call: mypy would keep the narrowing of an earlier
    ``assert breaker.state is …`` across the calls that change the state."""
    return breaker.state


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> RecoveryMetrics:
    return RecoveryMetrics()


def sample(metrics: RecoveryMetrics, name: str, **labels: str) -> float | None:
    """The value of one series, or None when it does not exist."""
    return metrics.registry.get_sample_value(name, labels)
