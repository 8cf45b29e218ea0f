"""The scale benchmark still runs (a tiny seeded slice) and prints its table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


def test_the_scale_benchmark_restores_every_session_and_prints_its_table() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not on PATH")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("2 ")]
    assert len(rows) == 1, result.stdout
    assert "(no --resurrect)" in result.stdout  # the column is skipped without a checkout
    assert rows[0][-1] == "0", result.stdout  # every restore validated
