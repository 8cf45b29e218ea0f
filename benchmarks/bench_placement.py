"""What placing a tmux server outside the daemon's cgroup costs, with the direct start beside it.

Prints one table:

- starting a server (``new-session`` on a socket with no server): directly, as a client without
  a launcher does; through the cgroup launcher of :mod:`yesman_recovery.tmux.placement` into a
  cgroup of this run's own (when a cgroup2 hierarchy is writable here); through a launcher that
  only execs (the ``tmux -N`` attempt and one ``sh``, without the cgroup write);
- ``new-session`` on a running server, with and without a launcher (``tmux -N`` answers, so
  the launcher is never run).

Each server started is killed by pid and its socket removed; the cgroup is removed at the end.
Medians and p99 in milliseconds; the ratio is the method's median over the first row's.

Usage: ``python benchmarks/bench_placement.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.placement import launcher_for

EXEC_ONLY = ("sh", "-c", 'exec "$@"', "sh")


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


class Servers:
    """Every server this run starts, ended by pid with its socket removed."""

    def __init__(self) -> None:
        self.prefix = f"yr-bench-placement-{secrets.token_hex(3)}"
        self.count = 0
        self.started: list[tuple[int, str]] = []

    def client(self, launcher: Sequence[str] = ()) -> TmuxClient:
        self.count += 1
        return TmuxClient(socket_name=f"{self.prefix}-{self.count}", launcher=launcher, timeout=10)

    def record(self, client: TmuxClient) -> None:
        pid = client.server_pid()
        if pid is not None:
            self.started.append((pid, client.socket_name or ""))

    def end(self, pid: int, name: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_pid_gone(pid, 5.0)
        with contextlib.suppress(OSError):
            os.unlink(Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.geteuid()}" / name)

    def end_all(self) -> None:
        while self.started:
            self.end(*self.started.pop())


def start_once(servers: Servers, launcher: Sequence[str]) -> float:
    """Seconds a ``new-session`` takes on a socket with no server (it starts one)."""
    client = servers.client(launcher)
    began = time.perf_counter()
    client.run("new-session", "-d", "-s", "agent", "sleep 60")
    took = time.perf_counter() - began
    servers.record(client)
    servers.end(*servers.started.pop())
    return took


def live_once(plain: TmuxClient, client: TmuxClient) -> float:
    """Seconds ``client`` takes to add a session to a running server (removed again after)."""
    began = time.perf_counter()
    client.run("new-session", "-d", "-s", "added")
    took = time.perf_counter() - began
    plain.run("kill-session", "-t", "=added")
    return took


def interleaved(rounds: int, measures: list[Callable[[], float]]) -> list[list[float]]:
    """Each measure once a round, in an order rotated each round: no method is always first
    (or last) while the machine's load drifts."""
    samples: list[list[float]] = [[] for _ in measures]
    for i in range(rounds):
        for k in range(len(measures)):
            j = (i + k) % len(measures)
            samples[j].append(measures[j]())
    return samples


@contextlib.contextmanager
def own_cgroup() -> Iterator[Path | None]:
    """A fresh cgroup2 group of this run's own, or None when none can be made here."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    unified = next((Path(m.split()[1]) for m in mounts if m.split()[2:3] == ["cgroup2"]), None)
    if unified is None or not os.access(unified / "cgroup.procs", os.W_OK):
        yield None
        return
    group = unified / f"yr-bench-placement-{secrets.token_hex(3)}"
    group.mkdir()
    try:
        yield group
    finally:
        for _ in range(100):
            pids = (group / "cgroup.procs").read_text().split()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.05)
        group.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    rounds = 5 if parser.parse_args().quick else 50
    servers = Servers()
    rows: list[tuple[str, str, list[float] | None]] = []
    try:
        with own_cgroup() as group:
            cgroup = launcher_for(str(group), None) if group is not None else None
            launchers: list[tuple[str, Sequence[str]]] = [
                ("direct (no launcher)", ()),
                *([("cgroup launcher, own cgroup", cgroup)] if cgroup is not None else []),
                ("exec-only launcher (-N + sh)", EXEC_ONLY),
            ]

            def starter(launcher: Sequence[str]) -> Callable[[], float]:
                return lambda: start_once(servers, launcher)

            starts = interleaved(rounds, [starter(launcher) for _, launcher in launchers])
            rows += [
                ("server start", name, got)
                for (name, _), got in zip(launchers, starts, strict=True)
            ]
            plain = servers.client()
            plain.run("new-session", "-d", "-s", "first")
            servers.record(plain)
            launched = TmuxClient(socket_name=plain.socket_name, launcher=EXEC_ONLY, timeout=10)
            live = interleaved(rounds, [lambda: live_once(plain, plain),
                                        lambda: live_once(plain, launched)])  # fmt: skip
            rows += [("live new-session", "no launcher", live[0]),
                     ("live new-session", "launcher (-N answers)", live[1])]  # fmt: skip
            if cgroup is None:
                rows.append(("server start", "cgroup launcher, own cgroup", None))
    finally:
        servers.end_all()
    header = f"{'case':<18} {'method':<30} {'n':>3} {'median ms':>10} {'p99 ms':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    base: dict[str, float] = {}
    for case, method, samples in rows:
        if samples is None:
            print(f"{case:<18} {method:<30} (no writable cgroup2 hierarchy here: not measured)")
            continue
        median = statistics.median(samples)
        ratio = median / base.setdefault(case, median)
        print(f"{case:<18} {method:<30} {len(samples):>3} {median * 1000:>10.1f} "
              f"{p99(samples) * 1000:>8.1f} {ratio:>5.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
