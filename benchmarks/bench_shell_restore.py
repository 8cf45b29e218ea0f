"""Restoring sessions into the user's own bash: the launcher line against the shell integration.

Run: ``.venv/bin/python benchmarks/bench_shell_restore.py [--rounds N]``.

Each round restores 10 sessions x 4 panes, each pane running ``tail -f /dev/null``, one
``restore_session`` after the other, on a fresh isolated tmux server (``-L yr-bench-…``) whose
``default-shell`` is bash with a HOME of its own: once typed through the ``sh -c`` launcher line
(``shell_dir=None``, as before) and once typed plainly at the integrated shell's prompt; the two
alternate in order from round to round. Figures: seconds per 10-session restore (each one
validated: structure matches, every ``tail`` runs 0.3 s after it is first seen), medians and
p99, and the ratio; then what the user sees afterwards: the share of panes whose
``#{pane_current_command}`` is ``tail``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from yesman_recovery.tmux import ProgramPolicy, SessionSnapshot, TmuxClient, restore_session
from yesman_recovery.tmux.records import PaneSnapshot, WindowSnapshot
from yesman_recovery.tmux.shell_integration import integration_dir

TAIL = ("tail", "-f", "/dev/null")
POLICY = ProgramPolicy.from_names(frozenset({"tail"}))


def _sessions(cwd: str) -> list[SessionSnapshot]:
    panes = tuple(PaneSnapshot(index=i, cwd=cwd, command=TAIL, active=i == 0) for i in range(4))
    window = WindowSnapshot(index=0, name="", panes=panes, automatic_rename=True, active=True)
    return [SessionSnapshot(f"s{n}", (window,), 160, 48) for n in range(10)]


def _round(config: Path, cwd: str, shell_dir: str | None) -> tuple[float, float]:
    client = TmuxClient(socket_name=f"yr-bench-{secrets.token_hex(4)}", config_file=str(config))
    try:
        started = time.monotonic()
        for session in _sessions(cwd):
            result = restore_session(client, session, POLICY, shell_dir=shell_dir)
            if not result.ok:
                raise SystemExit(f"restore failed: {result.differences}")
        took = time.monotonic() - started
        names = client.run("list-panes", "-a", "-F", "#{pane_current_command}").split()
        return took, names.count("tail") / max(1, len(names))
    finally:
        pid = client.server_pid()
        if pid:
            os.kill(pid, 9)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bash = shutil.which("bash")
    if bash is None:
        print("no bash on PATH")
        return 1
    with tempfile.TemporaryDirectory(prefix="yr-bench-restore-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp)
        (home / ".bash_profile").write_text(f"export PATH={os.environ['PATH']}\n")
        config = home / "tmux.conf"
        config.write_text(f"set -g default-shell {bash}\n")
        os.environ.update(HOME=str(home), SHELL=bash, XDG_CACHE_HOME=str(home / ".cache"))
        shell_dir = integration_dir()
        runs: dict[str, list[tuple[float, float]]] = {"launcher": [], "integrated": []}
        for n in range(args.rounds):
            order = ["launcher", "integrated"] if n % 2 == 0 else ["integrated", "launcher"]
            for mode in order:
                chosen = shell_dir if mode == "integrated" else None
                runs[mode].append(_round(config, tmp, chosen))
    print(f"restore of 10 sessions x 4 panes into bash, {args.rounds} rounds each")
    print(f"{'typed as':12} {'median s':>9} {'p99 s':>7} {'tail is pane_current_command':>30}")
    for mode, results in runs.items():
        times = [t for t, _ in results]
        share = statistics.mean(s for _, s in results)
        print(f"{mode:12} {statistics.median(times):9.3f} {_p99(times):7.3f} {share:30.0%}")
    a = statistics.median(t for t, _ in runs["launcher"])
    b = statistics.median(t for t, _ in runs["integrated"])
    print(f"integrated / launcher (medians): {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
