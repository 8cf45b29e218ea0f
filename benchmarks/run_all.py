"""Run every benchmark, one at a time, and print their tables as Markdown for PERFORMANCE.md.

The output starts with the machine (cores, memory, kernel, Python, tmux), the date and the load
average, then for each benchmark the exact command, how long it ran and the load when it
started, and its table in a code block. Benchmarks run
one after another, never side by side: each measures the machine it is on.

Usage: ``python benchmarks/run_all.py [--quick] [--only NAME,...] [--chaos-faults N]
[--chaos-seed S] [--dry-run]``. ``--quick`` passes ``--quick`` to every benchmark (a smoke run);
``--dry-run`` prints the header and the commands without running them. A benchmark that fails
is reported with its exit status and its stderr's last lines; the others still run, and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """One line: cores, memory, kernel, Python, tmux, date and load."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    tmux = shutil.which("tmux")
    version = (
        subprocess.run([tmux, "-V"], capture_output=True, text=True, check=False).stdout.strip()
        if tmux
        else "no tmux"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{os.cpu_count()} cores, {mem:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {version}; {now}; load average {load}"
    )


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    out = [(n, [f"benchmarks/{n}.py", *(["--quick"] if args.quick else [])]) for n in names]
    chaos = ["benchmarks/chaos.py", "--seed", str(args.chaos_seed)]
    chaos += ["--quick"] if args.quick else ["--faults", str(args.chaos_faults)]
    out.append(("chaos", chaos))
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {n for n, _ in out}
        if unknown:
            sys.exit(f"--only: unknown {', '.join(sorted(unknown))}")
        out = [(n, c) for n, c in out if n in wanted]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated names, e.g. bench_cli,chaos")
    parser.add_argument("--chaos-faults", type=int, default=1000)
    parser.add_argument("--chaos-seed", type=int, default=16)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    failed = False
    for name, cmd in commands(args):
        print(f"## {name} — `.venv/bin/python {' '.join(cmd)}`\n")
        if args.dry_run:
            continue
        load = os.getloadavg()[0]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, *cmd], cwd=HERE.parent, capture_output=True, text=True, check=False
        )
        took = time.monotonic() - started
        print(f"Ran {took:.0f} s; load average {load:.2f} when it started.\n")
        print("```\n" + result.stdout.rstrip() + "\n```\n", flush=True)
        if result.returncode != 0:
            failed = True
            tail = "\n".join(result.stderr.splitlines()[-5:])
            print(f"(exit status {result.returncode}; stderr ends:)\n```\n{tail}\n```\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
