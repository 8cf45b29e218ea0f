"""The user guide's snippets run as written; the example and the benchmark run to completion."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_guide_snippets_run_sync_and_asyncio() -> None:
    embed, with_asyncio = python_blocks(ROOT / "docs" / "supervision.md")
    namespace: dict[str, object] = {"__name__": "guide"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(embed, "supervision.md#embed", "exec"), namespace)
        exec(compile(with_asyncio, "supervision.md#asyncio", "exec"), namespace)
    assert out.getvalue().splitlines() == [
        "fetched page-1",
        "[('fetcher', <ChildState.RUNNING: 'running'>, 1), "
        "('poller', <ChildState.RUNNING: 'running'>, 1)]",
        "fetched page-2",
        "tree stopped, poller cancelled: ['item']",
    ]


def test_embedded_agent_example_restarts_its_worker_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embedded_agent.py"), "--seconds", "1.5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    restarts = re.findall(r"^restart #(\d+): worker incarnation (\d+) after crashed: ",
                          done.stdout, flags=re.MULTILINE)  # fmt: skip
    assert restarts, done.stdout
    assert all(int(inc) == int(n) + 1 for n, inc in restarts)
    assert re.search(r"^worker restarted [1-9]\d* times in 1\.5 s; tree stopped$", done.stdout,
                     flags=re.MULTILINE)  # fmt: skip


def test_asyncio_agent_example_restarts_both_children_and_exits_by_itself() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "asyncio_agent.py"), "--seconds", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    restarts = re.findall(r"^restart #(\d+): (fetcher|summarizer) incarnation (\d+) after "
                          r"crashed: (\w+)", done.stdout, flags=re.MULTILINE)  # fmt: skip
    kinds = {child: error for _, child, _, error in restarts}
    assert kinds == {"fetcher": "ConnectionError", "summarizer": "RuntimeError"}, done.stdout
    summary = re.search(r"^fetcher restarted (\d+) times, summarizer (\d+) times; loop ticked "
                        r"(\d+) times, longest gap (\d+) ms; tree stopped$", done.stdout,
                        flags=re.MULTILINE)  # fmt: skip
    assert summary, done.stdout
    assert int(summary[3]) > 100  # the loop kept its 5 ms heartbeat while children restarted


def test_benchmark_quick_prints_one_table() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_supervisor.py"), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("bench_supervisor: 200 crashes")
    assert lines[1].split()[:2] == ["what", "yesman-recovery"]
    rows = {line[:41].strip() for line in lines[3:]}
    assert {
        "crash -> replacement running, median",
        "crash -> replacement running, p99",
        "restarts per second (one child)",
        "RSS per 1,000 idle actors",
        "stop a tree of 1,000 children",
        "awaited supervisor call, median",
        "awaited supervisor call, p99",
        "crash -> replacement task running, median",
        "crash -> replacement task running, p99",
    } <= rows
    assert all(re.search(r"\d", line) for line in lines[3:])  # every row carries a figure
