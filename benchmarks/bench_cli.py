"""Start-up cost of the command line, against ``python -c pass`` measured in the same run.

Each row runs the installed ``yesman-recovery`` as a new process, as a user's shell does, and
times it from ``fork`` to exit:

- ``--version``: the group alone (no command module is imported);
- ``status`` and ``sessions list``: against a real daemon (``yesman-recovery run`` on an isolated
  tmux socket, metrics on a free port) started for the benchmark;
- ``checkpoints list``: a store of 20 sessions x 50 checkpoints in a temporary state directory;
- baseline: ``python -c pass`` with the same interpreter (the floor for any Python program).

Medians, p95 and p99 in milliseconds; the ratio is ours / baseline on medians. The targets are
``--version`` <= 150 ms and readers <= 300 ms.

Usage: ``python benchmarks/bench_cli.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "yesman-recovery"
TARGETS = {"--version": 150.0}
READER_TARGET = 300.0
SESSIONS, PER_SESSION = 20, 50


def timed(argv: list[str], rounds: int, env: dict[str, str]) -> list[float]:
    """Wall seconds of ``rounds`` runs of ``argv`` (after one warm-up); fails on exit != 0."""
    times = []
    for i in range(rounds + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False, timeout=60)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()}")
        if i:
            times.append(elapsed)
    return times


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def populate(state_dir: Path) -> None:
    from yesman_recovery.storage import open_store

    with open_store(state_dir, durability="fast") as store:
        for s in range(SESSIONS):
            for n in range(PER_SESSION):
                store.checkpoints.create(f"agent-{s}", {"n": n, "pad": "x" * 2000})


def start_daemon(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A daemon on an isolated tmux socket; its process and endpoint URL."""
    config = workdir / "daemon.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[storage]\npath = "{workdir / "daemon-state"}"\n'
        f'[tmux]\nsocket_name = "yr-bench-{secrets.token_hex(4)}"\nadopt = "none"\n'
    )
    process = subprocess.Popen(
        [str(SCRIPT), "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("yesman-recovery: metrics on "):
            return process, line.rsplit(" ", 1)[1].strip().removesuffix("/metrics")
    process.kill()
    raise RuntimeError("the daemon did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    rounds = 3 if args.quick else 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_RECOVERY_")}

    with tempfile.TemporaryDirectory(prefix="yr-bench-cli-") as tmp:
        workdir = Path(tmp)
        state = workdir / "state"
        populate(state)
        daemon, url = start_daemon(workdir, env)
        try:
            rows = [
                ("--version", [str(SCRIPT), "--version"]),
                ("status", [str(SCRIPT), "status", "--url", url]),
                ("sessions list", [str(SCRIPT), "sessions", "list", "--url", url]),
                ("checkpoints list", [str(SCRIPT), "--state-dir", str(state), "checkpoints",
                                      "list"]),
            ]  # fmt: skip
            results = []
            for name, argv in rows:
                # Interleaved with its own baseline, so a load spike hits both alike.
                mine = timed(argv, rounds, env)
                base = timed([sys.executable, "-c", "pass"], rounds, env)
                results.append((name, mine, base))
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)

    print(f"rounds: {rounds}; ms median / p95 / p99; ratio = ours / `python -c pass` (medians)")
    header = f"{'command':<18} {'ours':>20}   {'python -c pass':>20} {'ratio':>6} {'target':>8} ok"
    print(header)
    print("-" * len(header))
    for name, mine, base in results:
        target = TARGETS.get(name, READER_TARGET)
        med = statistics.median(mine) * 1e3
        ours = f"{med:6.1f}/{percentile(mine, 0.95) * 1e3:6.1f}/{percentile(mine, 0.99) * 1e3:6.1f}"
        b_med = statistics.median(base) * 1e3
        theirs = (
            f"{b_med:6.1f}/{percentile(base, 0.95) * 1e3:6.1f}/{percentile(base, 0.99) * 1e3:6.1f}"
        )
        verdict = "yes" if med <= target else "NO"
        print(f"{name:<18} {ours:>20}   {theirs:>20} {med / b_med:6.1f} {target:6.0f}ms {verdict}")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
