"""What the shell integration adds to a prompt: bash, zsh and fish, with and without it.

Run: ``.venv/bin/python benchmarks/bench_shell_prompt.py [--calls N]``.

Each shell runs in a pane of its own isolated tmux server (``-L yr-bench-…``), so the
snippet's ``tmux set-option`` reaches a real pane. Inside the shell, its hooks are called as the
prompt calls them, one at a time :data:`PAUSE` s apart, timed with the shell's own clock; the
same loop with empty hooks is the baseline (a shell without the snippet), in the same run.
Rows: the prompt after a command (the snippet reports the status: one ``tmux`` process), an
empty Enter (nothing to report), and a command's start (reports the line: one ``tmux``). Figures
are milliseconds per call: medians and p99, and the difference of the medians.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yesman_recovery.tmux.shell_snippets import SNIPPETS

PAUSE = 0.05
CASES = {
    # case: (bash/zsh call, fish call)
    "prompt after a command": ("__yr_ran=1; __yr_precmd", "__yr_postexec"),
    "empty Enter": ("__yr_precmd", "__yr_prompt"),
    "command start": ("__yr_armed=1; __yr_preexec 'sleep 1'", "__yr_preexec 'sleep 1'"),
}
EMPTY = {
    "bash": "__yr_precmd() { :; }; __yr_preexec() { :; }",
    "zsh": "__yr_precmd() { : }; __yr_preexec() { : }",
    "fish": "function __yr_postexec; end; function __yr_prompt; end; function __yr_preexec; end",
}


def _script(shell: str, snippet: Path | None, call: str, calls: int, out: Path) -> str:
    """A script that times ``calls`` calls one by one (a line each), :data:`PAUSE` s apart (a
    prompt comes once per command: the background ``tmux`` of one call is done by the next)."""
    setup = f"source {snippet}" if snippet else EMPTY[shell]
    if shell == "fish":  # no clock variable: fish's own `time`, parsed below
        return (
            f"{setup}; set -g __yr_ready 1; for b in (seq {calls}); time {call}; sleep {PAUSE}; end"
        )
    clock = "zmodload zsh/datetime; " if shell == "zsh" else ""
    return (
        f"{clock}{setup}; __yr_ready=1; for b in $(seq {calls}); do "
        f"t0=$EPOCHREALTIME; {call}; t1=$EPOCHREALTIME; "
        f'echo "$t0 $t1" >> {out}; sleep {PAUSE}; done'
    )


def _measure(shell: str, with_snippet: bool, case: str, calls: int, work: Path) -> list[float]:
    out = work / f"{shell}-{with_snippet}-{secrets.token_hex(3)}.txt"
    snippet = work / f"snippet.{shell}"
    snippet.write_text(SNIPPETS[shell])
    bash_call, fish_call = CASES[case]
    call = fish_call if shell == "fish" else bash_call
    script = _script(shell, snippet if with_snippet else None, call, calls, out)
    sock = f"yr-bench-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["HOME"] = str(work)
    base = ["tmux", "-f", "/dev/null", "-L", sock]
    done = work / f"done-{secrets.token_hex(3)}"
    command = [shutil.which(shell) or shell, "-i", "-c", f"{script}; touch {done}"]
    if shell == "fish":  # fish's `time` writes to the shell's own stderr
        command = ["/bin/sh", "-c", 'exec "$@" 2>>"$0"', str(out), *command]
    subprocess.run([*base, "new-session", "-d", "--", *command], env=env, check=True)
    try:
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subprocess.run([*base, "kill-server"], env=env, capture_output=True, check=False)
    lines = out.read_text().split("\n") if out.exists() else []
    if shell == "fish":
        return [_fish_ms(line) for line in lines if line.startswith("Executed in")]
    return [
        (float(b) - float(a)) * 1000 for a, b in (line.split() for line in lines if line.strip())
    ]


def _fish_ms(line: str) -> float:
    """Milliseconds from fish's ``Executed in  297.00 micros`` (or ``millis``, ``secs``)."""
    _, _, value, unit, *_ = line.split()
    return float(value) * {"micros": 1e-3, "millis": 1.0, "secs": 1e3}.get(unit, 1.0)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    shells = [s for s in ("bash", "zsh", "fish") if shutil.which(s)]
    print(f"ms per prompt hook call, {args.calls} calls; baseline: the same hooks empty")
    header = f"{'shell':6} {'case':24} {'without':>15} {'with':>15} {'added':>8}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="yr-bench-shell-") as tmp:
        work = Path(tmp)
        for shell in shells:
            for case in CASES:
                without = _measure(shell, False, case, args.calls, work)
                with_it = _measure(shell, True, case, args.calls, work)
                if not without or not with_it:
                    print(f"{shell:6} {case:24} no figures (the shell did not run the loop)")
                    continue
                a, b = statistics.median(without), statistics.median(with_it)
                print(
                    f"{shell:6} {case:24} {a:7.3f}/{_p99(without):7.3f}"
                    f" {b:7.3f}/{_p99(with_it):7.3f} {b - a:8.3f}"
                )
    print("(median/p99 per column; 'added' is the difference of the medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
