"""The sessions benchmark still runs (``--quick``) and prints its one table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sessions.py"


def test_the_sessions_benchmark_runs_in_quick_mode() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not on PATH")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(
            ("crash:", "frozen:", "tmux processes", "idle CPU", "daemon RSS", "scrollback:")
        )
    ]
    assert len(rows) == 14, result.stdout
    assert "nan" not in result.stdout
