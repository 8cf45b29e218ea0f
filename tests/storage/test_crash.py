"""Crash safety with real processes: writers killed with SIGKILL, readers beside a writer."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.storage.store import Durability

from .crash_writer import state_for

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS_PER_MODE = 20
DEADLINE = 30.0


def start_writer(
    state_dir: Path, durability: str, seed: int, count: int | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, str(WRITER), str(state_dir), durability, str(seed)]
    if count is not None:
        args.append(str(count))
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; any still running at its end are killed by pid."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"writer exited early with {proc.wait(timeout=10)}"
    return line.strip()


@pytest.mark.parametrize("durability", ["durable", "fast"])
def test_a_writer_killed_at_random_loses_nothing_it_reported(
    tmp_path: Path, durability: Durability, processes: list[subprocess.Popen[str]]
) -> None:
    rng = random.Random(f"kill-{durability}")
    state_dir = tmp_path / "state"
    reported: dict[str, list[str]] = {"C": [], "J": [], "A": []}
    expected_states: dict[str, int] = {}
    seeds = []
    for round_no in range(KILLS_PER_MODE):
        seed = round_no
        seeds.append(seed)
        proc = start_writer(state_dir, durability, seed)
        processes.append(proc)
        assert read_line(proc) == "READY"
        for _ in range(rng.randrange(1, 80)):
            kind, ident, i = read_line(proc).split(" ")
            reported[kind].append(ident)
            if kind == "C":
                expected_states[ident] = int(i)
        proc.send_signal(signal.SIGKILL)  # wherever the writer is: mid-write, mid-grow, mid-commit
        assert proc.wait(timeout=10) == -signal.SIGKILL

    with open_store(state_dir, durability=durability, metrics=RecoveryMetrics()) as store:
        store.reader_check()
        report = store.checkpoints.verify()
        assert report.ok, report.corrupt
        assert report.checked >= len(set(expected_states))
        for checkpoint, written in expected_states.items():
            seed = int(checkpoint.split("%20")[1])
            assert store.checkpoints.restore(checkpoint) == state_for(written, seed)
        audited = {event.id for event in store.audit.query()}
        assert set(reported["A"]) <= audited
        for tx in set(reported["J"]):
            assert store.journal.records(tx)  # every reported transaction has its records
        assert sum(len(store.journal.records(tx)) for tx in set(reported["J"])) >= len(
            reported["J"]
        )
        # the store still takes writes after all those crashes
        store.checkpoints.create("after", {"ok": True})
        assert store.checkpoints.latest("after").state == {"ok": True}  # type: ignore[union-attr]


def test_a_reader_process_reads_while_a_writer_process_writes(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    state_dir = tmp_path / "state"
    count = 150
    writer = start_writer(state_dir, "durable", seed=7, count=count)
    processes.append(writer)
    assert read_line(writer) == "READY"
    seen: list[int] = []
    # a small map here too, so this process must adopt each size the writer grows the map to
    with open_store(
        state_dir, durability="durable", metrics=RecoveryMetrics(), map_size=64 * 1024
    ) as store:
        deadline = time.monotonic() + DEADLINE
        finished = False
        while not finished:
            assert time.monotonic() < deadline, "writer did not finish in time"
            finished = writer.poll() is not None
            for scope_no in range(3):
                newest = store.checkpoints.latest(f"scope 7 {scope_no}")
                if newest is not None:
                    assert newest.state == state_for(newest.state["i"], 7)  # whole, never torn
                    seen.append(newest.state["i"])
        assert writer.wait(timeout=10) == 0
        assert len(set(seen)) > 3  # the reader saw the store change while it was written
        last = max(i for i in range(count) if i % 5 < 3)
        assert max(seen) == last
