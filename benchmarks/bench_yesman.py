"""``config check`` of a yesman-claude sessions folder of 50 files, against its baselines.

The folder is written fresh: 50 session files in 5 sub-folders, half ``template_name`` +
``override`` (3 templates beside the folder), half inline, each of 3 windows and 6 panes with
``{command:, name:}`` panes and a ``before_script``. Rows, each ``yesman-recovery config check``
as a new process (as a user runs it), interleaved so a load spike hits all alike:

- ``[yesman] 50 files``: the folder declared by ``[yesman] sessions_dir``;
- ``[[sessions]] 50 tmuxp``: the same 50 sessions written as plain tmuxp files, one
  ``[[sessions]] spec`` each (what a user had to write before);
- ``no spec``: the same configuration without specs (start-up and TOML only: the floor);
- ``resolve() in process``: reading and resolving the 50 files, without the process start.

Medians and p99 in milliseconds; ratio = row / ``no spec`` (medians). The output of one run is
printed after the table (its first lines), so what a user sees is shown too.

Usage: ``python benchmarks/bench_yesman.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "yesman-recovery"
FILES = 50

TEMPLATE = """\
session_name: "{{{{ session_name }}}}"
start_directory: "{{{{ start_directory }}}}"
before_script: echo ready
windows:
  - window_name: agent
    layout: main-vertical
    panes: [claude, null]
  - window_name: server{n}
    panes:
      - command: python3 -m http.server 80{n}0
        name: web
      - tail -f app.log
  - window_name: shell
    panes: [null]
"""

INLINE = """\
session_name: inline-{i}
start_directory: {work}
environment:
  MODE: dev
before_script: [echo a, echo b]
windows:
  - window_name: agent
    layout: main-vertical
    panes:
      - claude
      - command: npm run dev
        name: dev-server
      - null
  - window_name: logs
    panes: [tail -f app.log, htop]
  - window_name: shell
    panes: [null]
"""

TMUXP = """\
session_name: tmuxp-{i}
start_directory: {work}
windows:
  - window_name: agent
    layout: main-vertical
    panes: [claude, npm run dev, null]
  - window_name: logs
    panes: [tail -f app.log, htop]
  - window_name: shell
    panes: [null]
"""


def write_fixture(root: Path) -> dict[str, Path]:
    """The folder, the templates, the tmuxp files and the three configurations."""
    work = root / "work"
    work.mkdir()
    templates = root / "templates"
    templates.mkdir()
    for n in range(3):
        (templates / f"t{n}.yaml").write_text(TEMPLATE.format(n=n))
    sessions = root / "sessions"
    tmuxp = root / "tmuxp"
    tmuxp.mkdir()
    entries = []
    for i in range(FILES):
        folder = sessions / f"group{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            text = f"template_name: t{i % 3}\noverride:\n  start_directory: {work}\n"
        else:
            text = INLINE.format(i=i, work=work)
        (folder / f"s{i:02}.yaml").write_text(text)
        spec = tmuxp / f"s{i:02}.yaml"
        spec.write_text(TMUXP.format(i=i, work=work))
        entries.append(f'[[sessions]]\nname = "tmuxp-{i}"\nspec = "{spec}"\n')
    base = f'[storage]\npath = "{root / "state"}"\n[tmux]\nadopt = "none"\n'
    configs = {
        "yesman": root / "yesman.toml",
        "tmuxp": root / "tmuxp.toml",
        "none": root / "none.toml",
    }
    configs["yesman"].write_text(base + f'[yesman]\nsessions_dir = "{sessions}"\n')
    configs["tmuxp"].write_text(base + "".join(entries))
    configs["none"].write_text(
        base + "".join(f'[[sessions]]\nname = "s-{i}"\n' for i in range(FILES))
    )
    return configs


def run_check(config: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(SCRIPT), "config", "check", str(config)],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"config check {config} exited {done.returncode}: {done.stderr}")
    return done.stdout


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    rounds = 1 if args.quick else 20
    env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_RECOVERY_")}
    from yesman_recovery.config import load_config
    from yesman_recovery.config.declared import resolve

    with tempfile.TemporaryDirectory(prefix="yr-bench-yesman-") as tmp:
        configs = write_fixture(Path(tmp))
        sample = run_check(configs["yesman"], env)  # also the warm-up
        rows: dict[str, list[float]] = {
            "[yesman] 50 files": [], "[[sessions]] 50 tmuxp": [], "no spec": [],
            "resolve() in process": [],
        }  # fmt: skip
        resolve(load_config(configs["yesman"]))  # imports tmuxp once, as a daemon does
        for _ in range(rounds):
            rows["[yesman] 50 files"].append(timed(lambda: run_check(configs["yesman"], env)))
            rows["[[sessions]] 50 tmuxp"].append(timed(lambda: run_check(configs["tmuxp"], env)))
            rows["no spec"].append(timed(lambda: run_check(configs["none"], env)))
            rows["resolve() in process"].append(
                timed(lambda: resolve(load_config(configs["yesman"])))
            )

    floor = statistics.median(rows["no spec"])
    print(f"rounds: {rounds}; {FILES} files; ms median / p99; ratio = row / `no spec` (medians)")
    header = f"{'case':<24} {'median':>9} {'p99':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:<24} {median * 1000:>9.1f} {percentile(times, 0.99) * 1000:>9.1f} "
              f"{median / floor:>6.2f}x")  # fmt: skip
    lines = sample.splitlines()
    print(f"output of `config check` ({len(lines)} lines), first 12:")
    for line in lines[:12]:
        print(f"    {line}")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
