"""Transactions on a real store and real actors: commit, compensation, parking, retry, abandon,
refusals before anything runs, timeouts, asyncio, corruption, compaction and metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from yesman_recovery.errors import TransactionError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store
from yesman_recovery.transactions import (
    Outcome,
    Step,
    StepContext,
    Transactions,
    TxState,
)
from yesman_recovery.transactions import protocol as p

from .conftest import Effects, StartService, damage, sample

WAIT = 10.0


def kinds(service: Transactions, tx: str) -> list[str]:
    return [r.kind for r in service.get(tx).records]


def test_a_transaction_commits_with_every_step_journaled_and_audited(
    start_service: StartService, effects: Effects, store: Store, metrics: RecoveryMetrics
) -> None:
    service = start_service()
    handle = service.begin("provision", [Step("apply"), ("apply", {"n": 2})])
    outcome = handle.result(WAIT)
    assert outcome.committed
    assert outcome.results[1] == {
        "key": f"{handle.id}:1",
        "seen": [{"key": f"{handle.id}:0", "seen": []}],
    }
    assert kinds(service, handle.id) == ["begin", "intent", "done", "intent", "done", "committed"]
    (event,) = store.audit.query(kind="transaction", subject=handle.id)
    assert (event.action, event.outcome) == ("provision", "committed")
    assert sample(metrics, "yesman_recovery_transactions_total", outcome="committed") == 1
    assert (
        sample(metrics, "yesman_recovery_transaction_steps_total", action="apply", outcome="done")
        == 2
    )
    assert sample(metrics, "yesman_recovery_transactions_in_flight") == 0
    assert sample(metrics, "yesman_recovery_transaction_duration_seconds_count") == 1


def test_a_failed_step_undoes_the_completed_ones_in_reverse_order(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    service = start_service()
    steps = [Step("apply"), Step("apply"), Step("apply"), Step("apply", {"fail": True})]
    handle = service.begin("deploy", steps)
    outcome = handle.result(WAIT)
    assert outcome.state is TxState.COMPENSATED
    keys = [f"{handle.id}:{i}" for i in range(3)]
    assert effects.events("do") == keys
    assert effects.events("undo") == keys[::-1]
    (event,) = store.audit.query(kind="transaction", subject=handle.id)
    assert event.outcome == "compensated"
    assert "RuntimeError: refused by the remote side" in event.detail


def test_a_compensation_that_keeps_failing_parks_then_retry_and_abandon(
    start_service: StartService, effects: Effects, store: Store, metrics: RecoveryMetrics
) -> None:
    service = start_service()
    effects.fail_undo = 3  # FAST_RETRY allows 3 attempts
    handle = service.begin("deploy", [Step("apply"), Step("apply", {"fail": True})])
    outcome = handle.result(WAIT)
    assert outcome.state is TxState.PARKED
    assert "compensation remove of step 0 failed 3 times" in (outcome.reason or "")
    assert "OSError: the remote side is down" in (outcome.reason or "")
    assert [i.id for i in service.list(TxState.PARKED)] == [handle.id]
    (event,) = store.audit.query(kind="transaction", subject=handle.id)
    assert event.outcome == "parked"
    assert sample(metrics, "yesman_recovery_transactions_total", outcome="parked") == 1
    assert sample(metrics, "yesman_recovery_compensations_total", outcome="failed") == 3
    assert effects.events("undo") == []
    # The remote side is back: an operator's retry finishes the compensation.
    assert service.retry(handle.id) == f"retrying {handle.id}"
    deadline = time.monotonic() + WAIT
    while service.get(handle.id).state is not TxState.COMPENSATED:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert effects.events("undo") == [f"{handle.id}:0"]
    with pytest.raises(TransactionError, match="it is compensated, not parked"):
        service.abandon(handle.id, "too late")


def test_abandoning_a_parked_transaction_is_recorded(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    service = start_service()
    effects.fail_undo = 100
    handle = service.begin("deploy", [Step("apply"), Step("apply", {"fail": True})])
    assert handle.result(WAIT).state is TxState.PARKED
    with pytest.raises(ValueError, match="`reason`"):
        service.abandon(handle.id, " ")
    assert service.abandon(handle.id, "removed by hand") == f"abandoned {handle.id}"
    found = service.get(handle.id)
    assert found.state is TxState.ABANDONED
    assert found.records[-1].data == {"reason": "removed by hand", "by": "operator"}
    assert found.records[-1].terminal
    outcomes = [e.outcome for e in store.audit.query(kind="transaction", subject=handle.id)]
    assert outcomes == ["abandoned", "parked"]
    with pytest.raises(TransactionError, match="only parked transactions"):
        service.retry(handle.id)


def test_an_unknown_action_is_refused_before_anything_runs(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    service = start_service()
    with pytest.raises(
        ValueError,
        match=r"step 1 of 'x': unknown action 'aply'; registered: "
        r"apply, plain, remove",
    ):
        service.begin("x", [Step("apply"), Step("aply")])
    with pytest.raises(ValueError, match="unknown compensation 'nope' of 'apply'"):
        service.begin("x", [Step("apply", compensate="nope")])
    assert effects.log == []
    assert store.journal.summaries() == []


def test_non_json_arguments_are_refused_before_the_journal_is_touched(
    start_service: StartService, effects: Effects, store: Store, tmp_path: object
) -> None:
    service = start_service()
    expected = r"arguments of step 1 \(apply\) is not JSON-serialisable at \$\.paths\[1\]: a path"
    with pytest.raises(ValueError, match=expected):
        service.begin("x", [Step("apply"), Step("apply", {"paths": ["a", tmp_path]})])
    assert store.journal.summaries() == []
    assert effects.log == []


def test_a_result_that_is_not_json_is_undone_and_the_failure_names_the_key_path(
    start_service: StartService, effects: Effects
) -> None:
    service = start_service()
    handle = service.begin("x", [Step("plain"), Step("plain", {"nan": True})])
    assert handle.result(WAIT).state is TxState.COMPENSATED
    failed = next(r for r in service.get(handle.id).records if r.kind == p.FAILED)
    assert "result of step 1 (plain) is not JSON-serialisable at $.when[1]" in failed.data["error"]
    # It ran, so it is undone too (the later step first).
    assert effects.events("undo") == [f"{handle.id}:1", f"{handle.id}:0"]


def test_a_step_that_times_out_is_compensated_as_possibly_executed(
    start_service: StartService, effects: Effects
) -> None:
    registry = effects.registry

    @registry.register("slow", compensate="remove")
    def slow(step: StepContext) -> None:
        time.sleep(0.5)

    service = start_service()
    handle = service.begin("x", [Step("apply"), Step("slow", timeout=0.05)])
    assert handle.result(WAIT).state is TxState.COMPENSATED
    failed = next(r for r in service.get(handle.id).records if r.kind == p.FAILED)
    assert failed.data["possibly_executed"] is True
    assert "did not finish within 0.05 s" in failed.data["error"]
    assert effects.events("undo") == [f"{handle.id}:1", f"{handle.id}:0"]


def test_a_failing_step_is_retried_by_its_own_settings(
    start_service: StartService, effects: Effects
) -> None:
    from yesman_recovery.transactions import RetrySettings

    calls = []

    @effects.registry.register("flaky")
    def flaky(step: StepContext) -> int:
        calls.append(step.attempt)
        if step.attempt < 3:
            raise ConnectionError("try again")
        return step.attempt

    service = start_service()
    retry = RetrySettings(attempts=3, initial=0.001, max=0.01)
    outcome = service.begin("x", [Step("flaky", retry=retry)]).result(WAIT)
    assert outcome.committed
    assert calls == [1, 2, 3]


def test_await_from_asyncio_keeps_the_loop_running(
    start_service: StartService, effects: Effects
) -> None:
    @effects.registry.register("wait")
    async def wait(step: StepContext) -> str:
        await asyncio.sleep(0.2)
        return "waited"

    service = start_service()

    async def main() -> tuple[object, int]:
        ticks = 0
        task = asyncio.ensure_future(_await(service.begin("x", [Step("wait")])))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.01)
        return task.result(), ticks

    async def _await(handle: object) -> object:
        return await handle  # type: ignore[misc]

    outcome, ticks = asyncio.run(main())
    assert outcome.results == ("waited",)  # type: ignore[attr-defined]
    assert ticks >= 5  # the loop ran while the transaction did


def test_begin_without_a_running_supervisor_is_refused(store: Store, effects: Effects) -> None:
    service = Transactions(store, effects.registry)
    with pytest.raises(TransactionError, match="transactions supervisor is not running"):
        service.begin("x", [Step("apply")])
    assert store.journal.summaries() == []


def test_unfinished_transactions_are_compensated_at_start(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    plan = _plan(effects, 3, policy=None)
    store.journal.append("tx-a", p.BEGIN, plan)
    for kind, data in [
        (p.INTENT, {"step": 0, "attempt": 1}),
        (p.DONE, {"step": 0, "result": 0}),
        (p.INTENT, {"step": 1, "attempt": 1}),
    ]:
        store.journal.append("tx-a", kind, data)
    effects.log.append(("do", "tx-a:0"))
    service = start_service()
    _wait_ended(service, "tx-a")
    assert service.get("tx-a").state is TxState.COMPENSATED
    # The interrupted step 1 may have run: its compensation runs (and finds nothing to undo).
    assert effects.events("undo") == ["tx-a:1", "tx-a:0"]


def test_resume_policy_runs_the_interrupted_idempotent_step_again_with_its_key(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    store.journal.append("tx-r", p.BEGIN, _plan(effects, 3, policy="resume"))
    for kind, data in [
        (p.INTENT, {"step": 0, "attempt": 1}),
        (p.DONE, {"step": 0, "result": 0}),
        (p.INTENT, {"step": 1, "attempt": 1}),
    ]:
        store.journal.append("tx-r", kind, data)
    service = start_service()
    _wait_ended(service, "tx-r")
    assert service.get("tx-r").state is TxState.COMMITTED
    assert effects.events("do") == ["tx-r:1", "tx-r:2"]
    intents = [r.data for r in service.get("tx-r").records if r.kind == p.INTENT]
    assert intents[1:] == [
        {"step": 1, "attempt": 1},
        {"step": 1, "attempt": 2},
        {"step": 2, "attempt": 1},
    ]


def test_transactions_of_another_owner_are_left_alone(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    plan = _plan(effects, 1, policy=None) | {"owner": "someone-else"}
    store.journal.append("tx-other", p.BEGIN, plan)
    service = start_service()
    assert service.unfinished() == []
    assert service.get("tx-other").state is TxState.RUNNING


def test_a_corrupt_record_is_named_audited_and_the_transaction_parked(
    start_service: StartService,
    effects: Effects,
    store: Store,
    state_dir: Path,
    metrics: RecoveryMetrics,
) -> None:
    store.journal.append("tx-bad", p.BEGIN, _plan(effects, 2, policy=None))
    store.journal.append("tx-bad", p.INTENT, {"step": 0, "attempt": 17})
    assert (
        damage(
            state_dir,
            {
                "data": {"attempt": 17, "step": 0},
                "kind": "intent",
                "terminal": False,
            },
        )
        >= 1
    )
    service = start_service()
    deadline = time.monotonic() + WAIT
    while not store.audit.query(kind="corruption", subject="tx-bad"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (event,) = store.audit.query(kind="corruption", subject="tx-bad")
    assert "journal 'tx-bad'" in event.detail
    assert event.outcome == "parked"
    found = service.get("tx-bad")
    assert found.state is TxState.PARKED
    assert "corrupt" in (found.reason or "")
    assert effects.log == []  # nothing was guessed
    assert sample(metrics, "yesman_recovery_transactions_total", outcome="parked") == 1
    # An operator gives up on it: the damaged records go, the audit trail says why.
    assert "damaged records were deleted" in service.abandon("tx-bad", "checked by hand")
    assert store.journal.summaries() == []


def test_finished_transactions_are_compacted_after_keep_finished(
    start_service: StartService, effects: Effects, store: Store
) -> None:
    from yesman_recovery.transactions import TransactionsConfig

    service = start_service(config=TransactionsConfig(keep_finished=0.0))
    effects.fail_undo = 100
    done = service.begin("x", [Step("apply")]).result(WAIT)
    parked = service.begin("y", [Step("apply"), Step("apply", {"fail": True})]).result(WAIT)
    assert parked.state is TxState.PARKED
    assert service.compact() == 1
    assert [i.id for i in service.list()] == [parked.transaction]
    assert done.committed


def test_every_series_starts_at_zero(start_service: StartService, metrics: RecoveryMetrics) -> None:
    for outcome in ("committed", "compensated", "parked", "abandoned"):
        value = metrics.registry.get_sample_value(
            "yesman_recovery_transactions_total", {"outcome": outcome}
        )
        assert value == 0
    for outcome in ("done", "failed"):
        value = metrics.registry.get_sample_value(
            "yesman_recovery_compensations_total", {"outcome": outcome}
        )
        assert value == 0
    start_service()
    assert (
        metrics.registry.get_sample_value(
            "yesman_recovery_transaction_steps_total", {"action": "plain", "outcome": "failed"}
        )
        == 0
    )
    assert metrics.registry.get_sample_value("yesman_recovery_transactions_in_flight") == 0


def test_many_threads_begin_at_once(start_service: StartService, effects: Effects) -> None:
    import concurrent.futures

    service = start_service()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        handles = list(pool.map(lambda _i: service.begin("x", [Step("apply")] * 3), range(40)))
    assert all(h.result(WAIT).committed for h in handles)
    assert len(effects.events("do")) == 120


# --- helpers ---------------------------------------------------------------------------------


def _plan(effects: Effects, n: int, policy: str | None) -> dict[str, object]:
    service = Transactions.__new__(Transactions)
    service.actions = effects.registry
    service.owner = "yesman-recovery"
    return service._plan("hand-made", [Step("apply")] * n, policy)


def _wait_ended(service: Transactions, tx: str) -> None:
    deadline = time.monotonic() + WAIT
    while service.get(tx).state.value not in ("committed", "compensated", "parked"):
        assert time.monotonic() < deadline, kinds(service, tx)
        time.sleep(0.01)


def test_a_step_may_name_its_retry_policy(start_service: StartService, effects: Effects) -> None:
    from yesman_recovery.transactions import RetrySettings

    calls = []

    @effects.registry.register("flaky")
    def flaky(step: StepContext) -> int:
        calls.append(step.attempt)
        if step.attempt < 2:
            raise ConnectionError("try again")
        return step.attempt

    policies = {"api": RetrySettings(attempts=2, initial=0.001, max=0.01)}
    service = start_service(retry_policies=policies)
    assert service.begin("x", [Step("flaky", retry="api")]).result(WAIT).committed
    assert calls == [1, 2]
    with pytest.raises(ValueError, match="step 0: unknown retry policy 'db'; known: api"):
        service.begin("x", [Step("flaky", retry="db")])


def test_a_cancelled_await_leaves_the_outcome_to_other_waiters(
    start_service: StartService, effects: Effects
) -> None:
    release = threading.Event()

    @effects.registry.register("held")
    def held(step: StepContext) -> str:
        assert release.wait(WAIT)
        return "released"

    service = start_service()
    handle = service.begin("x", [Step("held")])

    async def give_up() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await handle

    async def wait() -> Outcome:
        return await handle

    asyncio.run(give_up())
    release.set()
    assert asyncio.run(wait()).results == ("released",)
    assert handle.result(WAIT).results == ("released",)
