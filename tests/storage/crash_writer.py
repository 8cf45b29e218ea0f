"""A writer process for the crash tests: writes until it is killed, reporting each commit.

Usage: ``python crash_writer.py STATE_DIR DURABILITY SEED [COUNT]``. After each write returns it
prints one line and flushes, so every line the parent read names a committed record:
``C <id> <i>`` for a checkpoint whose state is :func:`state_for` ``(i)``, ``J <tx> <i>`` for a
journal record, ``A <id> <i>`` for an audit event. The map starts at 64 KiB so that it keeps
growing while the parent kills the process.
"""

from __future__ import annotations

import hashlib
import random
import sys

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.storage.store import DURABILITIES


def state_for(i: int, seed: int) -> dict[str, object]:
    """The state of write ``i``: its size varies (small, compressed, several pages)."""
    rng = random.Random(seed * 1_000_003 + i)
    blob = rng.randbytes(rng.choice([16, 600, 3000, 9000])).hex()
    return {"i": i, "blob": blob, "check": hashlib.sha256(blob.encode()).hexdigest()}


def main() -> None:
    state_dir, seed = sys.argv[1], int(sys.argv[3])
    durability = DURABILITIES[DURABILITIES.index(sys.argv[2])]  # ValueError for any other
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10**9
    with open_store(
        state_dir, durability=durability, metrics=RecoveryMetrics(), map_size=64 * 1024
    ) as store:
        print("READY", flush=True)
        for i in range(count):
            kind = i % 5
            if kind == 3:
                store.journal.append(f"tx-{seed}-{i // 10}", "step", {"i": i})
                print(f"J tx-{seed}-{i // 10} {i}", flush=True)
            elif kind == 4:
                event = store.audit.append("test", f"writer-{seed}", detail=str(i))
                print(f"A {event} {i}", flush=True)
            else:
                checkpoint = store.checkpoints.create(f"scope {seed} {i % 3}", state_for(i, seed))
                print(f"C {checkpoint} {i}", flush=True)
        print("DONE", flush=True)


if __name__ == "__main__":
    main()
