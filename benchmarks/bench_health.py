"""Health-check costs, with the seed plan's design measured side by side in the same run.

Prints one table:

- CPU of 100 checks at a 1 s interval, as % of one core (median and p99 of one-second samples,
  after a warm-up), for the check actors (one :class:`HealthCheckActor` per check under a
  ``health`` supervisor, probes on their worker threads, deadlines from the one scheduler
  thread) against the seed plan's design as the issue describes it: one asyncio event loop per
  check (its own thread), each ``await asyncio.wait_for(check(), timeout)`` then
  ``await asyncio.sleep(interval)``. Each design runs in a fresh interpreter, the two taking
  turns three times (15 s each); the probe is the same trivial callable, so the figures are the
  cost of the machinery.
- failure → heal latency with the default thresholds (3 consecutive failures, 1 success) at a
  1 s interval: from the moment a target starts failing (a random phase of the interval) to the
  moment its heal starts, over 20 checks failing at once, against the per-check asyncio loop
  with the same 3 failures. Expected: between 2 and 3 intervals.

Usage: ``python benchmarks/bench_health.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from yesman_recovery.health import (
    CheckPolicy,
    CheckSpec,
    HealAction,
    HealthChecks,
    health_subtree,
)
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import Supervisor, ThreadScheduler

INTERVAL = 1.0
ROUNDS = 3
"""Turns each design takes at the CPU measurement (one-second samples pooled)."""


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# --- the two designs ---------------------------------------------------------------------------


class Target:
    """Something a check looks at: healthy until ``fail()``; remembers when the heal came."""

    def __init__(self) -> None:
        self.failing_since: float | None = None
        self.healed_at: float | None = None
        self.done = threading.Event()

    def probe(self) -> bool:
        return self.failing_since is None

    async def aprobe(self) -> bool:
        return self.failing_since is None

    def heal(self) -> None:
        if self.healed_at is None and self.failing_since is not None:
            self.healed_at = time.perf_counter()
            self.done.set()


def start_actors(targets: list[Target]) -> tuple[Any, ThreadScheduler]:
    scheduler = ThreadScheduler()
    checks = HealthChecks(RecoveryMetrics(), scheduler=scheduler)
    policy = CheckPolicy(interval=INTERVAL)  # the default thresholds
    specs = [
        CheckSpec(f"c{i}", t.probe, policy=policy, heal=HealAction(f"h{i}", t.heal))
        for i, t in enumerate(targets)
    ]
    root = Supervisor.start(
        children=[health_subtree(checks, specs)], scheduler=scheduler, metrics=checks.metrics
    )
    return root, scheduler


class LoopPerCheck:
    """The seed plan's design: one asyncio loop (and thread) per check, 3 failures → heal."""

    def __init__(self, targets: list[Target], timeout: float = 0.5) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(t, timeout), daemon=True) for t in targets
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, target: Target, timeout: float) -> None:
        asyncio.run(self._check_forever(target, timeout))

    async def _check_forever(self, target: Target, timeout: float) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                ok = await asyncio.wait_for(target.aprobe(), timeout=timeout)
            except Exception:
                ok = False
            failures = 0 if ok else failures + 1
            if failures >= 3:
                target.heal()
            await asyncio.sleep(INTERVAL)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(INTERVAL * 3)


# --- CPU, one design per interpreter ---------------------------------------------------------


def cpu_worker(design: str, checks: int, seconds: float, warmup: float) -> dict[str, Any]:
    targets = [Target() for _ in range(checks)]
    if design == "actors":
        root, scheduler = start_actors(targets)
    else:
        loops = LoopPerCheck(targets)
    time.sleep(warmup)
    samples = []
    last_cpu, last_wall = time.process_time(), time.perf_counter()
    end = last_wall + seconds
    while time.perf_counter() < end:
        time.sleep(min(1.0, seconds))
        cpu, wall = time.process_time(), time.perf_counter()
        samples.append(100.0 * (cpu - last_cpu) / (wall - last_wall))
        last_cpu, last_wall = cpu, wall
    if design == "actors":
        root.shutdown(30)
        scheduler.close()
    else:
        loops.stop()
    return {"samples": samples}


def measure_cpu(design: str, checks: int, seconds: float, warmup: float) -> dict[str, Any]:
    args = [sys.executable, __file__, "--worker", design, "--checks", str(checks),
            "--seconds", str(seconds), "--warmup", str(warmup),
            "--interval", str(INTERVAL)]  # fmt: skip
    done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- failure -> heal latency -----------------------------------------------------------------


def measure_latency(design: str, n: int) -> list[float]:
    targets = [Target() for _ in range(n)]
    if design == "actors":
        root, scheduler = start_actors(targets)
    else:
        loops = LoopPerCheck(targets)
    time.sleep(INTERVAL * 1.5)  # every check healthy, at its own phase
    rng = random.Random(1)
    start = time.perf_counter()
    offsets = sorted(rng.uniform(0, INTERVAL) for _ in targets)
    for target, offset in zip(targets, offsets, strict=True):  # random phases of one interval
        time.sleep(max(0.0, start + offset - time.perf_counter()))
        target.failing_since = time.perf_counter()
    for target in targets:
        target.done.wait(INTERVAL * 10)
    if design == "actors":
        root.shutdown(30)
        scheduler.close()
    else:
        loops.stop()
    return [t.healed_at - t.failing_since for t in targets if t.healed_at and t.failing_since]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    parser.add_argument("--worker", choices=("actors", "loops"), help=argparse.SUPPRESS)
    parser.add_argument("--checks", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global INTERVAL
    INTERVAL = 0.25 if args.quick else args.interval
    logging.disable(logging.CRITICAL)
    if args.worker:
        print(json.dumps(cpu_worker(args.worker, args.checks, args.seconds, args.warmup)))
        return
    # --quick is a smoke run: fewer checks, a 0.25 s interval, shorter windows.
    checks, seconds, warmup, n = (10, 1.0, 0.5, 3) if args.quick else (100, 15.0, 3.0, 20)
    # The designs take turns (A B A B …) so a change of the machine's load hits both alike.
    samples: dict[str, list[float]] = {"actors": [], "loops": []}
    for _ in range(1 if args.quick else ROUNDS):
        for design in samples:
            samples[design] += measure_cpu(design, checks, seconds, warmup)["samples"]
    cpu = {d: {"median": statistics.median(v), "p99": _p99(v)} for d, v in samples.items()}
    lat = {d: measure_latency(d, n) for d in ("actors", "loops")}
    rows = [
        (
            f"CPU of {checks} checks at {INTERVAL:g} s, % of one core",
            f"{cpu['actors']['median']:.2f} % ({cpu['actors']['p99']:.2f} %)",
            f"{cpu['loops']['median']:.2f} % ({cpu['loops']['p99']:.2f} %)",
            "≤ 2 %",
        ),
        (
            f"failure → heal, default thresholds, {n} checks",
            f"{statistics.median(lat['actors']):.2f} s ({_p99(lat['actors']):.2f} s)",
            f"{statistics.median(lat['loops']):.2f} s ({_p99(lat['loops']):.2f} s)",
            f"{2 * INTERVAL:g}-{3 * INTERVAL:g} s",
        ),
    ]
    header = ("what (median, p99)", "check actors", "asyncio loop per check (seed plan)", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
