"""Transaction costs, with the seed plan's in-memory transaction manager as the baseline.

Prints one table:

- the journal's cost per step: the one flushed commit a step adds (its ``done`` record with
  the next step's ``intent``, written before that step's side effect), median and p99, on a
  ``durable`` and on a ``fast`` store (the journal is flushed in both); the baseline writes
  nothing; beside it, one bare durable LMDB commit of a small record (the disk's floor, which
  the whole cost follows when other programs load the disk);
- the latency of a whole 3-step transaction (begin → committed; 8 journal records and one
  audit event) from one thread, against the plan's manager running the same three no-op steps;
- transactions per second for 3-step transactions from 1 and from 8 threads (concurrent
  transactions share flushes: group commit);
- start-up recovery of 1,000 transactions left unfinished by a crash (each interrupted in its
  second step): from starting the service to the last one compensated, median and worst of
  several runs (each on a fresh store) with the CPU time of the median run. The plan's manager
  keeps transactions in memory, so a crash loses them: there is nothing to measure.

The baseline is the plan's ``TransactionManager.execute_transaction`` (an ``async`` loop over
operations with rollback in reverse on failure), copied below, run with ``asyncio.run`` per
transaction as a caller without an event loop would.

Usage: ``python benchmarks/bench_transactions.py [--quick]`` (``--quick``: a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yesman_recovery.config.transactions import TransactionsConfig
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions import ActionRegistry, Step, StepContext, Transactions
from yesman_recovery.transactions import protocol as p
from yesman_recovery.transactions.writer import JournalWriter

STEPS = 3


# --- the baseline: the seed plan's in-memory manager ------------------------------------------


class PlanTransactionManager:
    """The plan's design: no journal; rollback functions kept in a list in memory."""

    def __init__(self) -> None:
        self.transactions: dict[str, list[Callable[..., Any]]] = {}

    async def execute_transaction(
        self, transaction_id: str, operations: list[dict[str, Any]]
    ) -> Any:
        completed_operations = []
        try:
            for op in operations:
                result = await op["function"](*op.get("args", []), **op.get("kwargs", {}))
                if op.get("rollback"):
                    completed_operations.append((op["rollback"], result))
            return True
        except Exception:
            for rollback_func, original_result in reversed(completed_operations):
                try:
                    await rollback_func(original_result)
                except Exception:
                    logging.getLogger(__name__).exception("rollback failed")
            raise


async def _noop(*_args: Any) -> None:
    return None


def plan_transaction(manager: PlanTransactionManager, n: int) -> None:
    ops = [{"function": _noop, "rollback": _noop} for _ in range(STEPS)]
    asyncio.run(manager.execute_transaction(f"tx-{n}", ops))


# --- measuring ----------------------------------------------------------------------------------


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def registry() -> ActionRegistry:
    actions = ActionRegistry()

    @actions.register("work", compensate="undo", idempotent=True)
    def work(step: StepContext) -> int:
        return step.index

    @actions.register("undo", idempotent=True)
    def undo(step: StepContext) -> None:
        return None

    return actions


def journal_per_step(directory: Path, durability: str, samples: int) -> list[float]:
    with open_store(directory, durability=durability, metrics=RecoveryMetrics()) as store:  # type: ignore[arg-type]
        writer = JournalWriter(store.journal)
        out = []
        for n in range(samples):
            tx = f"tx-{n}"
            writer.append(tx, p.BEGIN, {"steps": []})
            start = time.perf_counter()
            writer.append_many(
                [
                    (tx, p.DONE, {"step": 0, "result": 0}, False),
                    (tx, p.INTENT, {"step": 1, "attempt": 1}, False),
                ]
            )
            out.append(time.perf_counter() - start)
        return out


def bare_commit(directory: Path, samples: int) -> list[float]:
    """One small durable put + commit straight on LMDB: what any durable record costs here."""
    import lmdb

    directory.mkdir()
    env = lmdb.open(str(directory), map_size=1 << 26)
    try:
        out = []
        for n in range(samples):
            start = time.perf_counter()
            with env.begin(write=True) as txn:
                txn.put(f"k{n:08d}".encode(), b"x" * 120)
            out.append(time.perf_counter() - start)
        return out
    finally:
        env.close()


def throughput(run_one: Callable[[int], None], threads: int, total: int) -> float:
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            run_one(n)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return total / (time.perf_counter() - start)


def engine_rows(directory: Path, samples: int, total: int) -> dict[str, Any]:
    metrics = RecoveryMetrics()
    with open_store(directory, metrics=metrics) as store:
        service = Transactions(store, registry(), metrics=metrics).start()
        try:
            steps = [Step("work")] * STEPS

            def one(_n: int) -> None:
                assert service.begin("bench", steps).result(30).committed

            latencies = []
            for n in range(samples):
                start = time.perf_counter()
                one(n)
                latencies.append(time.perf_counter() - start)
            return {
                "latency": stats(latencies),
                "tps1": throughput(one, 1, total),
                "tps8": throughput(one, 8, total),
            }
        finally:
            service.stop()


def plan_rows(samples: int, total: int) -> dict[str, Any]:
    manager = PlanTransactionManager()
    latencies = []
    for n in range(samples):
        start = time.perf_counter()
        plan_transaction(manager, n)
        latencies.append(time.perf_counter() - start)

    def one(n: int) -> None:
        plan_transaction(manager, n)

    return {
        "latency": stats(latencies),
        "tps1": throughput(one, 1, total),
        "tps8": throughput(one, 8, total),
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def recovery(directory: Path, unfinished: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds from starting the service to the last one compensated."""
    actions = registry()
    metrics = RecoveryMetrics()
    with open_store(directory, metrics=metrics) as store:
        plan = Transactions(store, actions)._plan("bench", [Step("work")] * STEPS, None)
        batch: list[tuple[str, str, Any, bool]] = []
        for n in range(unfinished):
            tx = f"tx-{n:05d}"
            batch += [
                (tx, p.BEGIN, plan, False),
                (tx, p.INTENT, {"step": 0, "attempt": 1}, False),
                (tx, p.DONE, {"step": 0, "result": 0}, False),
                (tx, p.INTENT, {"step": 1, "attempt": 1}, False),
            ]
        store.journal.append_many(batch)  # the journal a crash left behind
        service = Transactions(store, actions, config=TransactionsConfig(), metrics=metrics)
        start, cpu = time.perf_counter(), cpu_seconds()
        service.start()
        try:
            deadline = start + 120
            # Read the one counter, not the registry: a walk of every metric each poll would
            # be measured as recovery time.
            compensated = metrics.transactions.labels("compensated")
            while compensated._value.get() < unfinished:
                if time.perf_counter() > deadline:
                    raise SystemExit("recovery did not finish within 120 s")
                time.sleep(0.01)
            elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        finally:
            service.stop()
        assert service_unfinished(store) == 0
        return elapsed, cpu


def service_unfinished(store: Any) -> int:
    return sum(1 for s in store.journal.summaries() if not (s.last and s.last.terminal))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    samples, total, unfinished = (20, 20, 50) if args.quick else (300, 300, 1000)
    recoveries = 2 if args.quick else 5
    logging.getLogger("yesman_recovery").setLevel(logging.CRITICAL)

    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        root = Path(tmp)
        floor = stats(bare_commit(root / "floor", samples))
        durable = stats(journal_per_step(root / "durable", "durable", samples))
        fast = stats(journal_per_step(root / "fast", "fast", samples))
        engine = engine_rows(root / "engine", samples, total)
        plan = plan_rows(samples, total)
        runs = sorted(recovery(root / f"recovery-{n}", unfinished) for n in range(recoveries))
        recovered, recovery_cpu = runs[len(runs) // 2]
        worst = runs[-1][0]

    def row(label: str, ours: str, ours99: str, base: str, base99: str, target: str = "") -> None:
        print(f"{label:46} | {ours:>13} {ours99:>9} | {base:>9} {base99:>9} | {target}".rstrip())

    row("measure", "journaled p50", "p99", "plan p50", "p99", "target")
    print("-" * 104)
    ok = "ok" if durable[0] <= 1e-3 else "MISSED"
    row("journal per step (done + next intent), durable", fmt(durable[0]), fmt(durable[1]),
        "0 (none)", "", f"p50 <= 1 ms {ok}")  # fmt: skip
    row("  (one bare durable LMDB commit, same disk)", fmt(floor[0]), fmt(floor[1]), "", "")
    row("journal per step (done + next intent), fast", fmt(fast[0]), fmt(fast[1]), "0 (none)", "")
    lat, plat = engine["latency"], plan["latency"]
    row("3-step transaction, begin to committed", fmt(lat[0]), fmt(lat[1]), fmt(plat[0]),
        fmt(plat[1]))  # fmt: skip
    for threads in (1, 8):
        key = f"tps{threads}"
        row(f"3-step transactions/s, {threads} thread{'s' if threads > 1 else ''}",
            f"{engine[key]:,.0f}", "", f"{plan[key]:,.0f}", "")  # fmt: skip
    ok = "ok" if recovered <= 1.0 else "MISSED"
    row(
        f"recovery at start, {unfinished:,} unfinished ({recoveries} runs)",
        f"{recovered:.2f} s",
        f"{worst:.2f} s",
        "all lost",
        "",
        f"<= 1 s {ok}" if unfinished >= 1000 else "",
    )
    row("  (CPU time of the median run, all threads)", f"{recovery_cpu:.2f} s", "", "", "")


if __name__ == "__main__":
    main()
