"""Retry and circuit-breaker costs, with tenacity, pybreaker and a bare call side by side.

Prints one table:

- per-call time of a successful call (no retry needed): a bare call; tenacity's own
  ``@retry`` decorator and pybreaker's breaker (the baselines); our retry policy, our breaker,
  and both composed (``Resilient``: retry → breaker). Each sample times a batch of calls; the
  median and p99 are over the samples' per-call times;
- the retry path: a call that fails once and succeeds on its retry (no backoff sleep), through
  tenacity and through our retry, both with a sleep function that returns at once;
- throughput of 8 threads calling a function that sleeps 1 ms: bare, through pybreaker (which
  holds its lock around the call, so the calls run one at a time) and through our breaker;
  the p99 column is the per-call latency;
- the same with 100 asyncio tasks awaiting ``asyncio.sleep(0.001)``: bare, through tenacity's
  ``AsyncRetrying`` (baseline), through our breaker, and through our retry + breaker.

Targets: breaker <= 5 us median; retry + breaker <= 2x tenacity alone; 8 threads through the
breaker >= 90 % of bare throughput.

Usage: ``python benchmarks/bench_resilience.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pybreaker
import tenacity

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import CircuitBreaker, Resilient, Retry, RetryPolicy


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call(fn: Callable[[], Any], samples: int, batch: int) -> list[float]:
    """Per-call seconds of ``samples`` batches of ``batch`` calls."""
    for _ in range(batch):  # warm up
        fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - start) / batch)
    return times


def threaded(
    call: Callable[[Callable[[], None]], None], threads: int, calls: int
) -> tuple[float, list[float]]:
    """Calls per second of ``threads`` threads each making ``calls`` calls of a 1 ms sleep."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_line = threading.Barrier(threads + 1)

    def sleep_1ms() -> None:
        time.sleep(0.001)

    def worker(mine: list[float]) -> None:
        start_line.wait()
        for _ in range(calls):
            began = time.perf_counter()
            call(sleep_1ms)
            mine.append(time.perf_counter() - began)

    pool = [threading.Thread(target=worker, args=(lat,)) for lat in latencies]
    for t in pool:
        t.start()
    start_line.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    return threads * calls / elapsed, [x for lat in latencies for x in lat]


def tasks(
    call: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]], n: int, calls: int
) -> tuple[float, list[float]]:
    """Calls per second of ``n`` asyncio tasks each awaiting ``calls`` 1 ms sleeps."""
    latencies: list[float] = []

    async def sleep_1ms() -> None:
        await asyncio.sleep(0.001)

    async def worker() -> None:
        for _ in range(calls):
            began = time.perf_counter()
            await call(sleep_1ms)
            latencies.append(time.perf_counter() - began)

    async def main() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(n)))
        return time.perf_counter() - began

    elapsed = asyncio.run(main())
    return n * calls / elapsed, latencies


def best_of(
    runs: int, measure: Callable[[], tuple[float, list[float]]]
) -> tuple[float, list[float]]:
    """The median throughput of ``runs`` runs, with all their latencies."""
    results = [measure() for _ in range(runs)]
    rates = sorted(r for r, _ in results)
    return rates[len(rates) // 2], [x for _, lat in results for x in lat]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} us"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    logging.getLogger("yesman_recovery").setLevel(logging.CRITICAL + 1)
    samples, batch = (30, 200) if args.quick else (300, 1000)
    thread_calls, task_calls, runs = (20, 5, 1) if args.quick else (300, 50, 3)

    metrics = RecoveryMetrics()
    ours_retry = Retry("bench", RetryPolicy(), metrics=metrics)
    ours_breaker = CircuitBreaker("bench", metrics=metrics)
    both = Resilient(retry=ours_retry, breaker=ours_breaker)
    their_breaker = pybreaker.CircuitBreaker()

    def bare() -> int:
        return 1

    # tenacity configured as our default policy: 3 attempts, exponential backoff with jitter
    options: dict[str, Any] = {
        "stop": tenacity.stop_after_attempt(3),
        "wait": tenacity.wait_exponential_jitter(),
        "reraise": True,
    }
    tenacity_fn = tenacity.retry(**options)(bare)
    variants: dict[str, Callable[[], Any]] = {
        "bare call": bare,
        "tenacity @retry (baseline)": tenacity_fn,
        "pybreaker (baseline)": their_breaker(bare),
        "our retry": ours_retry(bare),
        "our breaker": ours_breaker(bare),
        "our retry + breaker": both(bare),
    }
    # The retry path itself: every call fails once, then succeeds (no backoff sleep).
    flaky_state = {"n": 0}

    def fails_every_other() -> int:
        flaky_state["n"] += 1
        if flaky_state["n"] % 2:
            raise ConnectionError("reset")
        return 1

    def no_sleep(_seconds: float) -> None:
        """Both engines get it: time.sleep(0) would yield the core and time the scheduler."""

    ours_zero = Retry("bench-zero", RetryPolicy(initial_delay=0, max_delay=0, budget_tokens=None),
                      metrics=metrics, sleep=no_sleep)  # fmt: skip
    variants["tenacity, one retry (baseline)"] = tenacity.retry(
        stop=tenacity.stop_after_attempt(3), reraise=True, sleep=no_sleep
    )(fails_every_other)
    variants["our retry, one retry"] = ours_zero(fails_every_other)
    times = {name: per_call(fn, samples, batch) for name, fn in variants.items()}
    med = {name: statistics.median(t) for name, t in times.items()}

    def plain(fn: Callable[[], None]) -> None:
        fn()

    t_bare = best_of(runs, lambda: threaded(plain, 8, thread_calls))
    t_theirs = best_of(runs, lambda: threaded(their_breaker.call, 8, thread_calls))
    t_ours = best_of(runs, lambda: threaded(ours_breaker.call, 8, thread_calls))

    async def aplain(fn: Callable[[], Awaitable[None]]) -> None:
        await fn()

    async def tenacity_async(fn: Callable[[], Awaitable[None]]) -> None:
        await tenacity.AsyncRetrying(**options)(fn)

    a_bare = best_of(runs, lambda: tasks(aplain, 100, task_calls))
    a_tenacity = best_of(runs, lambda: tasks(tenacity_async, 100, task_calls))
    a_ours = best_of(runs, lambda: tasks(ours_breaker.acall, 100, task_calls))
    a_both = best_of(runs, lambda: tasks(both.acall, 100, task_calls))

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    rows: list[tuple[str, ...]] = []
    for name, t in times.items():
        vs, target = "", ""
        if name == "our retry":
            vs = f"{med[name] / med['tenacity @retry (baseline)']:.2f}x tenacity"
        elif name == "our breaker":
            vs = f"{med[name] / med['pybreaker (baseline)']:.2f}x pybreaker"
            target = "<= 5 us " + ok(med[name] <= 5e-6)
        elif name == "our retry, one retry":
            vs = f"{med[name] / med['tenacity, one retry (baseline)']:.2f}x tenacity"
        elif name == "our retry + breaker":
            ratio = med[name] / med["tenacity @retry (baseline)"]
            vs = f"{ratio:.2f}x tenacity"
            target = "<= 2x tenacity " + ok(ratio <= 2)
        rows.append((name, us(med[name]), us(percentile(t, 0.99)), vs, target))

    def throughput(name: str, result: tuple[float, list[float]], base: float,
                   target: str = "") -> tuple[str, ...]:  # fmt: skip
        rate, lat = result
        return (name, f"{rate:,.0f}/s", f"{percentile(lat, 0.99) * 1e3:.2f} ms",
                f"{rate / base:.0%} of bare", target)  # fmt: skip

    rows += [
        throughput("8 threads x 1 ms call, bare", t_bare, t_bare[0]),
        throughput("8 threads, pybreaker (baseline)", t_theirs, t_bare[0]),
        throughput("8 threads, our breaker", t_ours, t_bare[0],
                   ">= 90% " + ok(t_ours[0] >= 0.9 * t_bare[0])),
        throughput("100 tasks x 1 ms await, bare", a_bare, a_bare[0]),
        throughput("100 tasks, tenacity AsyncRetrying (baseline)", a_tenacity, a_bare[0]),
        throughput("100 tasks, our breaker", a_ours, a_bare[0]),
        throughput("100 tasks, our retry + breaker", a_both, a_bare[0]),
    ]  # fmt: skip
    head = ("what", "median", "p99", "vs baseline", "target")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(
        f"bench_resilience: {samples} x {batch} calls per variant, 8 threads x {thread_calls} "
        f"and 100 tasks x {task_calls} calls (median of {runs} runs), {os.cpu_count()} cores, "
        f"tenacity {_version('tenacity')}, "
        f"pybreaker {_version('pybreaker')}{', --quick' if args.quick else ''}"
    )
    for row in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
