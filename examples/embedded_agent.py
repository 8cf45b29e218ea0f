"""An agent process that embeds a supervision tree: a flaky worker crashes and comes back.

The worker does one unit of work every 20 ms and fails at random, as a tool call or a model
request might. Its supervisor restarts it after a backoff (50 ms, doubling up to 400 ms, with
jitter; back to 50 ms once it stays up a second), and the main thread prints every restart it
sees through ``which_children()``. After three seconds the ``with`` block stops the tree.

Run: ``python examples/embedded_agent.py [--seconds 3] [--seed 7]`` — exits 0 once the worker
was restarted at least once, 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import random
import threading
import time
from typing import Any

from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor
from yesman_recovery.supervisors import Periodic, default_scheduler


class FlakyWorker(SupervisedActor):
    """Works on every tick; a tick fails with probability ``crash_rate`` and crashes the actor."""

    def __init__(self, crash_rate: float, rng: random.Random) -> None:
        super().__init__()
        self.crash_rate = crash_rate
        self.rng = rng
        self.ticks: Periodic | None = None
        self.done = 0

    def on_start(self) -> None:
        # Timed work is a message from the scheduler thread, never a sleep in the actor.
        self.ticks = default_scheduler().every(0.02, self.actor_ref, "work")

    def on_receive(self, message: Any) -> Any:
        if message != "work":
            return super().on_receive(message)
        self.done += 1
        if self.rng.random() < self.crash_rate:
            raise RuntimeError(f"tool call failed after {self.done} units of work")
        return None

    def on_stop(self) -> None:
        self._stop_ticks()

    def on_failure(self, *exc_info: Any) -> None:
        self._stop_ticks()

    def _stop_ticks(self) -> None:
        if self.ticks is not None:
            self.ticks.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random failures")
    args = parser.parse_args()
    # Pykka logs each crash with its traceback; this example prints the restarts instead.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    logging.getLogger("yesman_recovery").setLevel(logging.CRITICAL)

    rng = random.Random(args.seed)
    worker = ChildSpec(
        "worker",
        FlakyWorker,
        args=(0.15, rng),
        restart=Restart.PERMANENT,
        backoff=Backoff(initial=0.05, max=0.4, multiplier=2.0, jitter=0.2, reset_after=1.0),
    )
    seen = 0
    with Supervisor.start(
        children=[worker],
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=20,
        max_seconds=5.0,
        name="agent",
        rng=random.Random(args.seed),
    ) as root:
        deadline = time.monotonic() + args.seconds
        pause = threading.Event()
        while time.monotonic() < deadline and root.is_alive():
            (info,) = root.proxy().which_children().get(timeout=2)
            if info.restarts > seen:
                seen = info.restarts
                print(
                    f"restart #{info.restarts}: worker incarnation {info.incarnation} "
                    f"after {info.last_exit}",
                    flush=True,
                )
            pause.wait(0.01)
    print(f"worker restarted {seen} times in {args.seconds:.1f} s; tree stopped", flush=True)
    return 0 if seen > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
