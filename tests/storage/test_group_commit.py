"""Checkpoints of many sessions created at once: one commit, each still whole on its own."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from yesman_recovery.group_commit import GroupCommit
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, open_store


def _state(i: int) -> dict[str, object]:
    return {"session": f"agent-{i}", "panes": [{"cwd": f"/src/{i}", "argv": ["claude"]}] * 4}


def test_fifty_sessions_checkpointing_at_once_share_few_commits(store: Store) -> None:
    start = threading.Barrier(50)
    ids: dict[int, str] = {}

    def write(i: int) -> None:
        start.wait()
        ids[i] = store.checkpoints.create(f"agent-{i}", _state(i), metadata={"n": i})

    before = store.checkpoints.commits
    threads = [threading.Thread(target=write, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    commits = store.checkpoints.commits - before
    assert len(ids) == 50
    assert commits < 50  # one flush serves many sessions; usually 2 or 3 under no load
    for i, checkpoint_id in ids.items():  # each one readable alone, checksummed
        got = store.checkpoints.get(checkpoint_id)
        assert got.scope == f"agent-{i}"
        assert got.state == _state(i)
        assert got.metadata == {"n": i}
    assert store.checkpoints.verify().ok


def test_an_unchanged_state_in_a_batch_is_not_written_again(store: Store) -> None:
    first = store.checkpoints.create("a", _state(1))
    ids = store.checkpoints.create_many(
        [("a", _state(1), None), ("b", _state(2), None), ("b", _state(2), None)]
    )
    assert ids[0] == first
    assert ids[1] == ids[2]
    assert [c.id for c in store.checkpoints.list("b")] == [ids[1]]


def test_an_item_that_fails_fails_only_its_own_caller() -> None:
    def write(items: object) -> list[int | BaseException]:
        assert isinstance(items, list)
        return [ValueError(f"bad {i}") if i < 0 else i * 2 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    results: dict[int, object] = {}

    def submit(i: int) -> None:
        try:
            results[i] = group.submit(i)
        except ValueError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(-3, 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: (f"bad {i}" if i < 0 else i * 2) for i in range(-3, 10)}


def test_batched_checkpoints_survive_a_killed_writer(tmp_path: Path) -> None:
    """Every checkpoint a killed process's create returned for is there, intact, after."""
    script = (
        "import sys, threading\n"
        "from yesman_recovery.storage import open_store\n"
        "from yesman_recovery.metrics.definitions import RecoveryMetrics\n"
        "store = open_store(sys.argv[1], metrics=RecoveryMetrics())\n"
        "lock = threading.Lock()\n"
        "def run(t):\n"
        "    for i in range(10**6):\n"
        "        cid = store.checkpoints.create(f's{t}', {'t': t, 'i': i})\n"
        "        with lock:\n"
        "            print(cid, t, i, flush=True)\n"
        "for t in range(8):\n"
        "    threading.Thread(target=run, args=(t,), daemon=True).start()\n"
        "threading.Event().wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "state")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(400)]
    proc.kill()
    proc.wait(10)
    lines += proc.stdout.readlines()
    # A line the kill cut short was not reported whole: only complete lines count.
    reported = [line.split() for line in lines if line.endswith("\n") and line.strip()]
    with open_store(tmp_path / "state", metrics=RecoveryMetrics()) as store:
        for cid, t, i in reported:
            assert store.checkpoints.get(cid).state == {"t": int(t), "i": int(i)}
        assert store.checkpoints.verify().ok
