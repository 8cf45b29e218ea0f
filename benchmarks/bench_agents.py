"""Agents after a crash: every pane back on its own conversation, and how fast.

Prints one table. A user's machine of its own (HOME, the fake Claude Code, Codex and Gemini
CLIs of ``tests/agents/fake_clis`` on PATH, the SessionStart hook installed) runs 20 agent panes
in one session on an isolated tmux server (``tmux -L yr-bench-agents-<random>``): 10 ``claude``
in one directory (started by hand at their shells, so only the hook knows their
conversations), 5 ``codex`` and 5 ``gemini`` (each sent a message, so its chat file exists).
The real daemon (``yesman-recovery run``, default settings but a restart intensity that lets
every round restore) watches it.

- **crash**: each round SIGKILLs the tmux server; measured from outside, the time from the kill
  until every one of the 20 panes is seen on the conversation it was on before, by that
  agent's own signal (Claude Code's hook fired again, Codex's rollout held open again, Gemini's
  id), and the number of panes on another conversation once it settles.
- **power loss**: the daemon and the tmux server SIGKILLed together, then the daemon started
  again: the same measure from the daemon's start.
- **baseline**, in the same run: a restart that ignores conversations (the saved argv started
  again, as tmux-resurrect and the plan do: ``restore_session`` with no agent strategies) on a
  second server; time until all 20 run, and how many panes are on another conversation.

Usage: ``python benchmarks/bench_agents.py [--rounds N] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import p99, until  # noqa: E402

from tests.agents.world import World, bindings, make_world, session, start_panes, type_line  # noqa: E402
from yesman_recovery.agents.registry import Agents  # noqa: E402
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone  # noqa: E402
from yesman_recovery.tmux.policy import ProgramPolicy  # noqa: E402
from yesman_recovery.tmux.restore import restore_session  # noqa: E402

NAME = "agents"
LIVE = {"claude": "hook", "codex": "open file", "gemini": ("evidence", "command line")}
SETTLE = 30.0

Bound = dict[int, tuple[str, str, str]]


def kill_server(client: TmuxClient) -> None:
    with contextlib.suppress(Exception):
        pid = client.server_pid()
        if pid:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
            wait_pid_gone(pid, 5.0)


@contextlib.contextmanager
def isolated(base: Path) -> Iterator[TmuxClient]:
    conf = base / "tmux.conf"
    conf.write_text("set -g default-shell /bin/sh\n")
    client = TmuxClient(socket_name=f"yr-bench-agents-{secrets.token_hex(4)}", timeout=5.0,
                        config_file=str(conf))  # fmt: skip
    try:
        yield client
    finally:
        kill_server(client)


def populate(client: TmuxClient, world: World) -> Bound:
    """The 20 agent panes, each on its own conversation; their bindings by pane position."""
    commands = ["claude"] * 10 + ["codex"] * 5 + ["gemini"] * 5
    start_panes(client, NAME, world.project, commands)
    found = session(client, NAME)
    assert found is not None
    for pane in found.windows[0].panes[15:]:
        type_line(client, pane.pane_id, "hello")

    def bound() -> Bound | None:
        found = bindings(client, NAME)
        return found if own(found, found, 20) else None

    result: Bound = until(bound, SETTLE, "20 agents bound", 0.02)
    return result


def own(seen: Bound, expected: Bound, count: int) -> bool:
    if len(seen) != count or len(expected) != count:
        return False
    for key, (agent, conversation, _) in expected.items():
        now = seen.get(key)
        if now is None or now[1] != conversation:
            return False
        live = LIVE[agent]
        if now[2] not in (live if isinstance(live, tuple) else (live,)):
            return False
    return True


def wrong(seen: Bound, expected: Bound) -> int:
    return sum(1 for key, b in expected.items() if seen.get(key, ("", "", ""))[1] != b[1])


def running(client: TmuxClient) -> int:
    """How many panes run an agent (a fake CLI) now."""
    found = session(client, NAME)
    panes = found.windows[0].panes if found is not None and found.windows else ()
    return sum(1 for p in panes if p.argv and any("fake_clis" in a for a in p.argv))


def write_config(directory: Path, socket: str) -> Path:
    path = directory / "yesman-recovery.toml"
    path.write_text(
        f'[tmux]\nsocket_name = "{socket}"\nprogram_max_restarts = 1000\n'
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{directory / "state"}"\n'
    )
    return path


def start_daemon(config: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    while proc.poll() is None and "running" not in proc.stdout.readline():
        pass
    if proc.poll() is not None:
        raise RuntimeError(f"the daemon exited with {proc.returncode}")
    return proc


def checkpointed(client: TmuxClient, state: Path, expected: Bound) -> bool:
    from yesman_recovery.storage import open_store
    from yesman_recovery.tmux.checkpoint import SessionCheckpoint

    with open_store(state) as store:
        latest = store.checkpoints.latest_good(NAME)
    if latest is None:
        return False
    panes = SessionCheckpoint.from_state(latest.state).session.windows[0].panes
    have = {i: p.agent.conversation for i, p in enumerate(panes) if p.agent is not None}
    return have == {i: b[1] for i, b in expected.items()}


def bench_daemon(base: Path, rounds: int, power_rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"crash": [], "crash_wrong": [], "power": [], "power_wrong": []}
    mp = pytest.MonkeyPatch()
    world = make_world(base, mp)
    try:
        with isolated(base) as client:
            expected = populate(client, world)
            config = write_config(base, str(client.socket_name))
            daemon = start_daemon(config)
            try:
                for kind, count in (("crash", rounds), ("power", power_rounds)):
                    for _ in range(count):
                        until(lambda: checkpointed(client, base / "state", expected), SETTLE,
                              "checkpoint with every binding")  # fmt: skip
                        if kind == "power":
                            daemon.kill()
                            daemon.wait(10)
                        kill_server(client)
                        started = time.monotonic()
                        if kind == "power":
                            daemon = start_daemon(config)
                        try:
                            until(lambda: own(bindings(client, NAME), expected, 20), SETTLE,
                                  f"{kind}: 20 agents on their own conversations")  # fmt: skip
                        except TimeoutError:
                            out[kind].append(float("inf"))
                        else:
                            out[kind].append(time.monotonic() - started)
                        time.sleep(0.5)
                        out[f"{kind}_wrong"].append(wrong(bindings(client, NAME), expected))
            finally:
                daemon.terminate()
                daemon.wait(30)
    finally:
        mp.undo()
    return out


def bench_baseline(base: Path, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"time": [], "wrong": []}
    mp = pytest.MonkeyPatch()
    world = make_world(base, mp)
    blind = ProgramPolicy(agents=Agents(()))
    try:
        with isolated(base) as client:
            expected = populate(client, world)
            saved = session(client, NAME)
            assert saved is not None
            for _ in range(rounds):
                kill_server(client)
                started = time.monotonic()
                restore_session(client, saved, blind)
                until(lambda: running(client) == 20, SETTLE, "20 agents running")
                out["time"].append(time.monotonic() - started)
                time.sleep(0.5)
                out["wrong"].append(wrong(bindings(client, NAME), expected))
    finally:
        mp.undo()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds of each")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    os.environ["SHELL"] = "/bin/sh"
    with tempfile.TemporaryDirectory(prefix="yr-bench-agents-") as tmp:
        ours = bench_daemon(Path(tmp) / "ours", rounds, max(2, rounds // 2))
        blind = bench_baseline(Path(tmp) / "blind", rounds)

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):6.2f} s ({p99(values):5.2f} s)"

    print("agents after a tmux server crash: 20 panes (10 claude in one dir, 5 codex, 5 gemini)")
    print(f"{'what':<58} | {'median (p99)':<18} | wrong conversations")
    print("-" * 100)
    rows = (
        (f"yesman-recovery, server SIGKILL, {len(ours['crash'])} rounds", ours["crash"],
         ours["crash_wrong"]),
        (f"yesman-recovery, power loss (daemon too), {len(ours['power'])} rounds", ours["power"],
         ours["power_wrong"]),
        (f"baseline: restart ignoring conversations, {len(blind['time'])} rounds", blind["time"],
         blind["wrong"]),
    )  # fmt: skip
    for label, times, bad in rows:
        print(f"{label:<58} | {cell(times):<18} | {int(sum(bad))} of {20 * len(bad)} pane starts")
    print("target: 0 wrong, p99 <= 1.5 s")


if __name__ == "__main__":
    main()
