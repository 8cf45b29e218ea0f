"""A world for the session and watcher actors: fake tmux and processes, a manual clock, a store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.actors.fakes import FakePidWatch, FakeProcesses, FakeTmux
from yesman_recovery.actors.context import (
    Observation,
    ObservationKind,
    SessionContext,
)
from yesman_recovery.errors import TmuxServerGone, TmuxTimeout
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, open_store
from yesman_recovery.supervisors import ManualClock, ManualScheduler


@dataclass
class World:
    tmux: FakeTmux
    processes: FakeProcesses
    clock: ManualClock
    scheduler: ManualScheduler
    store: Store
    metrics: RecoveryMetrics
    context: SessionContext
    pidwatches: list[FakePidWatch] = field(default_factory=list)

    def observe(self) -> Observation:
        """What the watcher would send now."""
        now = self.clock.monotonic()
        try:
            snap = self.tmux.snapshot()
        except TmuxServerGone as exc:
            return Observation(ObservationKind.GONE, None, now, None, str(exc))
        except TmuxTimeout as exc:
            return Observation(ObservationKind.TIMEOUT, None, now, None, str(exc))
        return Observation(ObservationKind.OK, snap, now)

    def audit(self, subject: str) -> list[tuple[str, str, str]]:
        """(kind, action, outcome) of ``subject``'s audit events, oldest first."""
        events = self.store.audit.query(subject=subject)
        return [(e.kind, e.action, e.outcome) for e in reversed(events)]

    def recoveries(self, kind: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "yesman_recovery_recoveries_total", {"kind": kind, "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = ManualClock()
    tmux = FakeTmux()
    processes = FakeProcesses(tmux)
    metrics = RecoveryMetrics(CollectorRegistry())
    scheduler = ManualScheduler(clock)
    pidwatches: list[FakePidWatch] = []
    with open_store(tmp_path / "state", durability="fast", metrics=metrics, clock=clock) as store:
        context = SessionContext(
            tmux,
            store,
            metrics,
            clock,
            scheduler,
            sleep=clock.advance,
            processes=processes,
            pidwatch=FakePidWatch.factory(pidwatches),
        )
        yield World(tmux, processes, clock, scheduler, store, metrics, context, pidwatches)
