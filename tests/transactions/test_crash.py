"""A separate process running transactions is SIGKILLed at each boundary; after a restart every
transaction has exactly one terminal record and each step that took effect is compensated
exactly once, counted by idempotency key in the side-effect log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions import protocol as p

WORKER = Path(__file__).with_name("crash_worker.py")
TIMEOUT = 90.0


def run_worker(state: Path, log: Path, plan: list[list[str]], kill: str | None) -> int:
    args = [sys.executable, str(WORKER), str(state), str(log), json.dumps(plan)]
    if kill:
        args.append(kill)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode in (0, -9), proc.stderr
    return proc.returncode


def check(state: Path, log: Path, plan: list[list[str]]) -> dict[str, str]:
    """Assert the invariants; the terminal kind of each transaction."""
    lines = log.read_text().splitlines() if log.exists() else []
    counts = Counter(lines)
    with open_store(state, metrics=RecoveryMetrics()) as store:
        summaries = store.journal.summaries()
        # A kill may come before the later transactions of the plan began.
        assert len(summaries) <= len(plan)
        ends = {}
        for summary in summaries:
            records = store.journal.records(summary.transaction)
            terminal = p.terminal_records(records)
            assert len(terminal) == 1, [r.kind for r in records]
            assert terminal[0] is records[-1]
            ends[summary.transaction] = terminal[0].kind
    for tx, kind in ends.items():
        done = [line.split()[1] for line in lines if line.startswith(f"do {tx}:")]
        undone = [line.split()[1] for line in lines if line.startswith(f"undo {tx}:")]
        assert all(counts[f"do {key}"] == 1 for key in done)
        if kind == p.COMMITTED:
            assert undone == []
        else:
            assert kind == p.COMPENSATED
            assert sorted(undone) == sorted(done), "every effect undone exactly once"
        # The engine calls a compensation again only after a crash interrupted it.
        calls = Counter(line.split()[1] for line in lines if line.startswith(f"undo-call {tx}:"))
        assert all(n <= 2 for n in calls.values()), calls
    return ends


def kill_and_recover(tmp: Path, plan: list[list[str]], kill: str) -> tuple[int, dict[str, str]]:
    state, log = tmp / "state", tmp / "effects.log"
    first = run_worker(state, log, plan, kill)
    assert run_worker(state, log, [], None) == 0
    return first, check(state, log, plan)


CASES = [  # kill point, plan, how the first transaction ends
    ("before_intent:1", [["ok", "ok", "ok"]], p.COMPENSATED),
    ("after_intent:1", [["ok", "ok", "ok"]], p.COMPENSATED),
    ("after_effect:1", [["ok", "ok", "ok"]], p.COMPENSATED),
    ("after_done:1", [["ok", "ok", "ok"]], p.COMPENSATED),
    # Every step done: nothing is left to run and nothing to undo, so it commits.
    ("after_done:2", [["ok", "ok", "ok"]], p.COMMITTED),
    ("during_undo:1", [["ok", "ok", "fail"]], p.COMPENSATED),
    ("during_undo:0", [["ok", "ok", "fail"], ["ok", "fail"], ["ok", "ok", "ok"]], p.COMPENSATED),
]


@pytest.mark.parametrize(("kill", "plan", "first_end"), CASES, ids=[c[0] for c in CASES])
def test_killed_at_a_boundary_then_restarted_every_transaction_ends_once(
    tmp_path: Path, kill: str, plan: list[list[str]], first_end: str
) -> None:
    first, ends = kill_and_recover(tmp_path, plan, kill)
    assert first == -9, "the worker reached the kill point"
    assert first_end in ends.values()
    if kill.startswith("during_undo"):
        undo_calls = [x for x in (tmp_path / "effects.log").read_text().split() if x == "undo-call"]
        assert undo_calls, "a compensation ran"


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.lists(st.sampled_from(["ok", "ok", "fail"]), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    ),
    boundary=st.sampled_from(
        ["before_intent", "after_intent", "after_effect", "after_done", "during_undo"]
    ),
    step=st.integers(min_value=0, max_value=2),
)
def test_random_outcomes_and_kill_points_always_end_once(
    tmp_path_factory: pytest.TempPathFactory, plan: list[list[str]], boundary: str, step: int
) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    _first, ends = kill_and_recover(tmp, plan, f"{boundary}:{step}")
    for outcomes, kind in zip(plan, ends.values(), strict=False):
        if "fail" in outcomes:
            assert kind == p.COMPENSATED
