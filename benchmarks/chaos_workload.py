"""The chaos run's workload: a program embedding the library as an agent would.

It runs transactions continuously, one after another, under its own owner (``chaos-workload``)
in its own state directory: three steps, each writing a file named by the step's idempotency key
(``put``); about one in three ends with a step that raises (``refuse``), so the steps done are
compensated (``unput``). Every side effect is written first to an append-only ledger, by key:

- ``begin TX`` once ``begin`` returned; ``exec KEY`` before a step's file is written;
- ``comp KEY`` before a compensation removes the file, the first time that key is compensated;
  ``again KEY`` when a compensation runs again for a key already compensated (after a kill
  mid-compensation the journal runs it again with the same key: the ledger, like a remote API
  keyed by idempotency key, makes that run a no-op).

Each step sleeps ``--delay`` seconds (a compensation between its ledger line and the removal),
so a SIGKILL lands in the middle of things. A ``write()`` to an ``O_APPEND`` file is in the
kernel once it returns: a killed process loses no ledger line it wrote.

Beside it, a thread calls a dependency (``--dependency URL``, an HTTP server) every 50 ms
through a :class:`CircuitBreaker` whose transitions go to this program's audit trail.

The status file (``--status``) holds ``{"pid", "ready"}`` once the transactions left unfinished
by an earlier run are finished. SIGTERM finishes the transaction under way and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from yesman_recovery.resilience import BreakerPolicy, CircuitBreaker
from yesman_recovery.storage import open_store
from yesman_recovery.transactions import (
    ActionRegistry,
    Step,
    StepContext,
    Transactions,
    TransactionsConfig,
)

OWNER = "chaos-workload"
BREAKER = "dependency"
actions = ActionRegistry()
ledger: dict[str, Any] = {"fd": -1, "compensated": set(), "files": Path(".")}
stop = threading.Event()


def note(event: str, key: str) -> None:
    os.write(ledger["fd"], f"{event} {key}\n".encode())


def file_of(key: str) -> Path:
    return Path(ledger["files"]) / key.replace(":", "-")


@actions.register("put", compensate="unput", idempotent=True)
def put(step: StepContext) -> str:
    note("exec", step.key)
    file_of(step.key).write_text(f"{step.transaction} step {step.index}\n")
    time.sleep(step.args["delay"])
    return step.key


@actions.register("refuse")
def refuse(step: StepContext) -> None:
    time.sleep(step.args["delay"])
    raise ConnectionError("the service refused the request")


@actions.register("unput", idempotent=True)
def unput(step: StepContext) -> None:
    done: set[str] = ledger["compensated"]
    if step.key in done:
        note("again", step.key)
    else:
        note("comp", step.key)
        done.add(step.key)
        time.sleep(step.args["delay"])
    file_of(step.key).unlink(missing_ok=True)


def call_dependency(url: str, breaker: CircuitBreaker) -> None:
    """Call ``url`` through ``breaker`` every 50 ms until stopped; failures are the breaker's."""

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())

    while not stop.is_set():
        with contextlib.suppress(Exception):  # refused, 500 or reset: the breaker counted it
            breaker.call(fetch)
        stop.wait(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--dependency", required=True, help="URL of the dependency")
    parser.add_argument("--delay", type=float, default=0.03, help="seconds each step takes")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rng = random.Random(args.seed)
    files = args.work / "files"
    files.mkdir(parents=True, exist_ok=True)
    path = args.work / "ledger"
    ledger["files"] = files
    if path.exists():
        for line in path.read_text().splitlines():
            event, _, key = line.partition(" ")
            if event == "comp":
                ledger["compensated"].add(key)
    ledger["fd"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    # Ended transactions are compacted after 30 min: the journal of a long run stays small (the
    # run checks each one well before that).
    config = TransactionsConfig(keep_finished=1800.0, compact_interval=300.0)
    with (
        open_store(args.state_dir) as store,
        Transactions(store, actions, config=config, owner=OWNER) as service,
    ):
        # Starting the service finishes the last run's transactions (compensates them).
        while service.unfinished():
            time.sleep(0.01)
        policy = BreakerPolicy(consecutive_failures=3, open_duration=0.5, open_max_duration=0.5)
        breaker = CircuitBreaker(BREAKER, policy, audit=store.audit)
        caller = threading.Thread(target=call_dependency, args=(args.dependency, breaker))
        caller.start()
        tmp = args.status.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "ready": time.time()}))
        os.replace(tmp, args.status)
        n = 0
        while not stop.is_set():
            d = {"delay": args.delay}
            last = Step("refuse", d) if rng.random() < 0.35 else Step("put", d)
            handle = service.begin(f"job-{n}", [Step("put", d), Step("put", d), last])
            note("begin", handle.id)
            handle.result(timeout=60)
            n += 1
            stop.wait(0.2)
        caller.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
