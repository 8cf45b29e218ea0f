"""The restore benchmark still runs (quick mode) and prints its table."""

from __future__ import annotations

import shutil

import pytest

from tests.benchmarks import run_quick

pytestmark = pytest.mark.tmux


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not on PATH")
def test_bench_restore_quick_prints_its_table() -> None:
    lines = run_quick("bench_restore.py", timeout=110)
    assert lines[0].split()[:2] == ["case", "method"]
    assert any(line.startswith("restore 20 panes") and "tmuxp load" in line for line in lines)
    snapshot_rows = [line for line in lines if "take_snapshot" in line]
    assert snapshot_rows
    assert all(line.split()[-1] == "1" for line in snapshot_rows)  # one tmux process
