"""Fixtures for the transaction tests: a real store in a temporary directory, fresh metrics,
an action registry with a side-effect log, and a factory of started services that stops them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.config.transactions import RetrySettings, TransactionsConfig
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, envelope, open_store
from yesman_recovery.supervisors.scheduler import ThreadScheduler
from yesman_recovery.transactions import ActionRegistry, StepContext, Transactions

FAST_RETRY = TransactionsConfig(
    compensation_retry=RetrySettings(attempts=3, initial=0.001, max=0.01)
)


class Effects:
    """A side-effect log and the actions that write it, idempotent by key."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []  # (event, key), in order
        self.fail_undo = 0  # the next N compensations raise
        self.registry = ActionRegistry()
        reg = self.registry

        @reg.register("apply", compensate="remove", idempotent=True)
        def apply(step: StepContext) -> dict[str, Any]:
            if step.args.get("fail"):
                raise RuntimeError("refused by the remote side")
            self.log.append(("do", step.key))
            return {"key": step.key, "seen": list(step.results)}

        @reg.register("remove", idempotent=True)
        def remove(step: StepContext) -> None:
            if self.fail_undo:
                self.fail_undo -= 1
                raise OSError("the remote side is down")
            self.log.append(("undo", step.key))

        @reg.register("plain", compensate="remove")
        def plain(step: StepContext) -> Any:
            self.log.append(("do", step.key))
            return {"when": [1.5, float("nan")]} if step.args.get("nan") else 1

    def events(self, kind: str) -> list[str]:
        return [key for event, key in self.log if event == kind]


@pytest.fixture
def metrics() -> RecoveryMetrics:
    return RecoveryMetrics()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path, metrics: RecoveryMetrics) -> Iterator[Store]:
    with open_store(state_dir, durability="fast", metrics=metrics) as opened:
        yield opened


@pytest.fixture
def effects() -> Effects:
    return Effects()


@pytest.fixture
def scheduler() -> Iterator[ThreadScheduler]:
    sched = ThreadScheduler()
    yield sched
    sched.close()


StartService = Callable[..., Transactions]


@pytest.fixture
def start_service(
    store: Store, effects: Effects, metrics: RecoveryMetrics, scheduler: ThreadScheduler
) -> Iterator[StartService]:
    started: list[Transactions] = []

    def start(**kwargs: Any) -> Transactions:
        kwargs.setdefault("config", FAST_RETRY)
        service = Transactions(
            store, kwargs.pop("actions", effects.registry), metrics=metrics,
            scheduler=scheduler, **kwargs,
        )  # fmt: skip
        started.append(service.start())
        return service

    yield start
    for service in reversed(started):
        service.stop()


def damage(state_dir: Path, payload: Any) -> int:
    """Flip a byte of every stored copy of a record whose JSON payload is ``payload``."""
    needle = envelope.dump_json(payload)
    data_file = state_dir / "data.mdb"
    data = bytearray(data_file.read_bytes())
    changed = 0
    start = data.find(needle)
    while start != -1:
        data[start + 2] ^= 0x01
        changed += 1
        start = data.find(needle, start + 1)
    with data_file.open("r+b") as fp:
        fp.write(data)
    return changed


def sample(metrics: RecoveryMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
