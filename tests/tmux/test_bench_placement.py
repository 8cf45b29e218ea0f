"""The placement benchmark still runs (``--quick``), prints its one table and leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.benchmarks import run_quick

pytestmark = pytest.mark.tmux


def _sockets() -> set[str]:
    folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.geteuid()}"
    return {p.name for p in folder.glob("yr-bench-placement-*")} if folder.is_dir() else set()


def test_the_placement_benchmark_runs_and_ends_its_servers() -> None:
    before = _sockets()
    lines = run_quick("bench_placement.py", timeout=120)
    assert lines[0].split()[:3] == ["case", "method", "n"]
    methods = {line[19:49].strip() for line in lines[2:]}
    assert {"direct (no launcher)", "exec-only launcher (-N + sh)", "no launcher"} <= methods
    assert _sockets() <= before, "a server socket of the benchmark was left behind"
