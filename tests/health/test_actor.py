"""The check actor: timeouts, answering while a probe hangs, restarts, async probes, run now."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from tests.health.conftest import Tree, sample, view, wait_for
from yesman_recovery.health import CheckPolicy, CheckSpec, HealAction, HealthChecks, ProbeResult
from yesman_recovery.health.heals import command_heal
from yesman_recovery.storage import Store


def test_a_probe_sleeping_past_its_timeout_fails_at_the_timeout_and_the_actor_answers(
    checks: HealthChecks, tree: Tree
) -> None:
    release = threading.Event()

    def hang() -> bool:
        release.wait(30)
        return True

    healed = threading.Event()
    policy = CheckPolicy(interval=0.5, timeout=0.2, failure_threshold=1, flap_threshold=None)
    tree.start([CheckSpec("slow", hang, policy=policy, heal=HealAction("h", healed.set))])
    try:
        started = time.monotonic()
        wait_for(lambda: view(checks, "slow")["status"] == "failing", what="timed out")
        assert time.monotonic() - started < 2.0
        assert view(checks, "slow")["detail"] == "no answer within the 0.2 s timeout"
        assert view(checks, "slow")["duration_seconds"] == 0.2
        ref = tree.check_ref("slow")
        # The probe still sleeps on its worker: the actor answers anyway.
        assert ref.proxy().describe().get(timeout=1)["status"] == "failing"
        # The next tick does not pile a second thread on the stuck one.
        wait_for(lambda: "still running" in view(checks, "slow")["detail"], what="next tick")
        # The heal does not queue behind the hung probe.
        assert healed.wait(5)
    finally:
        release.set()
    wait_for(lambda: view(checks, "slow")["status"] == "healthy", what="answers again")


def test_a_raising_probe_is_a_failure_with_its_message(checks: HealthChecks, tree: Tree) -> None:
    def boom() -> bool:
        raise OSError("target vanished")

    policy = CheckPolicy(interval=0.2, timeout=0.1, failure_threshold=1, flap_threshold=None)
    tree.start([CheckSpec("boom", boom, policy=policy)])
    wait_for(lambda: view(checks, "boom")["status"] == "failing", what="failing")
    assert view(checks, "boom")["detail"] == "probe raised OSError: target vanished"
    assert tree.check_ref("boom").is_alive()
    assert sample(checks, "yesman_recovery_health_check_failures_total", check="boom") >= 1


def test_counters_survive_a_restart_of_the_actor(
    checks: HealthChecks, tree: Tree, store: Store
) -> None:
    policy = CheckPolicy(
        interval=0.1, timeout=0.05, failure_threshold=1, heal_max=1, flap_threshold=None
    )
    spec = CheckSpec("down", lambda: False, policy=policy,
                     heal=HealAction("noop", lambda: None))  # fmt: skip
    root = tree.start([spec])
    wait_for(lambda: view(checks, "down")["escalated"], what="escalated")
    health = root.proxy().whereis("health").get(timeout=5)
    old = tree.check_ref("down")
    old.tell("crash")  # an unknown message is ignored; crash it through its supervisor instead
    health.proxy().terminate_child("down").get(timeout=5)
    health.proxy().restart_child("down").get(timeout=5)
    new = tree.check_ref("down")
    assert new.actor_urn != old.actor_urn
    described = new.proxy().describe().get(timeout=5)
    assert described["escalated"] is True
    assert described["heals_in_window"] == 1
    time.sleep(0.3)  # a few more failing results in the new incarnation
    events = store.audit.query(kind="health", subject="down")
    assert [e.action for e in events].count("heal") == 1  # the budget was not reset
    assert [e.action for e in events].count("escalate") == 1


def test_run_now_returns_the_result(checks: HealthChecks, tree: Tree) -> None:
    calls: list[int] = []

    def probe() -> ProbeResult:
        calls.append(1)
        return ProbeResult(True, f"call {len(calls)}")

    policy = CheckPolicy(interval=60, flap_threshold=None)
    tree.start([CheckSpec("manual", probe, policy=policy)])
    wait_for(lambda: calls, what="first run")
    result = checks.run_now("manual", timeout=5)
    assert result["detail"] == "call 2"
    assert result["status"] == "healthy"
    with pytest.raises(LookupError, match="no health check 'nope'; known: manual"):
        checks.run_now("nope")


@pytest.fixture
def host_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_an_async_probe_runs_on_the_host_loop_without_blocking_it(
    checks: HealthChecks, tree: Tree, host_loop: asyncio.AbstractEventLoop
) -> None:
    ran_on: list[asyncio.AbstractEventLoop] = []
    ticks = 0
    hang = True

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def probe() -> bool:
        ran_on.append(asyncio.get_running_loop())
        if hang:
            await asyncio.sleep(30)  # cancelled at the timeout
        return True

    asyncio.run_coroutine_threadsafe(ticker(), host_loop)
    policy = CheckPolicy(interval=0.3, timeout=0.1, failure_threshold=1, flap_threshold=None)
    tree.start([CheckSpec("async", probe, policy=policy, loop=host_loop)])
    wait_for(lambda: view(checks, "async")["status"] == "failing", what="timed out")
    assert view(checks, "async")["detail"] == "no answer within the 0.1 s timeout"
    before = ticks
    time.sleep(0.2)
    assert ticks > before + 5  # the loop kept running while the probe hung on it
    assert ran_on[0] is host_loop
    hang = False
    wait_for(lambda: view(checks, "async")["status"] == "healthy", what="healthy")
    pending = asyncio.run_coroutine_threadsafe(_pending_sleeps(), host_loop).result(5)
    assert pending == 0  # the hung probes were cancelled, not left on the loop


async def _pending_sleeps() -> int:
    me = asyncio.current_task()
    return sum(
        1
        for t in asyncio.all_tasks()
        if t is not me and getattr(t.get_coro(), "__qualname__", "").endswith(".probe")
    )


def test_an_async_probe_and_heal_without_a_loop_run_on_a_private_loop(
    checks: HealthChecks, tree: Tree
) -> None:
    healed = threading.Event()

    async def probe() -> bool:
        await asyncio.sleep(0)
        return False

    async def heal() -> None:
        await asyncio.sleep(0)
        healed.set()

    policy = CheckPolicy(interval=0.2, timeout=0.1, failure_threshold=1, flap_threshold=None)
    tree.start([CheckSpec("private", probe, policy=policy, heal=HealAction("h", heal))])
    assert healed.wait(5)
    wait_for(lambda: view(checks, "private")["last_heal"], what="heal recorded")
    assert view(checks, "private")["last_heal"]["outcome"] == "success"
    assert view(checks, "private")["detail"] == "probe returned False"


def test_a_check_added_to_a_running_tree(checks: HealthChecks, tree: Tree) -> None:
    tree.start([])
    policy = CheckPolicy(interval=0.2, flap_threshold=None)
    checks.add(CheckSpec("late", lambda: True, policy=policy))
    wait_for(lambda: view(checks, "late")["status"] == "healthy", what="late check ran")
    with pytest.raises(ValueError, match="already exists"):
        checks.add(CheckSpec("late", lambda: True))


def test_two_checks_never_run_the_same_heal_at_once(checks: HealthChecks, tree: Tree) -> None:
    running = threading.Event()
    release = threading.Event()

    def slow_heal() -> None:
        running.set()
        release.wait(10)

    heal = HealAction("shared", slow_heal)
    policy = CheckPolicy(interval=0.1, timeout=0.05, failure_threshold=1, flap_threshold=None)
    specs = [CheckSpec(n, lambda: False, policy=policy, heal=heal) for n in ("a", "b")]
    tree.start(specs)
    try:
        running.wait(5)
        wait_for(lambda: sum(sample(checks, "yesman_recovery_heal_suppressed_total", check=n,
                                    reason="in_progress") for n in ("a", "b")) >= 1,
                 what="in progress")  # fmt: skip
        healing = wait_for(lambda: [v["name"] for v in checks.views() if v["healing"]])
        assert len(healing) == 1
    finally:
        release.set()


def test_every_series_exists_at_zero_before_the_first_result(checks: HealthChecks) -> None:
    from yesman_recovery.health import health_subtree

    health_subtree(checks, [CheckSpec("fresh", lambda: True)])
    text = generate_latest(checks.metrics.registry).decode()
    for line in (
        'yesman_recovery_health_check_status{check="fresh"} 0.0',
        'yesman_recovery_health_check_failures_total{check="fresh"} 0.0',
        'yesman_recovery_health_check_duration_seconds_count{check="fresh"} 0.0',
        'yesman_recovery_heal_actions_total{check="fresh",outcome="timeout"} 0.0',
        'yesman_recovery_heal_suppressed_total{check="fresh",reason="flapping"} 0.0',
        'yesman_recovery_heal_suppressed_total{check="fresh",reason="budget"} 0.0',
        'yesman_recovery_heal_suppressed_total{check="fresh",reason="in_progress"} 0.0',
        'yesman_recovery_health_check_flapping{check="fresh"} 0.0',
        'yesman_recovery_health_check_escalated{check="fresh"} 0.0',
    ):
        assert line in text, line


def test_a_hanging_heal_command_is_killed_recorded_as_timeout_and_counted(
    checks: HealthChecks, tree: Tree, store: Store
) -> None:
    policy = CheckPolicy(
        interval=0.2, timeout=0.1, failure_threshold=1, heal_max=1, heal_timeout=0.3,
        flap_threshold=None,
    )  # fmt: skip
    spec = CheckSpec("stuck", lambda: False, policy=policy,
                     heal=command_heal("echo trying; sleep 30", 0.3))  # fmt: skip
    tree.start([spec])
    wait_for(lambda: view(checks, "stuck")["escalated"], what="escalated")
    heal = next(e for e in store.audit.query(kind="health", subject="stuck") if e.action == "heal")
    assert heal.outcome == "timeout"
    assert heal.detail == "timed out after 0.3 s (killed); output: trying"
    assert sample(checks, "yesman_recovery_heal_actions_total", check="stuck",
                  outcome="timeout") == 1.0  # fmt: skip
