"""Supervision costs, with Pykka's own costs measured side by side in the same run.

Prints one table:

- crash -> replacement running: from a timestamp taken just before the crashing handler raises
  to the timestamp the new incarnation's ``on_start`` records (median, p99), against Pykka's
  ``ask`` round trip measured in the same run;
- the same p99 with the process pinned to one core (``sched_setaffinity``, in a fresh
  interpreter): every restart is a new thread, and on a busy machine the kernel may place it on
  another core that is not free, which costs a scheduling slice (~4 ms) — this row shows how
  much of the p99 is that;
- restarts per second, crashing one child back to back;
- RSS per 1,000 supervised idle actors against 1,000 plain ``ThreadingActor``s (each measured in
  a fresh interpreter, so freed memory of one cannot hide the cost of the other); the restart
  counters every permanent child gets at 0 (four series each) are measured on their own, also
  in a fresh interpreter, and shown apart: they are the metrics' cost, not the actors';
- time to stop a tree of 1,000 children against ``ActorRegistry.stop_all`` of 1,000 plain actors;
- an awaited supervisor call (``await aio.get(root.proxy().count_children())`` on an asyncio
  loop) against the same call answered by a blocking ``get()``, interleaved in the same loop;
- crash -> replacement task running for a coroutine child (a task on the loop): from just
  before the task raises to the first line of the new task (median, p99).

Log records of pykka and yesman_recovery are turned off while measuring: formatting a traceback
per crash costs more than the restart itself, and what it costs depends on the host's handlers.

Usage: ``python benchmarks/bench_supervisor.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pykka

from yesman_recovery import ChildSpec, SupervisedActor, Supervisor, aio
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_supervisor


class Stopwatch:
    """Shared by every incarnation of a :class:`Crasher`: when it raised, when it came back."""

    def __init__(self) -> None:
        self.raised = 0.0
        self.latencies: list[float] = []
        self.back = threading.Event()


class Crasher(SupervisedActor):
    def __init__(self, watch: Stopwatch) -> None:
        super().__init__()
        self.watch = watch

    def on_start(self) -> None:
        if self.incarnation > 1:
            self.watch.latencies.append(time.perf_counter() - self.watch.raised)
            self.watch.back.set()

    def on_receive(self, message: Any) -> Any:
        self.watch.raised = time.perf_counter()
        raise RuntimeError("crash on purpose")

    def on_failure(self, *exc_info: Any) -> None:
        pass  # keep the run quiet: Pykka already logs; nothing to clean up


class Echo(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


class Idle(SupervisedActor):
    pass


class PlainIdle(pykka.ThreadingActor):
    pass


class TaskStopwatch:
    """Shared by every incarnation of :func:`task_crasher` (all on the loop's thread)."""

    def __init__(self) -> None:
        self.raised = 0.0
        self.latencies: list[float] = []
        self.go = asyncio.Event()  # set by the driver: crash now
        self.back = asyncio.Event()  # set by the next incarnation once it runs


async def task_crasher(watch: TaskStopwatch) -> None:
    if watch.raised:
        watch.latencies.append(time.perf_counter() - watch.raised)
    watch.back.set()
    await watch.go.wait()
    watch.go.clear()
    watch.raised = time.perf_counter()
    raise RuntimeError("crash on purpose")


async def measure_task_restarts(crashes: int) -> list[float]:
    """Crash one coroutine child ``crashes`` times; per-crash latencies (s)."""
    watch = TaskStopwatch()
    spec = ChildSpec("crasher", task_crasher, args=(watch,))
    async with await aio.start(Supervisor, children=[spec], max_restarts=10**9, max_seconds=1.0,
                               metrics=RecoveryMetrics()):  # fmt: skip
        for _ in range(crashes):
            watch.back.clear()
            watch.go.set()
            await asyncio.wait_for(watch.back.wait(), 5)
    return watch.latencies


async def measure_awaited_calls(n: int) -> tuple[list[float], list[float]]:
    """The same supervisor call, awaited and answered by a blocking get(), interleaved."""
    async with await aio.start(Supervisor, children=[ChildSpec("idle", Idle)],
                               metrics=RecoveryMetrics()) as root:  # fmt: skip
        proxy = root.proxy()
        awaited, blocking = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            await aio.get(proxy.count_children(), 5)
            awaited.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            proxy.count_children().get(timeout=5)
            blocking.append(time.perf_counter() - t0)
    return awaited, blocking


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_restarts(crashes: int) -> tuple[list[float], float]:
    """Crash one child ``crashes`` times; per-crash latencies (s) and restarts per second."""
    watch = Stopwatch()
    spec = ChildSpec("crasher", Crasher, args=(watch,))
    with Supervisor.start(
        children=[spec], max_restarts=10**9, max_seconds=1.0, metrics=RecoveryMetrics()
    ) as root:
        began = time.perf_counter()
        for _ in range(crashes):
            watch.back.clear()
            ref = root.proxy().whereis("crasher").get(timeout=5)
            ref.tell("crash")
            if not watch.back.wait(5):
                raise RuntimeError("the crashed child did not come back within 5 s")
        elapsed = time.perf_counter() - began
    return watch.latencies, crashes / elapsed


def measure_ask(n: int) -> list[float]:
    ref = Echo.start()
    try:
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            ref.ask(i, timeout=5)
            times.append(time.perf_counter() - t0)
        return times
    finally:
        ref.stop(timeout=5)


def tree_costs(kind: str, n: int) -> dict[str, float]:
    """Run in a fresh interpreter: RSS growth for ``n`` idle actors and the time to stop them."""
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    if kind == "series":
        metrics = RecoveryMetrics()
        prime_supervisor(metrics, "root", [f"idle-{i}" for i in range(n)])
        gc.collect()
        return {"rss_bytes": proc.memory_info().rss - before, "start_s": 0.0, "stop_s": 0.0}
    if kind == "supervised":
        specs = [ChildSpec(f"idle-{i}", Idle) for i in range(n)]
        root = Supervisor.start(children=specs, metrics=RecoveryMetrics())
    else:
        refs = [PlainIdle.start() for _ in range(n)]
    started = time.perf_counter() - t0
    gc.collect()
    rss = proc.memory_info().rss - before
    t0 = time.perf_counter()
    if kind == "supervised":
        if not root.shutdown(timeout=60):
            raise RuntimeError("the tree did not stop within 60 s")
    else:
        pykka.ActorRegistry.stop_all(block=True, timeout=60)
        assert not any(r.is_alive() for r in refs)
    stopped = time.perf_counter() - t0
    return {"rss_bytes": rss, "start_s": started, "stop_s": stopped}


def pinned_latencies(crashes: int, kind: str = "thread") -> list[float]:
    """Run in a fresh interpreter: crash latencies with every thread on one core."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if kind == "task":
        return asyncio.run(measure_task_restarts(crashes))
    latencies, _ = measure_restarts(crashes)
    return latencies


def in_child(*args: str) -> Any:
    """Run this script with ``args`` in a fresh interpreter; its last line of output as JSON."""
    out = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--tree-child", choices=["supervised", "plain", "series"], help=argparse.SUPPRESS
    )
    parser.add_argument("--actors", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--pinned-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pinned-kind", default="thread", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("pykka", "yesman_recovery"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    if args.tree_child:
        print(json.dumps(tree_costs(args.tree_child, args.actors)))
        return 0
    if args.pinned_child:
        print(json.dumps(pinned_latencies(args.pinned_child, args.pinned_kind)))
        return 0

    crashes = 200 if args.quick else 3000
    actors = 100 if args.quick else 1000
    asks = measure_ask(crashes)
    latencies, rate = measure_restarts(crashes)
    asks_after = measure_ask(crashes)  # again after, so drift during the run shows
    asks += asks_after
    awaited, blocking = asyncio.run(measure_awaited_calls(crashes))
    task_latencies = asyncio.run(measure_task_restarts(crashes))
    pinned: list[float] = in_child("--pinned-child", str(crashes))
    pinned_tasks: list[float] = in_child("--pinned-child", str(crashes), "--pinned-kind", "task")
    sup = in_child("--tree-child", "supervised", "--actors", str(actors))
    plain = in_child("--tree-child", "plain", "--actors", str(actors))
    series = in_child("--tree-child", "series", "--actors", str(actors))
    per_k = 1000 / actors

    med, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    ask_med, ask_p99 = statistics.median(asks), percentile(asks, 0.99)
    aw_med, aw_p99 = statistics.median(awaited), percentile(awaited, 0.99)
    get_med, get_p99 = statistics.median(blocking), percentile(blocking, 0.99)
    task_med, task_p99 = statistics.median(task_latencies), percentile(task_latencies, 0.99)
    series_rss = series["rss_bytes"] * per_k / 2**20
    sup_rss = sup["rss_bytes"] * per_k / 2**20 - series_rss
    plain_rss = plain["rss_bytes"] * per_k / 2**20
    rows = [
        ("crash -> replacement running, median", ms(med), ms(ask_med) + " (ask)",
         f"{med / ask_med:.1f}x", ""),
        ("crash -> replacement running, p99", ms(p99), ms(ask_p99) + " (ask)",
         f"{p99 / ask_p99:.1f}x", "<= 2 ms " + ("ok" if p99 <= 0.002 else "MISSED")),
        ("  same, pinned to one core, p99", ms(percentile(pinned, 0.99)), "", "",
         "<= 2 ms " + ("ok" if percentile(pinned, 0.99) <= 0.002 else "MISSED")),
        ("restarts per second (one child)", f"{rate:,.0f}/s", f"{1 / ask_med:,.0f} asks/s",
         f"{rate * ask_med:.2f}x", ""),
        ("RSS per 1,000 idle actors", f"{sup_rss:.1f} MiB", f"{plain_rss:.1f} MiB (plain)",
         f"{sup_rss / plain_rss:.2f}x" if plain_rss > 0 else "-",
         "<= 25 MB " + ("ok" if sup_rss * 2**20 <= 25e6 else "MISSED")),
        ("  + their restart series at 0 (4 each)", f"{series_rss:.1f} MiB", "", "", ""),
        ("start 1,000 children", ms(sup["start_s"] * per_k), ms(plain["start_s"] * per_k)
         + " (plain)", f"{sup['start_s'] / plain['start_s']:.1f}x", ""),
        ("stop a tree of 1,000 children", ms(sup["stop_s"] * per_k), ms(plain["stop_s"] * per_k)
         + " (stop_all)", f"{sup['stop_s'] / plain['stop_s']:.1f}x", ""),
        ("awaited supervisor call, median", ms(aw_med), ms(get_med) + " (get())",
         f"{aw_med / get_med:.1f}x", ""),
        ("awaited supervisor call, p99", ms(aw_p99), ms(get_p99) + " (get())",
         f"{aw_p99 / get_p99:.1f}x", ""),
        ("crash -> replacement task running, median", ms(task_med), ms(ask_med) + " (ask)",
         f"{task_med / ask_med:.1f}x", ""),
        ("crash -> replacement task running, p99", ms(task_p99), ms(ask_p99) + " (ask)",
         f"{task_p99 / ask_p99:.1f}x", "<= 2 ms " + ("ok" if task_p99 <= 0.002 else "MISSED")),
        ("  same, pinned to one core, p99", ms(percentile(pinned_tasks, 0.99)), "", "",
         "<= 2 ms " + ("ok" if percentile(pinned_tasks, 0.99) <= 0.002 else "MISSED")),
    ]  # fmt: skip
    head = ("what", "yesman-recovery", "Pykka baseline", "ratio", "target")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    title = (
        f"bench_supervisor: {len(latencies)} crashes, {len(asks)} asks, {actors} actors"
        f"{' (scaled to 1,000)' if actors != 1000 else ''}, {psutil.cpu_count()} cores"
        f"{', --quick' if args.quick else ''}"
    )
    print(title)
    for row in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
