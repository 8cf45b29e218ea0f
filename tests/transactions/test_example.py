"""examples/transaction_agent.py, killed with SIGKILL and restarted until every transaction has
ended: each committed workspace is complete, no compensated one left anything behind."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions.records import list_transactions

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transaction_agent.py"
COUNT = 8


def agent(tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--state-dir", str(tmp / "state"), "--work",
         str(tmp / "work"), "--count", str(COUNT), "--delay", "0.1", "--fail-rate", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_agent_killed_and_restarted_ends_every_transaction_cleanly(tmp_path: Path) -> None:
    rng = random.Random(12)
    kills = 0
    for attempt in range(4):
        proc = agent(tmp_path)
        try:
            if attempt == 0:
                # Kill the first run once its first step has taken effect: mid-way for sure.
                deadline = time.monotonic() + 30
                while not list((tmp_path / "work").glob("workspace-*")):
                    assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.2))
            else:
                time.sleep(rng.uniform(0.2, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    assert kills >= 1
    final = agent(tmp_path)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert "(earlier run)" in out

    with open_store(tmp_path / "state", metrics=RecoveryMetrics()) as store:
        found = list_transactions(store)
    assert len(found) == COUNT
    states = {t.name: t.state.value for t in found}
    assert set(states.values()) <= {"committed", "compensated"}
    work = tmp_path / "work"
    registry = (
        json.loads((work / "registry.json").read_text())
        if (work / "registry.json").exists()
        else {}
    )
    for name, state in states.items():
        if state == "committed":
            assert (work / name / "README").is_file()
            assert name in registry
        else:
            assert not (work / name).exists()
            assert name not in registry
    assert set(registry) == {n for n, s in states.items() if s == "committed"}
