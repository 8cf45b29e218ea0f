"""Chaos for agents: faults one at a time into a real daemon watching agent CLIs of several
kinds in shared directories; a fault counts as recovered only when every agent is back on its
own conversation.

The machine of ``bench_agents.py`` (own HOME, the fake Claude Code, Codex and Gemini CLIs of
``tests/agents/fake_clis``, the SessionStart hooks of Claude Code and Gemini installed): one
session of 9 agent panes, 3 of each kind, all in one directory, and the real ``yesman-recovery
run`` on its own socket. Faults from a seeded schedule (``--seed``): ``server_kill`` (SIGKILL of
the tmux server), ``power_loss`` (the daemon and the server SIGKILLed together, the daemon
started again), ``agent_kill`` (SIGKILL of one agent process the daemon started; it must come
back on its conversation) and ``clear`` (a user's ``/clear`` in a claude pane: the expectation
moves with it, then a server kill). After each fault the script waits up to 30 s for every pane
to be on its expected conversation, seen by its own signal, and looks again 1.5 s later; a late
change fails the fault. The first fault is always a server kill, so that every agent runs as
the daemon started it (an agent the user typed and then killed stays ended: the user's doing).

Usage: ``python benchmarks/chaos_agents.py [--faults N] [--seed S] [--quick]``; prints a table
of faults by kind (recovered / total, median and worst time to every agent on its own).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_agents import (
    NAME,
    Bound,
    checkpointed,
    isolated,
    kill_server,
    start_daemon,
    write_config,
)

from tests.agents.world import bindings, make_world, session, start_panes, type_line
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.records import PaneSnapshot

KINDS = ("server_kill", "power_loss", "agent_kill", "clear")
PANES = ["claude", "codex", "gemini"] * 3
LIVE = {"claude": ("hook",), "codex": ("open file",), "gemini": ("hook", "command line")}
HOLD = 1.5
DEADLINE = 30.0


def on_own(seen: Bound, expected: Bound) -> bool:
    """True iff every expected pane is on its conversation, seen by its agent's own signal."""
    return len(seen) == len(expected) and all(
        key in seen and seen[key][1] == conv and seen[key][2] in LIVE[agent]
        for key, (agent, conv, _) in expected.items()
    )


def wait_own(client: TmuxClient, expected: Bound) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE:
        if on_own(bindings(client, NAME), expected):
            took = time.monotonic() - started
            time.sleep(HOLD)
            return took if on_own(bindings(client, NAME), expected) else None
        time.sleep(0.05)
    return None


def _panes(client: TmuxClient) -> tuple[PaneSnapshot, ...]:
    found = session(client, NAME)
    return found.windows[0].panes if found is not None and found.windows else ()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one fault of each kind")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    schedule = ["server_kill"] + (
        list(KINDS) if args.quick else [rng.choice(KINDS) for _ in range(args.faults - 1)]
    )
    os.environ["SHELL"] = "/bin/sh"
    import pytest

    results: dict[str, list[float | None]] = {k: [] for k in KINDS}
    failures: list[str] = []
    mp = pytest.MonkeyPatch()
    with tempfile.TemporaryDirectory(prefix="yr-chaos-agents-") as tmp:
        base = Path(tmp)
        world = make_world(base, mp, gemini_hook=True)
        try:
            with isolated(base) as client:
                start_panes(client, NAME, world.project, PANES)
                found = session(client, NAME)
                assert found is not None
                for pane in found.windows[0].panes:
                    if "gemini" in " ".join(pane.argv or ()):
                        type_line(client, pane.pane_id, "hello")
                expected = bindings(client, NAME)
                config = write_config(base, str(client.socket_name))
                daemon = start_daemon(config)
                try:
                    for index, kind in enumerate(schedule):
                        deadline = time.monotonic() + DEADLINE
                        while not checkpointed(client, base / "state", expected):
                            if time.monotonic() > deadline:
                                raise TimeoutError("no checkpoint of every binding")
                            time.sleep(0.1)
                        if kind == "clear":
                            claudes = [k for k, b in expected.items() if b[0] == "claude"]
                            key = rng.choice(claudes)
                            pane_id = session(client, NAME).windows[0].panes[key].pane_id  # type: ignore[union-attr]
                            type_line(client, pane_id, "/clear")
                            old = expected[key][1]
                            until = time.monotonic() + DEADLINE
                            while (now := bindings(client, NAME).get(key)) is None or now[1] == old:
                                if time.monotonic() > until:
                                    raise TimeoutError("/clear never moved the binding")
                                time.sleep(0.05)
                            expected = {**expected, key: now}
                            while not checkpointed(client, base / "state", expected):
                                time.sleep(0.1)
                            kill_server(client)
                        elif kind == "agent_kill":
                            panes = session(client, NAME).windows[0].panes  # type: ignore[union-attr]
                            victim = rng.choice([p for p in panes if p.program_pid])
                            pid = victim.program_pid or 0
                            os.kill(pid, signal.SIGKILL)
                            # timed from when the pane no longer shows the killed process
                            until = time.monotonic() + DEADLINE
                            while any(p.program_pid == pid for p in _panes(client)):
                                if time.monotonic() > until:
                                    raise TimeoutError(f"pid {pid} never left its pane")
                                time.sleep(0.01)
                        else:
                            if kind == "power_loss":
                                daemon.kill()
                                daemon.wait(10)
                            kill_server(client)
                            if kind == "power_loss":
                                daemon = start_daemon(config)
                        took = wait_own(client, expected)
                        results[kind].append(took)
                        if took is None:
                            seen = bindings(client, NAME)
                            wrong = {k: (b, seen.get(k)) for k, b in expected.items()
                                     if seen.get(k) != b}  # fmt: skip
                            failures.append(f"fault {index} ({kind}): expected, seen {wrong}")
                            expected = seen
                finally:
                    daemon.terminate()
                    daemon.wait(30)
        finally:
            mp.undo()
    print(f"agent chaos, seed {args.seed}: 9 agents (3 claude, 3 codex, 3 gemini) in one directory")
    print(f"{'fault':<12} | recovered | median to every agent on its own (worst)")
    print("-" * 70)
    for kind in KINDS:
        done = [t for t in results[kind] if t is not None]
        if not results[kind]:
            continue
        times = f"{statistics.median(done):.2f} s ({max(done):.2f} s)" if done else "-"
        print(f"{kind:<12} | {len(done):>3} / {len(results[kind]):<3} | {times}")
    for line in failures:
        print("FAILED", line[:1000])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
