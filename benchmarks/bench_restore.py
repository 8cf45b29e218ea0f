"""Restore speed and snapshot cost of yesman-recovery's tmux layer, with baselines.

Part 1 restores a 20-pane session (4 windows x 5 panes, saved layout strings, distinct cwds) on
an isolated tmux server three ways in the same run: the chained restore plan (one tmux process),
libtmux object calls (``new_session``, ``new_window``, ``Window.split``, ``select_layout``), and
``tmuxp load -d`` of the equivalent workspace file (the CLI, so Python start-up is included).
The time is until the structure exists (the command returns).

Part 2 snapshots servers holding 1, 10 and 50 sessions (2 panes each): latency, and tmux
processes spawned per snapshot, against libtmux's ``server.windows`` + ``server.panes``.

Every server is started on a random ``-L yr-bench-*`` socket with ``default-shell /bin/sh``
and killed by pid at the end. Usage: ``.venv/bin/python benchmarks/bench_restore.py [--quick]``.
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
from collections.abc import Callable, Iterator
from pathlib import Path

import libtmux
import yaml

from yesman_recovery.tmux import (
    PaneSnapshot,
    ProgramPolicy,
    SessionSnapshot,
    TmuxClient,
    WindowSnapshot,
    execute_plan,
    plan_restore,
    take_snapshot,
)

WINDOWS, PANES = 4, 5


@contextlib.contextmanager
def isolated_server(config: Path) -> Iterator[TmuxClient]:
    """A TmuxClient on a fresh socket; the server is killed by pid on exit."""
    client = TmuxClient(socket_name=f"yr-bench-{secrets.token_hex(5)}", config_file=str(config),
                        timeout=30.0)  # fmt: skip
    try:
        yield client
    finally:
        pid = client.server_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        with contextlib.suppress(OSError):  # tmux leaves its socket file behind
            os.unlink(os.path.join(tmpdir, f"tmux-{os.getuid()}", client.socket_name or ""))


def saved_session(root: Path, client: TmuxClient) -> SessionSnapshot:
    """Build the 20-pane session once by hand and snapshot it: the checkpoint to restore."""
    dirs = [root / f"dir {i}" for i in range(WINDOWS * PANES)]
    for d in dirs:
        d.mkdir(exist_ok=True)
    cmds: list[tuple[str, ...]] = []
    for w in range(WINDOWS):
        first = str(dirs[w * PANES])
        if w == 0:
            cmds.append(("new-session", "-d", "-s", "bench", "-x", "200", "-y", "60", "-n",
                         "w0", "-c", first))  # fmt: skip
        else:
            cmds.append(("new-window", "-n", f"w{w}", "-c", first))
        for p in range(1, PANES):
            cmds.append(("split-window", "-c", str(dirs[w * PANES + p])))
            cmds.append(("select-layout", "tiled"))
        cmds.append(("select-layout", "main-vertical" if w % 2 else "tiled"))
    client.run_chain(cmds)
    session = take_snapshot(client).session("bench")
    assert session is not None
    return session


def restore_chained(client: TmuxClient, session: SessionSnapshot) -> None:
    execute_plan(client, plan_restore(session, ProgramPolicy()))


def restore_libtmux(client: TmuxClient, session: SessionSnapshot) -> None:
    server = libtmux.Server(socket_name=client.socket_name, config_file=client.config_file)
    first: WindowSnapshot = session.windows[0]
    sess = server.new_session(
        session_name=session.name, window_name=first.name, x=session.width, y=session.height,
        start_directory=first.panes[0].cwd,
    )  # fmt: skip
    for i, w in enumerate(session.windows):
        window = sess.windows[0] if i == 0 else sess.new_window(
            window_name=w.name, start_directory=w.panes[0].cwd
        )  # fmt: skip
        for pane in w.panes[1:]:
            window.split(start_directory=pane.cwd)
            window.select_layout("tiled")
        window.select_layout(w.layout)


def tmuxp_workspace(session: SessionSnapshot, path: Path) -> Path:
    def pane(p: PaneSnapshot) -> dict[str, object]:
        return {"start_directory": p.cwd, "shell_command": []}

    cfg = {
        "session_name": session.name,
        "windows": [
            {"window_name": w.name, "layout": w.layout, "start_directory": w.panes[0].cwd,
             "panes": [pane(p) for p in w.panes]}
            for w in session.windows
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path


def restore_tmuxp(client: TmuxClient, workspace: Path) -> None:
    tmuxp = Path(sys.executable).with_name("tmuxp")
    subprocess.run(
        [str(tmuxp), "load", "-d", "-y", "--no-progress", "-L", client.socket_name or "",
         "-f", client.config_file or "", str(workspace)],
        check=True, capture_output=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")},
    )  # fmt: skip


def timed(rounds: int, setup: Callable[[], object], action: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(rounds):
        setup()
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run")
    args = parser.parse_args()
    rounds = 3 if args.quick else 30
    tmuxp_rounds = 2 if args.quick else 10
    snap_rounds = 5 if args.quick else 50
    sizes = (1, 10) if args.quick else (1, 10, 50)
    rows: list[tuple[str, str, list[float], str]] = []
    with tempfile.TemporaryDirectory(prefix="yr-bench-") as tmp:
        root = Path(tmp)
        config = root / "tmux.conf"
        config.write_text("set -g default-shell /bin/sh\n")
        with isolated_server(config) as client:
            session = saved_session(root, client)
            assert len(session.panes()) == WINDOWS * PANES

            client.run("new-session", "-d", "-s", "keepalive")  # the server outlives "bench"

            def reset() -> None:
                client.run("kill-session", "-t", "=bench")

            workspace = tmuxp_workspace(session, root / "bench.yaml")
            chained = timed(rounds, reset, lambda: restore_chained(client, session))
            rows.append(("restore 20 panes", "chained plan (1 tmux call)", chained, ""))
            lib = timed(rounds, reset, lambda: restore_libtmux(client, session))
            rows.append(("restore 20 panes", "libtmux object calls", lib, ""))
            tmx = timed(tmuxp_rounds, reset, lambda: restore_tmuxp(client, workspace))
            rows.append(("restore 20 panes", "tmuxp load -d", tmx, ""))
        for n in sizes:
            rows += snapshot_rows(config, n, snap_rounds)
    print_table(rows)


def snapshot_rows(config: Path, n: int, rounds: int) -> list[tuple[str, str, list[float], str]]:
    """Snapshot latency and tmux processes per snapshot for ``n`` sessions of 2 panes."""
    with isolated_server(config) as client:
        client.run_chain(
            [c for i in range(n) for c in (
                ("new-session", "-d", "-s", f"s{i}"), ("split-window", "-t", f"=s{i}:"))]
        )  # fmt: skip
        before = client.invocations
        ours = timed(rounds, lambda: None, lambda: take_snapshot(client))
        per = (client.invocations - before) / rounds
        server = libtmux.Server(socket_name=client.socket_name)
        spawned = [0]
        real_popen = subprocess.Popen

        def counting(*a: object, **k: object) -> subprocess.Popen[bytes]:
            spawned[0] += 1
            return real_popen(*a, **k)  # type: ignore[call-overload, no-any-return]

        subprocess.Popen = counting  # type: ignore[assignment, misc]
        try:
            lib = timed(rounds, lambda: None, lambda: (server.windows, server.panes))
        finally:
            subprocess.Popen = real_popen  # type: ignore[misc]
    case = f"snapshot {n} sessions"
    return [
        (case, "take_snapshot (1 chained call)", ours, f"{per:g}"),
        (case, "libtmux windows+panes", lib, f"{spawned[0] / rounds:g}"),
    ]


def print_table(rows: list[tuple[str, str, list[float], str]]) -> None:
    header = (
        f"{'case':<22} {'method':<30} {'n':>3} {'median ms':>10} {'p99 ms':>9} "
        f"{'x ours':>7} {'tmux procs':>10}"
    )
    print(header)
    print("-" * len(header))
    base: dict[str, float] = {}
    for case, method, samples, procs in rows:
        med = statistics.median(samples)
        base.setdefault(case, med)
        ratio = med / base[case]
        print(f"{case:<22} {method:<30} {len(samples):>3} {med * 1000:>10.1f} "
              f"{p99(samples) * 1000:>9.1f} {ratio:>6.1f}x {procs:>10}")  # fmt: skip


if __name__ == "__main__":
    main()
