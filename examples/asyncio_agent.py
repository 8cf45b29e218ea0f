"""An asyncio agent that embeds a supervision tree: a fetcher task and a Pykka worker thread.

The fetcher is a coroutine child, a task on the agent's own event loop: it "fetches" a page
every 10 ms and loses its connection at random. The summarizer is a Pykka actor (a thread)
that digests each page it is told and fails at random too. One supervisor restarts both — the
fetcher after a short backoff. Meanwhile the agent's main coroutine keeps a 5 ms heartbeat,
asks the summarizer for its progress (an awaited actor call that never blocks the loop) and
prints every restart it sees. After ``--seconds`` it leaves the ``async with`` block, which
stops the tree (the fetcher is cancelled, the summarizer stopped) and exits by itself.

Run: ``python examples/asyncio_agent.py [--seconds 3] [--seed 7]`` — exits 0 once both children
were restarted at least once and the loop never stalled for 250 ms, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from yesman_recovery import Backoff, ChildSpec, SupervisedActor, Supervisor, aio
from yesman_recovery.supervisors import SupervisedRef


class Summarizer(SupervisedActor):
    """Digests pages it is told; a page fails with probability ``crash_rate`` (a crash)."""

    def __init__(self, crash_rate: float, rng: random.Random) -> None:
        super().__init__()
        self.crash_rate = crash_rate
        self.rng = rng
        self.digested = 0

    def on_receive(self, message: Any) -> Any:
        if self.rng.random() < self.crash_rate:
            raise RuntimeError(f"model request failed on {message!r}")
        self.digested += 1
        return None

    def progress(self) -> int:  # an ask: answered to the caller, never a crash
        return self.digested


@dataclass
class Agent:
    """What the children share with the main coroutine (the event loop's thread only)."""

    rng: random.Random
    root: SupervisedRef | None = None
    fetched: int = 0


async def fetch(agent: Agent, failure_rate: float) -> None:
    """The fetcher: a coroutine child. A lost connection raises; the supervisor restarts it."""
    while True:
        await asyncio.sleep(0.01)  # the network round trip
        if agent.rng.random() < failure_rate:
            raise ConnectionError(f"connection reset after {agent.fetched} pages")
        agent.fetched += 1
        assert agent.root is not None
        # The summarizer may be restarting: find its current ref through the supervisor.
        summarizer = await aio.get(agent.root.proxy().whereis("summarizer"), timeout=1.0)
        if summarizer is not None:
            summarizer.tell(f"page-{agent.fetched}")


async def main(seconds: float, seed: int) -> int:
    agent = Agent(random.Random(seed))
    specs = [
        ChildSpec("summarizer", Summarizer, args=(0.05, random.Random(seed + 1))),
        ChildSpec("fetcher", fetch, args=(agent, 0.08),
                  backoff=Backoff(initial=0.02, max=0.2, jitter=0.2, reset_after=1.0)),
    ]  # fmt: skip
    loop = asyncio.get_running_loop()
    seen = {"summarizer": 0, "fetcher": 0}
    ticks, longest, last = 0, 0.0, loop.time()
    async with await aio.start(Supervisor, children=specs, max_restarts=50, max_seconds=5.0,
                               name="agent", rng=random.Random(seed)) as root:  # fmt: skip
        agent.root = root
        deadline = loop.time() + seconds
        while loop.time() < deadline and root.is_alive():
            await asyncio.sleep(0.005)
            now = loop.time()
            ticks, longest, last = ticks + 1, max(longest, now - last), now
            for info in await aio.get(root.proxy().which_children(), timeout=1.0):
                if info.restarts > seen[info.id]:
                    seen[info.id] = info.restarts
                    print(f"restart #{info.restarts}: {info.id} incarnation {info.incarnation} "
                          f"after {info.last_exit}", flush=True)  # fmt: skip
        summarizer = await aio.get(root.proxy().whereis("summarizer"), timeout=1.0)
        digested = await aio.get(summarizer.proxy().progress(), 1.0) if summarizer else 0
    print(f"fetched {agent.fetched} pages; the current summarizer digested {digested}")
    print(
        f"fetcher restarted {seen['fetcher']} times, summarizer {seen['summarizer']} times; "
        f"loop ticked {ticks} times, longest gap {longest * 1000:.0f} ms; tree stopped",
        flush=True,
    )
    return 0 if min(seen.values()) > 0 and longest < 0.25 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random failures")
    args = parser.parse_args()
    # Pykka logs each crash with its traceback; this example prints the restarts instead.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    logging.getLogger("yesman_recovery").setLevel(logging.CRITICAL)
    raise SystemExit(asyncio.run(main(args.seconds, args.seed)))
