"""``benchmarks/run_all.py`` names the machine and every benchmark with its exact command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_dry_run_lists_the_machine_and_every_benchmark_with_its_command() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Machine: ")
    assert "cores" in lines[0]
    assert "load average" in lines[0]
    for bench in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        assert f"## {bench.stem} — `.venv/bin/python benchmarks/{bench.name}`" in lines
    assert "## chaos — `.venv/bin/python benchmarks/chaos.py --seed 16 --faults 1000`" in lines


def test_an_unknown_name_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--dry-run", "--only", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown nope" in result.stderr
