"""An agent that provisions workspaces as transactions that finish or are undone after kill -9.

Each workspace finishes or is undone, even when the process is killed with ``kill -9``
half-way.

One workspace is three steps: create a directory, write a file into it, register it in a JSON
file. Registering fails at random (``--fail-rate``), as a remote service might; then the steps
already done are undone in reverse order. Every step sleeps ``--delay`` seconds so that a
``kill -9`` lands in the middle of something.

Run it, kill it, run it again: at start it finishes what the last run left unfinished (by
default compensating it), then begins the workspaces still missing until ``--count``
transactions exist, and exits 0 once every one of them has ended::

    python examples/transaction_agent.py --state-dir /tmp/agent/state --work /tmp/agent/work
    yesman-recovery --state-dir /tmp/agent/state transactions list

Afterwards each committed workspace has its directory, file and registry entry, and no
compensated one left anything behind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from yesman_recovery.storage import open_store
from yesman_recovery.transactions import ActionRegistry, Step, StepContext, Transactions

OWNER = "transaction-agent"
actions = ActionRegistry()
settings: dict[str, Any] = {"delay": 0.0, "fail_rate": 0.0, "rng": random.Random()}
registry_lock = threading.Lock()  # transactions run concurrently: one registry update at a time


def pause() -> None:
    time.sleep(settings["delay"])


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


@actions.register("create_dir", compensate="remove_dir", idempotent=True)
def create_dir(step: StepContext) -> str:
    path = Path(step.args["path"])
    path.mkdir(parents=True, exist_ok=True)
    pause()
    return str(path)


@actions.register("remove_dir", idempotent=True)
def remove_dir(step: StepContext) -> None:
    shutil.rmtree(step.args["path"], ignore_errors=True)


@actions.register("write_file", compensate="delete_file", idempotent=True)
def write_file(step: StepContext) -> str:
    path = Path(step.results[0]) / "README"
    _write_atomically(path, f"workspace {step.transaction}\n")
    pause()
    return str(path)


@actions.register("delete_file", idempotent=True)
def delete_file(step: StepContext) -> None:
    (Path(step.args["dir"]) / "README").unlink(missing_ok=True)


@actions.register("register", compensate="unregister", idempotent=True)
def register(step: StepContext) -> str:
    pause()
    if settings["rng"].random() < settings["fail_rate"]:
        raise ConnectionError("the registry service refused the request")
    registry = Path(step.args["registry"])
    with registry_lock:
        entries = json.loads(registry.read_text()) if registry.exists() else {}
        entries[step.args["name"]] = {"path": step.results[0], "key": step.key}
        _write_atomically(registry, json.dumps(entries, indent=2, sort_keys=True))
    return str(step.args["name"])


@actions.register("unregister", idempotent=True)
def unregister(step: StepContext) -> None:
    registry = Path(step.args["registry"])
    with registry_lock:
        entries = json.loads(registry.read_text()) if registry.exists() else {}
        if entries.pop(step.args["name"], None) is not None:
            _write_atomically(registry, json.dumps(entries, indent=2, sort_keys=True))


def workspace(work: Path, n: int) -> list[Step]:
    path = str(work / f"workspace-{n}")
    registry = str(work / "registry.json")
    return [
        Step("create_dir", {"path": path}),
        Step("write_file", {"dir": path}),
        Step("register", {"name": f"workspace-{n}", "registry": registry}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="where workspaces are made")
    parser.add_argument("--count", type=int, default=10, help="workspaces to provision")
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each step takes")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    settings.update(delay=args.delay, fail_rate=args.fail_rate, rng=random.Random(args.seed))
    args.work.mkdir(parents=True, exist_ok=True)

    with open_store(args.state_dir) as store, Transactions(store, actions, owner=OWNER) as service:
        # Starting the service finished last run's transactions; wait for that to end.
        while service.unfinished():
            time.sleep(0.01)
        begun = [t for t in service.list() if t.owner == OWNER]
        for previous in begun:
            print(f"{previous.id} {previous.name} {previous.state.value} (earlier run)", flush=True)
        handles = [
            service.begin(f"workspace-{n}", workspace(args.work, n))
            for n in range(len(begun), args.count)
        ]
        for handle in handles:
            outcome = handle.result(timeout=60)
            detail = f": {outcome.reason}" if outcome.reason else ""
            print(f"{outcome.transaction} {outcome.name} {outcome.state.value}{detail}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
