"""Recovery at start through the recovery lanes: many unfinished transactions, a retry delay
handed over to an actor, a stop between two steps, and a SIGKILL during the recovery."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.transactions.conftest import Effects, StartService, sample
from tests.transactions.test_crash import check, run_worker
from yesman_recovery.config.transactions import RetrySettings, TransactionsConfig
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store
from yesman_recovery.supervisors.actor import SupervisedRef
from yesman_recovery.transactions import Step, StepContext, Transactions, TxState
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions.actor import TransactionsSupervisor
from yesman_recovery.transactions.lanes import RecoveryQueue

WAIT = 30.0


def leave_unfinished(store: Store, service: Transactions, count: int, done: int = 2) -> list[str]:
    """Journal ``count`` transactions of 3 steps as a crash leaves them: steps 0..done-1 done,
    step ``done`` interrupted after its intent. Their ids, oldest first."""
    plan = service._plan("left", [Step("apply")] * 3, None)
    batch: list[tuple[str, str, Any, bool]] = []
    ids = [f"tx-{n:04d}" for n in range(count)]
    for tx in ids:
        batch.append((tx, p.BEGIN, plan, False))
        for step in range(done):
            batch.append((tx, p.INTENT, {"step": step, "attempt": 1}, False))
            batch.append((tx, p.DONE, {"step": step, "result": None}, False))
        batch.append((tx, p.INTENT, {"step": done, "attempt": 1}, False))
    store.journal.append_many(batch)
    return ids


def wait_until(condition: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def kinds(store: Store, tx: str) -> list[str]:
    return [record.kind for record in store.journal.records(tx)]


@pytest.fixture
def lanes(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(count: int) -> None:
        monkeypatch.setattr(TransactionsSupervisor, "recovery_lanes", count)

    return use


def test_many_unfinished_transactions_each_end_once_with_every_step_undone_once(
    start_service: StartService, store: Store, effects: Effects, metrics: RecoveryMetrics,
    lanes: Any,
) -> None:  # fmt: skip
    lanes(3)
    ids = leave_unfinished(store, Transactions(store, effects.registry), 120)
    service = start_service()
    wait_until(lambda: not service.unfinished(), "the recovery")
    for tx in ids:
        records = store.journal.records(tx)
        assert p.terminal_records(records) == [records[-1]]
        assert records[-1].kind == p.COMPENSATED
    # Steps 0 and 1 were done and step 2 may have run: each compensated once, by its key.
    undone = Counter(effects.events("undo"))
    assert undone == Counter(f"{tx}:{step}" for tx in ids for step in range(3))
    wait_until(lambda: sample(metrics, "yesman_recovery_transactions_in_flight") == 0, "idle")
    total = sample(metrics, "yesman_recovery_transactions_total", outcome="compensated")
    assert total == len(ids)
    assert sample(metrics, "yesman_recovery_compensations_total", outcome="done") == 3 * len(ids)
    audited = store.audit.query(kind="transaction", limit=1000)
    assert Counter(event.subject for event in audited) == Counter(ids)


def test_a_compensation_retry_delay_is_waited_out_by_an_actor_not_the_lane(
    start_service: StartService, store: Store, effects: Effects, lanes: Any
) -> None:
    lanes(1)
    ids = leave_unfinished(store, Transactions(store, effects.registry), 20)
    effects.fail_undo = 1  # the first compensation (of the oldest transaction) fails once
    slow = TransactionsConfig(compensation_retry=RetrySettings(attempts=3, initial=60, max=60))
    service = start_service(config=slow)
    first, rest = ids[0], ids[1:]
    # The one lane went on with the others while the first waits out its 60 s backoff.
    wait_until(lambda: all(kinds(store, tx)[-1] == p.COMPENSATED for tx in rest), "the others")
    assert kinds(store, first)[-1] == p.UNDO_FAILED
    children = service._supervisor_proxy.which_children().get(timeout=WAIT)
    assert first in [child.id for child in children], "its own actor waits for the retry"
    service.stop()
    # Stopped during the wait: it stays unfinished for the next start, which finishes it.
    assert service.unfinished() == [first]
    again = start_service()
    wait_until(lambda: not again.unfinished(), "the second recovery")
    assert kinds(store, first)[-1] == p.COMPENSATED
    undone = Counter(effects.events("undo"))
    assert undone == Counter(f"{tx}:{step}" for tx in ids for step in range(3))


def stop_between_steps(
    running: Transactions, ids: list[str], entered: threading.Event, release: threading.Event
) -> None:
    """Stop ``running`` while its lane is inside a compensation of ``tx-gated``; then let that
    compensation finish."""
    assert entered.wait(WAIT)
    children = running._supervisor_proxy.which_children().get(timeout=WAIT)
    (lane,) = [c.ref for c in children if c.id.startswith("recovery-lane")]
    assert isinstance(lane, SupervisedRef)
    # While a lane holds it, no actor may start for it (nor for one waiting for a lane).
    start = running._supervisor_proxy.start_transaction
    assert start("tx-gated", True).get(timeout=WAIT) is None
    assert start(ids[0], True).get(timeout=WAIT) is None
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    assert lane._link.stop_requested.wait(WAIT)
    release.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()


def test_a_stop_during_recovery_takes_effect_between_two_steps(
    start_service: StartService, store: Store, effects: Effects, metrics: RecoveryMetrics,
    lanes: Any,
) -> None:  # fmt: skip
    lanes(1)
    entered, release = threading.Event(), threading.Event()

    @effects.registry.register("gate")
    def gate(step: StepContext) -> None:
        entered.set()
        assert release.wait(WAIT)

    # The oldest transaction's step 1 is undone through a compensation that waits for us.
    service = Transactions(store, effects.registry)
    gated = service._plan("gated", [Step("apply"), Step("apply", compensate="gate")], None)
    store.journal.append_many(
        [("tx-gated", p.BEGIN, gated, False),
         ("tx-gated", p.INTENT, {"step": 0, "attempt": 1}, False),
         ("tx-gated", p.DONE, {"step": 0, "result": None}, False),
         ("tx-gated", p.INTENT, {"step": 1, "attempt": 1}, False)]
    )  # fmt: skip
    ids = leave_unfinished(store, service, 5, done=1)
    before = {tx: kinds(store, tx) for tx in ids}
    running = start_service()
    try:
        stop_between_steps(running, ids, entered, release)
    finally:
        release.set()  # never leave the lane waiting, whatever failed
    # The step in progress finished and was journaled; nothing after it ran.
    assert kinds(store, "tx-gated")[-2:] == [p.UNDONE, p.UNDO]
    assert "tx-gated:0" not in effects.events("undo")
    assert {tx: kinds(store, tx) for tx in ids} == before
    assert sample(metrics, "yesman_recovery_transactions_in_flight") == 0
    assert sorted(running.unfinished()) == sorted([*ids, "tx-gated"])
    again = start_service()
    wait_until(lambda: not again.unfinished(), "the second recovery")
    assert kinds(store, "tx-gated")[-1] == p.COMPENSATED
    assert Counter(effects.events("undo"))["tx-gated:0"] == 1
    assert all(again.get(tx).state is TxState.COMPENSATED for tx in ids)


def test_killed_during_lane_recovery_then_restarted_every_transaction_ends_once(
    tmp_path: Path,
) -> None:
    state, log = tmp_path / "state", tmp_path / "effects.log"
    plan = [["ok", "ok", "ok"] for _ in range(40)]
    # The first run dies with many transactions half-way; the second dies while its lanes
    # compensate them; the third finishes everything.
    assert run_worker(state, log, plan, "after_intent:1") == -9
    assert run_worker(state, log, [], "during_undo:0") == -9
    assert run_worker(state, log, [], None) == 0
    ends = check(state, log, plan)
    assert p.COMPENSATED in ends.values()


def test_the_queue_knows_what_waits_and_what_is_held() -> None:
    queue = RecoveryQueue([("tx-a", None), ("tx-b", None)])
    assert queue.claim("tx-b"), "waiting for a lane: no actor may start for it"
    assert queue.take() == ("tx-a", None)
    assert queue.claim("tx-a"), "held by a lane"
    assert queue.release("tx-a") is True, "asked for while held: the lane has it run again"
    assert not queue.claim("tx-a")
    assert queue.take() == ("tx-b", None)
    assert queue.release("tx-b") is False
    assert queue.take() is None
    assert not queue.claim("tx-b")
