"""The journal protocol as pure functions: replay records, decide what happens next.

No threads, no store: records are built by hand, and a small in-memory driver plays a whole
transaction (with crashes at random points) through the same ``decide`` the actor uses.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yesman_recovery.config.transactions import RetrySettings
from yesman_recovery.storage import JournalRecord
from yesman_recovery.transactions import protocol as p

TX = "tx-1"
_time = itertools.count(1)


def rec(kind: str, data: Any = None) -> JournalRecord:
    return JournalRecord(TX, float(next(_time)), kind, data, kind in p.TERMINAL_KINDS)


def begin(
    n: int = 3,
    *,
    idempotent: bool = False,
    policy: str | None = None,
    attempts: int = 1,
    compensate: bool = True,
) -> JournalRecord:
    steps = [
        p.PlannedStep(
            f"a{i}",
            {"i": i},
            f"undo{i}" if compensate else None,
            idempotent,
            None,
            RetrySettings(attempts=attempts, initial=0.5, max=2.0),
        ).to_json()
        for i in range(n)
    ]
    return rec(p.BEGIN, {"name": "t", "owner": "o", "policy": policy, "steps": steps})


def done(i: int) -> list[JournalRecord]:
    return [rec(p.INTENT, {"step": i, "attempt": 1}), rec(p.DONE, {"step": i, "result": i})]


def decide(records: list[JournalRecord], recovering: bool = False, **kw: Any) -> p.Decision:
    return p.decide(p.replay(TX, records), recovering=recovering, **kw)


RETRY3 = RetrySettings(attempts=3, initial=1.0, max=4.0)


def test_steps_run_in_order_then_commit() -> None:
    records = [begin(2)]
    assert decide(records) == p.RunStep(0, 1)
    records += done(0)
    assert decide(records) == p.RunStep(1, 1)
    records += done(1)
    assert decide(records) == p.Finish(p.COMMITTED)
    records.append(rec(p.COMMITTED))
    view = p.replay(TX, records)
    assert view.state is p.TxState.COMMITTED
    assert view.results == {0: 0, 1: 1}
    assert decide(records) == p.Idle()


def test_a_failed_step_compensates_the_completed_ones_in_reverse_order() -> None:
    records = [
        begin(3),
        *done(0),
        *done(1),
        rec(p.INTENT, {"step": 2, "attempt": 1}),
        rec(p.FAILED, {"step": 2, "attempt": 1, "error": "boom", "final": True}),
    ]
    decision = decide(records)
    assert isinstance(decision, p.Abort)
    assert "step 2 (a2) failed: boom" in decision.reason
    records.append(rec(p.ABORTED, {"reason": decision.reason}))
    order = []
    while isinstance(d := decide(records), p.Compensate):
        order.append(d.index)
        records += [rec(p.UNDO, {"step": d.index, "attempt": 1}), rec(p.UNDONE, {"step": d.index})]
    assert order == [1, 0]  # the step that raised had no effect: it is not compensated
    assert d == p.Finish(p.COMPENSATED)


def test_a_failing_step_is_retried_with_backoff_before_it_aborts() -> None:
    records = [begin(1, attempts=3)]
    delays = []
    for attempt in (1, 2, 3):
        d = decide(records)
        assert isinstance(d, p.RunStep)
        assert d == p.RunStep(0, attempt, d.delay)
        delays.append(d.delay)
        records += [
            rec(p.INTENT, {"step": 0, "attempt": attempt}),
            rec(p.FAILED, {"step": 0, "attempt": attempt, "error": "x", "final": attempt == 3}),
        ]
    assert delays == [0.0, 0.5, 1.0]
    assert isinstance(decide(records), p.Abort)


def test_a_timed_out_step_is_compensated_and_not_retried_unless_idempotent() -> None:
    timeout = {
        "step": 0,
        "attempt": 1,
        "error": "timed out",
        "final": False,
        "possibly_executed": True,
    }
    records = [
        begin(1, attempts=3),
        rec(p.INTENT, {"step": 0, "attempt": 1}),
        rec(p.FAILED, timeout),
    ]
    assert isinstance(decide(records), p.Abort)
    records.append(rec(p.ABORTED, {"reason": "x"}))
    assert decide(records) == p.Compensate(0, 1)
    idem = [
        begin(1, attempts=3, idempotent=True),
        rec(p.INTENT, {"step": 0, "attempt": 1}),
        rec(p.FAILED, timeout),
    ]
    assert decide(idem) == p.RunStep(0, 2, 0.5)


def test_a_failing_compensation_is_retried_with_backoff_then_parked() -> None:
    records = [begin(1), *done(0), rec(p.ABORTED, {"reason": "x"})]
    for attempt in (1, 2, 3):
        d = decide(records, compensation_retry=RETRY3)
        assert isinstance(d, p.Compensate)
        assert (d.attempt, d.delay) == (attempt, RETRY3.delay(attempt - 1))
        records += [
            rec(p.UNDO, {"step": 0, "attempt": attempt}),
            rec(p.UNDO_FAILED, {"step": 0, "attempt": attempt, "error": "denied"}),
        ]
    d = decide(records, compensation_retry=RETRY3)
    assert isinstance(d, p.Park)
    assert d.step == 0
    assert "compensation undo0 of step 0 failed 3 times; last error: denied" in d.reason
    records.append(rec(p.PARKED, {"reason": d.reason, "step": 0}))
    assert p.replay(TX, records).state is p.TxState.PARKED
    assert decide(records) == p.Idle()
    # An operator's retry reopens it with a fresh set of attempts.
    records.append(rec(p.RETRY, {"by": "operator"}))
    assert decide(records, recovering=True, compensation_retry=RETRY3) == p.Compensate(0, 1)


def test_after_a_crash_a_step_with_intent_and_no_done_is_compensated() -> None:
    records = [begin(3), *done(0), rec(p.INTENT, {"step": 1, "attempt": 1})]
    d = decide(records, recovering=True)
    assert isinstance(d, p.Abort)
    records.append(rec(p.ABORTED, {"reason": d.reason}))
    assert p.replay(TX, records).to_undo() == [1, 0]
    assert decide(records) == p.Compensate(1, 1)


def test_resume_runs_the_interrupted_step_again_only_if_it_is_idempotent() -> None:
    crashed = [rec(p.INTENT, {"step": 1, "attempt": 1})]
    idem = [begin(3, idempotent=True, policy="resume"), *done(0), *crashed]
    assert decide(idem, recovering=True) == p.RunStep(1, 2)
    plain = [begin(3, policy="resume"), *done(0), *crashed]
    d = decide(plain, recovering=True)
    assert isinstance(d, p.Abort)
    assert "not idempotent" in d.reason
    # A step that never started is safe to run whatever it is.
    fresh = [begin(3, policy="resume"), *done(0)]
    assert decide(fresh, recovering=True) == p.RunStep(1, 1)


def test_the_restart_policy_comes_from_the_configuration_unless_the_transaction_chose() -> None:
    records = [begin(2, idempotent=True), *done(0)]
    assert isinstance(decide(records, recovering=True), p.Abort)
    assert decide(records, recovering=True, on_restart="resume") == p.RunStep(1, 1)
    chose = [begin(2, idempotent=True, policy="compensate"), *done(0)]
    assert isinstance(decide(chose, recovering=True, on_restart="resume"), p.Abort)


def test_a_compensation_interrupted_by_a_crash_runs_again_and_counts_once() -> None:
    records = [
        begin(2),
        *done(0),
        *done(1),
        rec(p.ABORTED, {"reason": "x"}),
        rec(p.UNDO, {"step": 1, "attempt": 1}),
    ]
    assert decide(records, recovering=True) == p.Compensate(1, 1)
    records.append(rec(p.UNDONE, {"step": 1}))
    assert decide(records) == p.Compensate(0, 1)


def test_steps_without_a_compensation_are_skipped() -> None:
    records = [begin(2, compensate=False), *done(0), rec(p.ABORTED, {"reason": "x"})]
    assert decide(records) == p.Finish(p.COMPENSATED)


def test_malformed_journals_are_refused_not_guessed() -> None:
    with pytest.raises(p.ProtocolError, match="does not start with a begin"):
        p.replay(TX, [rec(p.INTENT, {"step": 0})])
    with pytest.raises(p.ProtocolError, match="names no valid step"):
        p.replay(TX, [begin(1), rec(p.DONE, {"step": 5})])
    with pytest.raises(p.ProtocolError, match="unexpected 'weird' record"):
        p.replay(TX, [begin(1), rec("weird")])
    with pytest.raises(p.ProtocolError, match="follows the terminal record"):
        p.replay(TX, [begin(1), rec(p.COMMITTED), rec(p.INTENT, {"step": 0})])


# --- a whole transaction driven through decide(), with crashes -------------------------------


class World:
    """The outside world of the driver: which effects exist, counted by idempotency key."""

    def __init__(self) -> None:
        self.effects: dict[int, int] = {}  # step -> times its effect was applied (idempotent: 1)
        self.undone: dict[int, int] = {}  # step -> times its effect was removed

    def do(self, index: int) -> None:
        self.effects[index] = 1

    def undo(self, index: int) -> None:
        if self.effects.get(index) and not self.undone.get(index):
            self.undone[index] = 1


def drive(
    outcomes: list[str], crashes: list[int], undo_fails: int
) -> tuple[list[JournalRecord], World]:
    """Play a transaction; ``outcomes[i]`` is ``ok``/``fail``/``timeout`` for step i; each
    number in ``crashes`` is how many records are written before the next crash."""
    records = [begin(len(outcomes), idempotent=True)]
    world = World()
    crash_at = sorted(crashes)
    failing_undos = undo_fails
    recovering = False

    def write(kind: str, data: Any = None) -> None:
        if crash_at and len(records) >= crash_at[0]:
            crash_at.pop(0)
            raise InterruptedError
        records.append(rec(kind, data))

    for _round in range(200):
        try:
            d = p.decide(p.replay(TX, records), recovering=recovering, compensation_retry=RETRY3)
            recovering = False
            match d:
                case p.RunStep(index=i, attempt=a):
                    write(p.INTENT, {"step": i, "attempt": a})
                    if outcomes[i] != "fail":
                        world.do(i)
                    if outcomes[i] == "ok":
                        write(p.DONE, {"step": i, "result": i})
                    else:
                        write(
                            p.FAILED,
                            {
                                "step": i,
                                "attempt": a,
                                "error": "e",
                                "final": True,
                                "possibly_executed": outcomes[i] == "timeout",
                            },
                        )
                case p.Compensate(index=i, attempt=a):
                    assert i not in p.replay(TX, records).undone, "compensated twice"
                    write(p.UNDO, {"step": i, "attempt": a})
                    if failing_undos:
                        failing_undos -= 1
                        write(p.UNDO_FAILED, {"step": i, "attempt": a, "error": "e"})
                    else:
                        world.undo(i)
                        write(p.UNDONE, {"step": i})
                case p.Abort(reason=r):
                    write(p.ABORTED, {"reason": r})
                case p.Finish(kind=k):
                    write(k)
                case p.Park(reason=r):
                    write(p.PARKED, {"reason": r})
                    # An operator (another process, which this crash does not hit) retries.
                    records.append(rec(p.RETRY, {"by": "test"}))
                    recovering = True
                case p.Idle():
                    return records, world
        except InterruptedError:
            recovering = True  # the process died; the next one starts from the journal
    raise AssertionError("the transaction never finished")


@settings(max_examples=300, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["ok", "ok", "fail", "timeout"]), min_size=1, max_size=5),
    crashes=st.lists(st.integers(min_value=1, max_value=30), max_size=4),
    undo_fails=st.integers(min_value=0, max_value=4),
)
def test_any_crash_sequence_ends_with_one_terminal_record_and_each_effect_undone_once(
    outcomes: list[str], crashes: list[int], undo_fails: int
) -> None:
    records, world = drive(outcomes, crashes, undo_fails)
    terminal = p.terminal_records(records)
    assert len(terminal) == 1
    if terminal[0].kind == p.COMMITTED:
        assert all(o == "ok" for o in outcomes)
        assert world.undone == {}
    else:
        assert terminal[0].kind == p.COMPENSATED
        # Every effect that happened was removed, exactly once; none that did not happen.
        assert set(world.undone) == set(world.effects)
        assert all(n == 1 for n in world.undone.values())
