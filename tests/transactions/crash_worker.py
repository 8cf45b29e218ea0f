"""A process running transactions for the crash tests; it may SIGKILL itself at a boundary.

Usage: ``python crash_worker.py STATE_DIR LOG PLAN [KILL]``.

``PLAN`` is JSON: a list of transactions, each a list of step outcomes (``"ok"`` or
``"fail"``); they all begin at once. ``KILL`` is ``BOUNDARY:STEP`` with BOUNDARY one of
``before_intent``, ``after_intent``, ``after_effect``, ``after_done``, ``during_undo``: the
first transaction that reaches it kills the whole process with SIGKILL. ``PLAN`` ``[]``
only recovers: the supervisor finishes what the journal holds, and the process exits 0 once
nothing of its owner is left unfinished.

The side-effect log ``LOG`` gets one line per event, by idempotency key: ``do KEY`` when a
step's effect is applied, ``undo-call KEY`` whenever a compensation is called and ``undo KEY``
when it removes an effect. Both actions are idempotent by key, as actions must be.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from yesman_recovery.config.transactions import RetrySettings, TransactionsConfig
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions import ActionRegistry, Step, StepContext, Transactions
from yesman_recovery.transactions.writer import JournalWriter

OWNER = "crash-test"
BOUNDARIES = ("before_intent", "after_intent", "after_effect", "after_done", "during_undo")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Log:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


def main() -> None:
    state_dir, log_path, plan = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    kill = sys.argv[4].split(":") if len(sys.argv) > 4 else None
    boundary, kill_step = (kill[0], int(kill[1])) if kill else ("", -1)
    log = Log(log_path)
    actions = ActionRegistry()

    @actions.register("apply", compensate="remove", idempotent=True)
    def apply(step: StepContext) -> dict[str, Any]:
        if step.args["outcome"] == "fail":
            raise RuntimeError(f"step {step.index} fails as planned")
        if f"do {step.key}" not in log.lines():
            log.write(f"do {step.key}")
        if boundary == "after_effect" and step.index == kill_step:
            die()
        return {"key": step.key}

    @actions.register("remove", idempotent=True)
    def remove(step: StepContext) -> None:
        log.write(f"undo-call {step.key}")
        lines = log.lines()
        if f"do {step.key}" in lines and f"undo {step.key}" not in lines:
            log.write(f"undo {step.key}")
        if boundary == "during_undo" and step.index == kill_step:
            die()

    class KillingWriter(JournalWriter):
        """Dies just before or just after a commit holding the chosen record."""

        def append_many(self, entries: Any, *, audit: Any = ()) -> Any:
            written = {(kind, data.get("step") if isinstance(data, dict) else None)
                       for _tx, kind, data, _terminal in entries}  # fmt: skip
            if boundary == "before_intent" and ("intent", kill_step) in written:
                die()
            records = super().append_many(entries, audit=audit)
            if (boundary == "after_intent" and ("intent", kill_step) in written) or (
                boundary == "after_done" and ("done", kill_step) in written
            ):
                die()
            return records

    config = TransactionsConfig(
        compensation_retry=RetrySettings(attempts=3, initial=0.01, max=0.05)
    )
    with open_store(state_dir, metrics=RecoveryMetrics()) as store:
        service = Transactions(
            store, actions, config=config, owner=OWNER, metrics=RecoveryMetrics()
        )
        service.writer = KillingWriter(store.journal)
        with service:
            handles = [
                service.begin(f"plan-{n}", [Step("apply", {"outcome": o}) for o in outcomes])
                for n, outcomes in enumerate(plan)
            ]
            for handle in handles:
                handle.result(timeout=60)
            deadline = time.monotonic() + 60
            while service.unfinished():
                if time.monotonic() > deadline:
                    sys.exit("recovery did not finish within 60 s")
                time.sleep(0.01)
    print("finished", flush=True)


if __name__ == "__main__":
    main()
