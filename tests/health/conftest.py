"""Helpers for the health tests: a real-time HealthChecks, a tree to run checks in, polling."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.health import CheckSpec, HealthChecks, health_subtree
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, open_store
from yesman_recovery.supervisors import SupervisedRef, Supervisor, ThreadScheduler
from yesman_recovery.supervisors.spec import ChildSpec


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.02)


def sample(checks: HealthChecks, metric: str, **labels: str) -> float:
    return checks.metrics.registry.get_sample_value(metric, labels) or 0.0


def view(checks: HealthChecks, name: str) -> dict[str, Any]:
    return next(v for v in checks.views() if v["name"] == name)


def audit_actions(store: Store, name: str) -> list[tuple[str, str]]:
    """(action, outcome) of every health audit event of ``name``, oldest first."""
    events = store.audit.query(kind="health", subject=name)
    return [(e.action, e.outcome) for e in reversed(events)]


def kill_pid_file(pid_file: Path) -> None:
    """End every process whose pid ``pid_file`` lists, one a line (processes the test started)."""
    with contextlib.suppress(OSError):
        for line in pid_file.read_text().split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(line), signal.SIGKILL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state", durability="fast") as s:
        yield s


@pytest.fixture
def scheduler() -> Iterator[ThreadScheduler]:
    sched = ThreadScheduler()
    yield sched
    sched.close()


@pytest.fixture
def checks(store: Store, scheduler: ThreadScheduler) -> HealthChecks:
    return HealthChecks(RecoveryMetrics(), scheduler=scheduler, store=store)


class Tree:
    """A root supervisor with a ``health`` subtree (and optional extra children)."""

    def __init__(self, checks: HealthChecks) -> None:
        self.checks = checks
        self.root: SupervisedRef | None = None

    def start(self, specs: list[CheckSpec], extra: list[ChildSpec] = ()) -> SupervisedRef:  # type: ignore[assignment]
        self.checks.root = lambda: self.root
        self.root = Supervisor.start(
            children=[*extra, health_subtree(self.checks, specs)],
            scheduler=self.checks.scheduler,
            metrics=self.checks.metrics,
        )
        return self.root

    def check_ref(self, name: str) -> Any:
        assert self.root is not None
        health = self.root.proxy().whereis("health").get(timeout=5)
        return health.proxy().whereis(name).get(timeout=5)


@pytest.fixture
def tree(checks: HealthChecks) -> Iterator[Tree]:
    t = Tree(checks)
    yield t
    if t.root is not None:
        t.root.shutdown(10)
