"""The restore benchmark still runs (quick mode) and prints its table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tmux
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_restore.py"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not on PATH")
def test_bench_restore_quick_prints_its_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["case", "method"]
    assert any(line.startswith("restore 20 panes") and "tmuxp load" in line for line in lines)
    snapshot_rows = [line for line in lines if "take_snapshot" in line]
    assert snapshot_rows
    assert all(line.split()[-1] == "1" for line in snapshot_rows)  # one tmux process
