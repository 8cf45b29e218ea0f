"""examples/transaction_agent.py, killed with SIGKILL and restarted until every transaction has
ended: each committed workspace is complete, no compensated one left anything behind."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions.records import list_transactions

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transaction_agent.py"
COUNT = 8


def agent(tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--state-dir", str(tmp / "state"), "--work",
         str(tmp / "work"), "--count", str(COUNT), "--delay", "0.03", "--fail-rate", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_agent_killed_and_restarted_ends_every_transaction_cleanly(tmp_path: Path) -> None:
    rng = random.Random(12)
    kills = 0
    for _attempt in range(30):
        proc = agent(tmp_path)
        try:
            proc.wait(timeout=rng.uniform(0.3, 0.9))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
            continue
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == 0
        break
    else:
        # Never finished between kills: one last run without a kill.
        final = agent(tmp_path)
        _out, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
    assert kills >= 1, "the agent was killed at least once"

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
