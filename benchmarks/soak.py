"""Soak: the real daemon for a set time under a steady trickle of faults and session changes.

The laboratory of the chaos run (``chaos_lab.py``: two declared sessions, three adopted ones, a
daemon on its own tmux socket and state directory) gets one event every ``--gap`` seconds
(default 10), drawn from a seeded schedule: the tmux server, a declared session, a declared
window or a program killed, or an adopted session closed by the user and a new one opened (a
session change); each is checked as the chaos run checks it (recovered exactly, held, nothing
left outside a pane). Every ``--sample`` seconds (default 10) it records the daemon's RSS, open
file descriptors and threads, and the store's used size and audit trail size.

At the end it prints the slope of each per hour (least squares over the run; a leak is a
positive slope past noise; the first sample is left out, as the daemon is still starting) and
the recovery latency of the run's last hour against its first hour (for a run shorter than 4
hours, its last quarter against its first).

Usage: ``python benchmarks/soak.py [--minutes 120] [--seed 1] [--gap 10] [--sample 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chaos
from chaos_lab import Lab, Result, pct, setup
from chaos_pressure import Pressure

TRICKLE = (
    "server_kill",
    "declared_session_kill",
    "declared_window_kill",
    "program_kill",
    "adopted_session_kill",
)
SERIES = ("RSS MiB", "open fds", "threads", "store used MiB", "audit MiB")


class Sampler(threading.Thread):
    """Samples the daemon and the store every ``every`` seconds until stopped."""

    def __init__(self, lab: Lab, every: float) -> None:
        super().__init__(daemon=True)
        self.lab, self.every = lab, every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        from yesman_recovery.storage import open_store

        t0 = time.monotonic()
        while not self.stopped.wait(self.every):
            daemon = self.lab.daemon
            if daemon is None or daemon.poll() is not None:
                continue
            with contextlib.suppress(psutil.Error, OSError, Exception):
                proc = psutil.Process(daemon.pid)
                with open_store(self.lab.work / "state") as store:
                    usage = store.usage()
                row = {
                    "RSS MiB": proc.memory_info().rss / 2**20,
                    "open fds": float(proc.num_fds()),
                    "threads": float(proc.num_threads()),
                    "store used MiB": usage.map_used / 2**20,
                    "audit MiB": usage.db_bytes.get("audit", 0) / 2**20,
                }
                self.samples.append(((time.monotonic() - t0) / 3600, row))


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(hours, value)`` points, per hour."""
    if len(points) < 3:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else float("nan")


def report(sampler: Sampler, results: list[Result], minutes: float) -> None:
    samples = sampler.samples[1:]
    print(f"soak: {minutes:g} min, {len(results)} events, {len(samples)} samples, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    head = f"{'series':<16} {'first':>9} {'last':>9} {'slope / hour':>13}"
    print(head)
    print("-" * len(head))
    for name in SERIES:
        points = [(t, row[name]) for t, row in samples]
        if points:
            print(f"{name:<16} {points[0][1]:9.2f} {points[-1][1]:9.2f} "
                  f"{slope(points):+13.3f}")  # fmt: skip
    window = 60.0 if minutes >= 240 else minutes / 4
    began = min((r.start for r in results), default=0.0)
    ended = max((r.start for r in results), default=0.0)
    first = [r.seconds for r in results if r.seconds is not None and r.start - began <= window * 60]
    last = [r.seconds for r in results if r.seconds is not None and ended - r.start <= window * 60]
    label = "hour" if window == 60.0 else f"{window:g} min"
    for name, values in ((f"first {label}", first), (f"last {label}", last)):
        if values:
            print(f"recovery, {name:<14} n={len(values):3d} median {statistics.median(values):.2f}"
                  f" s, p99 {pct(values, 0.99):.2f} s")  # fmt: skip
    failed = [r for r in results if not r.recovered]
    print(f"recovered {len(results) - len(failed)} of {len(results)}")
    for r in failed:
        print(f"FAILED event {r.index} {r.kind} {r.subject}: {r.problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gap", type=float, default=10.0, help="seconds between events")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    schedule = [rng.choice(TRICKLE) for _ in range(int(args.minutes * 60 / args.gap) + 10)]
    with tempfile.TemporaryDirectory(prefix="yr-soak-") as tmp:
        lab = Lab(Path(tmp))
        lab.pressure = Pressure(lab)
        sampler = Sampler(lab, args.sample)
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
            setup(lab, list(TRICKLE), args.seed)
            sampler.start()
            results = chaos.run(lab, schedule, args.seed, rng, args.minutes, gap=args.gap)
        finally:
            sampler.stopped.set()
            lab.pressure.close()
            lab.cleanup()
    report(sampler, results, args.minutes)
    return 0 if all(r.recovered for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
