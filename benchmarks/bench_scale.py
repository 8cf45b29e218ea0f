"""Restore at scale: 10, 50 and 100 sessions x 4 panes after the tmux server is SIGKILLed.

Every session has one window of 4 panes, each running ``tail -f /dev/null`` at a login shell
(``SHELL=/bin/sh``, so ``sh -l`` reads ``/etc/profile`` whatever this machine's own rc does; the
run has a HOME of its own, so no ``~/.tmux.conf`` applies). Measured side by side in one run,
the rounds of the methods interleaved, each from the kill (or the start) until every session is
listed with 4 panes and every pane runs ``tail`` (its pane process or a child of it), seen from
outside by the same observer (one ``list-panes -a`` and ``/proc`` every 10 ms):

- **floor**: the same sessions built on a fresh server by the fewest chained tmux calls tmux
  accepts (chunked by the bytes of one command message,
  :data:`~yesman_recovery.tmux.plan.MESSAGE_LIMIT`), each pane's command a login shell that runs
  its program (``/bin/sh -l -c 'tail -f /dev/null'``), so the floor pays for the shells too;
- **tmux-resurrect**: its ``scripts/restore.sh`` (``run-shell``, as its key binding does) from a
  saved file, on a fresh server holding one session (as after a boot), from a checkout given
  with ``--resurrect DIR`` (``git clone https://github.com/tmux-plugins/tmux-resurrect DIR``);
  without it, that column is skipped;
- **yesman-recovery**: the real daemon (``yesman-recovery run``, default settings but
  ``programs = ["tail"]`` and a restart intensity that lets every round restore) watching the
  sessions; the tmux server is SIGKILLed; time until every session is back with every program
  running, and until the daemon audited every restore as validated. The daemon's CPU (its own
  and its tmux clients', kill → validated) and RSS (after the round) are printed per size.

Every server is on a fresh ``-L yr-scale-*`` socket and is killed by pid at the end.
Usage: ``python benchmarks/bench_scale.py [--sizes 10,50,100] [--rounds 5] [--resurrect DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from timing import p99, until

from yesman_recovery.processes import wait_pid_gone
from yesman_recovery.tmux import TmuxClient
from yesman_recovery.tmux.plan import chunk_commands

PANES = 4
TAIL = "tail -f /dev/null"
PANE_COMMAND = ("/bin/sh", "-l", "-c", TAIL)
TIMEOUT = 120.0


def names_of(n: int) -> list[str]:
    return [f"agent-{i:03d}" for i in range(n)]


@contextlib.contextmanager
def server(tag: str, env: dict[str, str]) -> Iterator[TmuxClient]:
    """A client on a fresh socket; whatever server runs there at the end is killed by pid."""
    client = TmuxClient(socket_name=f"yr-scale-{tag}-{secrets.token_hex(4)}", timeout=300.0)
    try:
        yield client
    finally:
        kill_server(client, descendants=True)
        with contextlib.suppress(OSError):
            os.unlink(Path(env.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
                      / str(client.socket_name))  # fmt: skip


def kill_server(client: TmuxClient, *, descendants: bool = False) -> None:
    """SIGKILL the server on ``client``'s socket; with ``descendants``, also what it started
    that outlives it (tmux-resurrect's ``run-shell`` jobs, by pid)."""
    pid = client.server_pid()
    if pid is None:
        return
    kids: list[psutil.Process] = []
    if descendants:
        with contextlib.suppress(psutil.Error):
            kids = psutil.Process(pid).children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    wait_pid_gone(pid, 10.0)
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            kid.kill()  # psutil checks it is still the same process (its start time)


def build_commands(names: list[str], argv: tuple[str, ...]) -> list[tuple[str, ...]]:
    cmds: list[tuple[str, ...]] = []
    for name in names:
        cmds.append(("new-session", "-d", "-s", name, "-x", "160", "-y", "48", "--", *argv))
        for _ in range(PANES - 1):
            cmds += [("split-window", "-t", f"={name}:", "--", *argv),
                     ("select-layout", "-t", f"={name}:", "tiled")]  # fmt: skip
    return cmds


def runs_tail(pid: int, depth: int = 3) -> bool:
    """True iff ``pid`` or a descendant (``depth`` levels down) is ``tail``."""
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii") as f:
            if f.read().strip() == "tail":
                return True
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            kids = f.read().split()
    except OSError:
        return False
    return depth > 0 and any(runs_tail(int(kid), depth - 1) for kid in kids)


def all_running(client: TmuxClient, names: list[str]) -> bool:
    """Every session in ``names`` has its 4 panes and each runs ``tail``."""
    try:
        out = client.run("list-panes", "-a", "-F", "#{session_name}\t#{pane_pid}")
    except Exception:
        return False
    panes: dict[str, list[int]] = {}
    for line in out.splitlines():
        name, _, pid = line.partition("\t")
        if pid.isdigit():
            panes.setdefault(name, []).append(int(pid))
    for name in names:
        pids = panes.get(name, [])
        if len(pids) != PANES or not all(runs_tail(p) for p in pids):
            return False
    return True


def floor_round(names: list[str], env: dict[str, str]) -> float:
    """Build the sessions on a fresh server in the fewest calls; seconds until all run."""
    with server("floor", env) as client:
        chunks = chunk_commands(build_commands(names, PANE_COMMAND))
        t0 = time.monotonic()
        for chunk in chunks:
            client.run_chain(chunk)
        until(lambda: all_running(client, names), TIMEOUT, "floor sessions running")
        return time.monotonic() - t0


@dataclass
class Resurrect:
    """tmux-resurrect from a checkout: one save made at setup, restored each round."""

    checkout: Path
    work: Path
    env: dict[str, str]
    names: list[str]
    options: list[tuple[str, ...]] = field(default_factory=list)

    def setup(self) -> None:
        self.options = [("set-option", "-g", "@resurrect-dir", str(self.work)),
                        ("set-option", "-g", "@resurrect-processes", "tail")]  # fmt: skip
        with server("rs-save", self.env) as client:
            shells = build_commands(self.names, ("/bin/sh", "-l"))
            for chunk in chunk_commands(self.options + shells):
                client.run_chain(chunk)
            keys = [("send-keys", "-t", f"={n}:.{i}", TAIL, "Enter")
                    for n in self.names for i in range(PANES)]  # fmt: skip
            for chunk in chunk_commands(keys):
                client.run_chain(chunk)
            until(lambda: all_running(client, self.names), TIMEOUT, "resurrect setup")
            client.run("run-shell", f"{self.checkout}/scripts/save.sh quiet")

    def round(self) -> float:
        with server("rs", self.env) as client:
            t0 = time.monotonic()
            client.run_chain([("new-session", "-d", "-s", "boot"), *self.options])
            # in the background: its restore of 50 sessions takes longer than a client's timeout
            client.run("run-shell", "-b", f"{self.checkout}/scripts/restore.sh")
            until(lambda: all_running(client, self.names), 5 * TIMEOUT, "resurrect restored")
            return time.monotonic() - t0


class Daemon:
    """The real daemon watching ``names`` on its own server."""

    def __init__(self, work: Path, env: dict[str, str], names: list[str]) -> None:
        self.work, self.env, self.names = work, env, names
        self.state = work / "state"
        self.client = TmuxClient(socket_name=f"yr-scale-d-{secrets.token_hex(4)}", timeout=30.0)
        config = work / "yesman-recovery.toml"
        config.write_text(
            f'[tmux]\nsocket_name = "{self.client.socket_name}"\nprograms = ["tail"]\n'
            "program_max_restarts = 10000\n"
            f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{self.state}"\n'
        )
        for chunk in chunk_commands(build_commands(names, ("tail", "-f", "/dev/null"))):
            self.client.run_chain(chunk)
        with (work / "daemon.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config),
                 "--log-level", os.environ.get("YR_SCALE_LOG", "error")],
                stdout=subprocess.DEVNULL, stderr=log, env=env,
            )  # fmt: skip
        self.ps = psutil.Process(self.proc.pid)
        until(self.checkpointed, TIMEOUT, "every session checkpointed", step=0.2)

    def checkpointed(self) -> bool:
        from yesman_recovery.storage import open_store
        from yesman_recovery.tmux.checkpoint import SessionCheckpoint

        if self.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {self.proc.returncode}")
        if not self.state.exists():
            return False
        pid = self.client.server_pid()
        with open_store(self.state) as store:
            for name in self.names:
                latest = store.checkpoints.latest_good(name)
                if latest is None:
                    return False
                cp = SessionCheckpoint.from_state(latest.state)
                if cp.server_pid != pid or len(cp.session.panes()) != PANES:
                    return False
        return True

    def validated(self, since: float) -> tuple[float, int] | None:
        """Once every session's restore since ``since`` is audited: the wall time the last of
        them ended, and how many were not validated within their settle time (the session is
        then finished or found healthy by a later look)."""
        from yesman_recovery.storage import open_store

        with open_store(self.state) as store:
            found = store.audit.query(since=since, kind="recovery")
        ended = [e for e in found if e.outcome in ("success", "failed") and e.duration is not None]
        if len({e.subject for e in ended}) < len(self.names):
            return None
        failed = sum(e.outcome == "failed" for e in ended)
        return max(e.time + (e.duration or 0.0) for e in ended), failed

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def round(self) -> tuple[float, float, float, float, int]:
        """(kill → running, kill → validated, CPU seconds, RSS MB, failed validations)."""
        cpu0, since = self.cpu(), time.time()
        t0 = time.monotonic()
        kill_server(self.client)
        until(lambda: all_running(self.client, self.names), TIMEOUT, "daemon restored")
        running = time.monotonic() - t0
        done, failed = until(lambda: self.validated(since), TIMEOUT, "validated", step=0.1)
        cpu = self.cpu() - cpu0
        until(self.checkpointed, TIMEOUT, "checkpointed on the new server", step=0.2)
        time.sleep(1.0)  # a quiet poll or two before the next kill
        return running, done - since, cpu, self.ps.memory_info().rss / 2**20, failed

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        kill_server(self.client)
        with contextlib.suppress(OSError):  # tmux leaves its socket file behind
            os.unlink(Path(self.env.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
                      / str(self.client.socket_name))  # fmt: skip


def measure(n: int, rounds: int, work: Path, env: dict[str, str],
            resurrect: Path | None) -> dict[str, list[float]]:  # fmt: skip
    names = names_of(n)
    keys = ("floor", "resurrect", "running", "validated", "cpu", "rss", "failed")
    out: dict[str, list[float]] = {k: [] for k in keys}
    rs = None
    if resurrect is not None:
        (work / f"rs-{n}").mkdir()
        rs = Resurrect(resurrect, work / f"rs-{n}", env, names)
        rs.setup()
    (work / f"d-{n}").mkdir(mode=0o700)
    daemon = Daemon(work / f"d-{n}", env, names)
    try:
        for _ in range(rounds):
            out["floor"].append(floor_round(names, env))
            if rs is not None:
                out["resurrect"].append(rs.round())
            running, validated, cpu, rss, failed = daemon.round()
            out["failed"].append(failed)
            out["running"].append(running)
            out["validated"].append(validated)
            out["cpu"].append(cpu)
            out["rss"].append(rss)
            print(f"{n} sessions: floor {out['floor'][-1]:.2f} s, daemon {running:.2f} s "
                  f"(validated {validated:.2f} s, {failed} failed)", file=sys.stderr)  # fmt: skip
    finally:
        daemon.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100", help="session counts (default 10,50,100)")
    parser.add_argument("--rounds", type=int, default=5, help="kills per size (default 5)")
    parser.add_argument("--resurrect", type=Path, help="a tmux-resurrect checkout")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if shutil.which("tmux") is None:
        sys.exit("tmux is not on PATH")
    rs = args.resurrect
    if rs is not None and not (rs / "scripts" / "restore.sh").exists():
        sys.exit(f"--resurrect {rs}: no scripts/restore.sh there (a tmux-resurrect checkout?)")
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="yr-scale-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env.update(SHELL="/bin/sh", HOME=str(work / "home"))
        os.environ.update(SHELL="/bin/sh", HOME=str(work / "home"))
        try:
            for n in sizes:
                results[n] = measure(n, args.rounds, work, env, rs)
        finally:  # the sizes measured so far, also when a later one fails
            if results:
                print_table(results, args.rounds, rs is not None)
    return 0


def print_table(results: dict[int, dict[str, list[float]]], rounds: int, rs: bool) -> None:
    def ms(values: list[float]) -> str:
        if not values:
            return f"{'(no --resurrect)':>17}"
        return f"{statistics.median(values) * 1e3:7.0f} / {p99(values) * 1e3:7.0f}"

    load = os.getloadavg()
    print(f"rounds per size: {rounds}; load average at the end {load[0]:.2f} {load[1]:.2f}; "
          f"{os.cpu_count()} cores")  # fmt: skip
    head = (f"{'sessions x 4':>12} {'floor ms med/p99':>17} {'resurrect med/p99':>17} "
            f"{'daemon running':>17} {'x floor':>7} {'daemon validated':>17} "
            f"{'CPU s':>6} {'RSS MB':>6} {'unvalidated':>11}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for n, r in results.items():
        ratio = statistics.median(r["running"]) / statistics.median(r["floor"])
        print(f"{n:>12} {ms(r['floor'])} {ms(r['resurrect'])} {ms(r['running'])} "
              f"{ratio:6.2f}x {ms(r['validated'])} {statistics.median(r['cpu']):6.2f} "
              f"{max(r['rss']):6.1f} {sum(r['failed']):11.0f}")  # fmt: skip
    if len(results) > 1:
        small, big = min(results), max(results)
        for key, label in (("floor", "floor"), ("running", "daemon running"),
                           ("validated", "daemon validated")):  # fmt: skip
            grow = statistics.median(results[big][key]) / statistics.median(results[small][key])
            print(f"{label}: {big} sessions / {small} sessions = {grow:.2f}x "
                  f"(work: {big / small:.0f}x)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
