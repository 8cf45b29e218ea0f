"""Run a script of ``benchmarks/`` as its smoke tests do: ``--quick``, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(script: str, *args: str, timeout: float = 180.0) -> list[str]:
    """The lines ``benchmarks/<script> --quick ARGS`` printed; fails the test if it failed."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=BENCHMARKS.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
