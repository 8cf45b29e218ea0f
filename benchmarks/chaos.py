"""Chaos: faults injected one at a time into a real ``yesman-recovery run``, each checked exactly.

The daemon runs as a subprocess on its own tmux socket (``-L yr-chaos-<random>``) under its own
``TMUX_TMPDIR`` and state directory, all in a temporary directory. It watches two declared
sessions (tmuxp specs, ``tail -f`` panes in distinct directories) and three adopted ones (two
windows, three panes, distinct directories; ``tail -f`` and a fake agent ``aider`` typed at
``/bin/sh``). Once every session is healthy and checkpointed and the server is stable, the
observed state becomes the expectation: per session, each window's index, name and layout
string (geometry included), and per pane its directory and the programs running under it
(shells left out; a stopped or duplicated program shows).

Faults come from a seeded random schedule (``--seed``), one at a time. After each, the script
waits up to 30 s for the observed state to equal the expectation exactly, then looks again
after 1.5 s (more than a poll) and requires it to still be equal: a late duplicate fails the
fault. A fault not recovered is counted as a failure with its seed, index and difference, the
expectation is re-read from the server, and the run goes on. Nothing is retried.

Kinds (``--kinds`` picks some): ``server_kill`` (SIGKILL of the tmux server),
``declared_session_kill`` (must return), ``adopted_session_kill`` (must stay closed; a new
adopted session replaces it before the next fault), ``declared_window_kill``,
``program_kill`` and ``program_stop`` (SIGKILL / SIGSTOP of a declared pane's ``tail`` or of an
adopted pane's agent), ``server_stop`` (SIGSTOP of the tmux server, left to the daemon),
``daemon_kill`` (SIGKILL of the daemon when idle, just after a server kill (mid-restore) or
just after a session kill, then a restart), ``checkpoint_corrupt`` (a window added to an
adopted session and checkpointed, the daemon SIGKILLed, bytes flipped in that newest
checkpoint, the server SIGKILLed, the daemon restarted: the session must come back as its
previous good checkpoint, without the window, and the corruption must be audited),
``health_kill`` (SIGKILL of a ``process`` health check's target, which the check's heal command
starts again: a new live pid in its pid file; only with versions that have health checks),
``transaction_kill`` (SIGKILL of the workload program that runs transactions, at a random
moment, just after a begin or mid-compensation, then a restart: every transaction it left ends,
each step's effect undone at most once, every ending audited), ``breaker_trip`` (the workload's
dependency fails for 2-4 s: its breaker opens, lets only probes through, closes once it is
back) and ``disk_full`` (the state directory's small tmpfs filled, the tmux server killed, the
space freed 2-4 s later; root only). The parts beside tmux are in ``chaos_work.py``.

A program the user typed at an adopted pane's shell stays ended after a kill and stopped after
a SIGSTOP (its shell lists it as a stopped job, as after Ctrl-Z): the daemon never undoes the
user's own doing. The expectation says so; then the script plays the user (types it again, or
``fg``), untimed.

After the run the store is opened: every checkpoint is verified (data loss = corrupt records
beyond the ones flipped on purpose) and each fault must have an audit record in its time
window (for ``checkpoint_corrupt`` one of kind ``corruption``).

Usage: ``python benchmarks/chaos.py [--quick] [--faults N] [--seed S] [--kinds a,b] [--json]``;
``--table FILE --seed S`` prints the table of a run saved with ``--json``.
``--quick``: one fault of each kind (about a minute and a half).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_work import Dependency, SmallDisk, Workload

from yesman_recovery.processes import wait_pid_gone

SHELLS = frozenset({"sh", "dash", "bash", "zsh", "fish"})
KINDS = (
    "server_kill",
    "declared_session_kill",
    "adopted_session_kill",
    "declared_window_kill",
    "program_kill",
    "program_stop",
    "server_stop",
    "daemon_kill",
    "checkpoint_corrupt",
    "health_kill",
    "transaction_kill",
    "breaker_trip",
    "disk_full",
)
WORK_KINDS = ("transaction_kill", "breaker_trip")  # faults of the workload program
DEADLINE = 30.0  # the plan's promise: recovered in under 30 s
HOLD = 1.5  # a recovered state must still hold this much later (more than one poll)
# A program left stopped by rule must still be stopped after the frozen grace (2 s) and a poll.
STOP_HOLD = 3.5
DISK_SIZE = "64m"  # the state directory's filesystem for disk_full
FMT = "\t".join(
    ["#{session_name}", "#{window_index}", "#{window_name}", "#{window_layout}",
     "#{pane_index}", "#{pane_current_path}", "#{pane_pid}"]
)  # fmt: skip
DECLARED = ("decl-a", "decl-b")
# Health checks are there only in versions that have them; without, their fault is left out.
HEALTH = importlib.util.find_spec("yesman_recovery.health") is not None

# session -> ((window index, name, layout, ((pane index, cwd, programs), ...)), ...)
Pane = tuple[int, str, tuple[str, ...]]
Window = tuple[int, str, str, tuple[Pane, ...]]
State = dict[str, tuple[Window, ...]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Result:
    index: int
    kind: str
    detail: str
    subject: str
    start: float  # wall time of the injection
    end: float = 0.0
    recovered: bool = False
    seconds: float | None = None
    problem: str = ""
    cpu: float | None = None
    audited: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Lab:
    """Everything one run started: a work directory, a tmux socket, the daemon."""

    work: Path
    socket: str = field(default_factory=lambda: f"yr-chaos-{secrets.token_hex(4)}")
    daemon: subprocess.Popen[bytes] | None = None
    port: int = 0
    seen: dict[int, float] = field(default_factory=dict)  # pid -> create time, to end at exit
    adopted: list[str] = field(default_factory=list)
    serial: int = 0
    peak_rss: float = 0.0
    flipped: int = 0
    killed_worker: int | None = None
    workload: Workload | None = None
    dependency: Dependency | None = None
    disk: SmallDisk | None = None

    @property
    def env(self) -> dict[str, str]:
        path = f"{self.work / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, "SHELL": "/bin/sh",
                "TMUX_TMPDIR": str(self.work / "tmux")}  # fmt: skip

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, text=True,
                              capture_output=True, timeout=5, check=check)  # fmt: skip

    def server_pid(self) -> int | None:
        try:
            out = self.tmux("display-message", "-p", "#{pid}", check=False)
        except subprocess.TimeoutExpired:
            return None
        return int(out.stdout) if out.returncode == 0 and out.stdout.strip() else None

    def worker_pid(self) -> int | None:
        """The health check's target from its pid file, if alive (remembered, to end at exit)."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            proc = psutil.Process(int((self.work / "worker.pid").read_text()))
            if proc.status() != psutil.STATUS_ZOMBIE:
                self.seen.setdefault(proc.pid, proc.create_time())
                return proc.pid
        return None

    # --- the daemon ---------------------------------------------------------------------

    def start_daemon(self) -> None:
        log = (self.work / "daemon.log").open("ab")
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "yesman_recovery.cli", "run", "--config",
             str(self.work / "chaos.toml"), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
        )  # fmt: skip
        log.close()
        until(self.daemon_listening, 30, "the daemon's metrics endpoint")

    def daemon_listening(self) -> bool:
        assert self.daemon is not None
        if self.daemon.poll() is not None:
            tail = (self.work / "daemon.log").read_text()[-2000:]
            raise RuntimeError(f"the daemon exited with {self.daemon.returncode}: {tail}")
        for line in reversed((self.work / "daemon.log").read_text().splitlines()):
            if "metrics on http://" in line:
                self.port = int(line.rsplit(":", 1)[1].split("/")[0])
                return self.status() is not None
        return False

    def kill_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait(10)

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_daemon()

    def status(self) -> list[dict[str, Any]] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=3) as r:
                body = json.load(r)
        except (OSError, ValueError):
            return None
        sessions = body.get("sessions") if isinstance(body, dict) else body
        return sessions if isinstance(sessions, list) else None

    def sample(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            with contextlib.suppress(psutil.Error):
                rss = psutil.Process(self.daemon.pid).memory_info().rss / 2**20
                self.peak_rss = max(self.peak_rss, rss)

    def daemon_cpu(self) -> float:
        if self.daemon is None or self.daemon.poll() is not None:
            return 0.0
        try:
            t = psutil.Process(self.daemon.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(t.user + t.system + t.children_user + t.children_system)

    # --- observing ----------------------------------------------------------------------

    def observe(self) -> State | None:
        """The server as the expectation is written, or None when it does not answer."""
        try:
            out = self.tmux("list-panes", "-a", "-F", FMT, check=False)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        rows: dict[str, dict[tuple[int, str, str], list[Pane]]] = {}
        for line in out.stdout.splitlines():
            session, widx, wname, layout, pidx, cwd, pid = line.split("\t")
            key = (int(widx), wname, geometry(layout))
            rows.setdefault(session, {}).setdefault(key, []).append(
                (int(pidx), cwd, self.programs(int(pid)))
            )
        return {s: tuple((*k, tuple(sorted(p))) for k, p in sorted(w.items()))
                for s, w in rows.items()}  # fmt: skip

    def programs(self, pane_pid: int) -> tuple[str, ...]:
        """Non-shell processes under a pane; stopped ones marked, so they never look fine."""
        found: list[str] = []
        try:
            root = psutil.Process(pane_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return ("?",)
        for proc in procs:
            try:
                name, status = proc.name(), proc.status()
                self.seen.setdefault(proc.pid, proc.create_time())
            except psutil.Error:
                continue
            if name in SHELLS:
                continue
            mark = {psutil.STATUS_STOPPED: ":stopped", psutil.STATUS_ZOMBIE: ":zombie"}
            found.append(name + mark.get(status, ""))
        return tuple(sorted(found))

    def _pane_rows(self, session: str) -> list[tuple[str, str, int, str]]:
        fmt = "#{window_index}\t#{pane_index}\t#{pane_pid}\t#{@yr_argv}"
        out = self.tmux("list-panes", "-s", "-t", f"={session}", "-F", fmt)
        rows = []
        for line in out.stdout.splitlines():
            widx, pidx, pane_pid, argv = line.split("\t")
            rows.append((widx, pidx, int(pane_pid), argv))
        return rows

    def _pane_holding(self, session: str, pid: int) -> tuple[str, str, int, str] | None:
        for row in self._pane_rows(session):
            with contextlib.suppress(psutil.Error):
                if pid in {p.pid for p in psutil.Process(row[2]).children(recursive=True)}:
                    return row
        return None

    def launched_by_daemon(self, session: str, pid: int) -> bool:
        """True iff the daemon started the program ``pid`` (its pane records ``@yr_argv``)."""
        row = self._pane_holding(session, pid)
        return bool(row and row[3])

    def pane_index_of(self, session: str, pid: int) -> tuple[int, int]:
        """(window index, pane index) of the pane running ``pid``."""
        row = self._pane_holding(session, pid)
        assert row is not None, f"no pane of {session} runs pid {pid}"
        return int(row[0]), int(row[1])

    def pane_program_pid(self, session: str, name: str) -> list[int]:
        out = self.tmux("list-panes", "-s", "-t", f"={session}", "-F", "#{pane_pid}")
        pids: list[int] = []
        for line in out.stdout.split():
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(int(line)).children(recursive=True):
                    if proc.name() == name:
                        pids.append(proc.pid)
        return pids

    # --- building ------------------------------------------------------------------------

    def add_adopted(self) -> str:
        """An adopted session: 2 windows, 3 panes, own directories, tail and a fake agent."""
        name = f"adopt-{self.serial}"
        self.serial += 1
        dirs = [self.work / "dirs" / f"{name}-{i}" for i in range(3)]
        for d in dirs:
            d.mkdir(parents=True)
        self.tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "48", "-n", "code",
                  "-c", str(dirs[0]))  # fmt: skip
        self.tmux("split-window", "-t", f"={name}:code", "-h", "-c", str(dirs[1]))
        self.tmux("new-window", "-d", "-t", f"={name}:", "-n", "logs", "-c", str(dirs[2]))
        # By path: the pane's login shell resets PATH from /etc/profile.
        agent = f"{self.work / 'bin' / 'aider'} -f /dev/null"
        for target, line in ((f"={name}:code.0", agent),
                             (f"={name}:code.1", "tail -f /dev/null"),
                             (f"={name}:logs.0", "tail -f /dev/null")):  # fmt: skip
            self.tmux("send-keys", "-t", target, line, "Enter")
        self.adopted.append(name)
        return name

    def cleanup(self) -> None:
        """End the workload, the daemon, the server on our socket and every pane process seen,
        by pid; stop the dependency; unmount the small disk."""
        if self.workload is not None:
            self.workload.stop()
        self.stop_daemon()
        pid = self.server_pid()
        for proc_pid, created in self.seen.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(proc_pid)
                if proc.create_time() == created:
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
        if pid is not None:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            wait_pid_gone(pid, 5.0)
        if self.dependency is not None:
            self.dependency.close()
        if self.disk is not None:
            self.disk.unmount()


def geometry(layout: str) -> str:
    """A layout string without its checksum and pane ids (which change with the server)."""
    return re.sub(r"(\d+x\d+,\d+,\d+),\d+", r"\1", layout.split(",", 1)[1])


def until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout} s")
        time.sleep(step)


def setup(lab: Lab, kinds: list[str], seed: int) -> None:
    (lab.work / "tmux").mkdir(mode=0o700)
    if "disk_full" in kinds:
        lab.disk = SmallDisk(lab.work / "state", DISK_SIZE)
    if set(WORK_KINDS) & set(kinds):
        lab.dependency = Dependency()
        lab.workload = Workload(lab.work / "workload", lab.dependency, lab.env)
        lab.workload.work.mkdir()
        lab.workload.start(seed)
    (lab.work / "bin").mkdir()
    tail = shutil.which("tail")
    assert tail is not None
    shutil.copy(tail, lab.work / "bin" / "aider")  # a long-running program named like an agent
    specs = []
    for name in DECLARED:
        dirs = [lab.work / "dirs" / f"{name}-{i}" for i in range(3)]
        for d in dirs:
            d.mkdir(parents=True)
        spec = lab.work / f"{name}.yaml"
        spec.write_text(
            f"session_name: {name}\nstart_directory: {dirs[0]}\nwindows:\n"
            f"  - window_name: main\n    layout: even-horizontal\n    panes:\n"
            f"      - tail -f /dev/null\n"
            f"      - shell_command: tail -f /dev/null\n        start_directory: {dirs[1]}\n"
            f"  - window_name: side\n    start_directory: {dirs[2]}\n    panes:\n"
            f"      - tail -f /dev/null\n"
        )
        specs.append(f'[[sessions]]\nname = "{name}"\nspec = "{spec}"\nrestart = "permanent"\n')
    worker = lab.work / "worker.pid"
    # The health check's target, started the way its heal starts it again.
    heal = f"tail -f /dev/null >/dev/null 2>&1 & echo $! > {worker}"
    subprocess.run(["sh", "-c", heal], check=True, env=lab.env)
    lab.worker_pid()
    health = (
        f'[[health_checks]]\nname = "worker"\nkind = "process"\npid_file = "{worker}"\n'
        f'interval = "1s"\nfailure_threshold = 1\nflap_threshold = false\n'
        f'heal_command = "{heal}"\nheal_max = 10000\nheal_window = "1s"\nheal_backoff = "10ms"\n'
    )
    (lab.work / "chaos.toml").write_text(
        f'[tmux]\nsocket_name = "{lab.socket}"\nprograms = ["tail", "aider"]\n'
        # The default intensity (3 in 60 s) rightly gives up on a session hit this often.
        'program_max_restarts = 10000\nprogram_max_seconds = "1s"\n'
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{lab.work / "state"}"\n'
        + "".join(specs)
        + (health if HEALTH else "")
    )
    lab.tmux("-f", "/dev/null", "start-server", ";", "set", "-g", "exit-empty", "off")
    for _ in range(3):
        lab.add_adopted()
    lab.start_daemon()


def settled(lab: Lab, *, running: bool = True) -> State:
    """Wait until every session is healthy, checkpointed and stable (and, with ``running``,
    every pane runs its program: not so after a failure, which may have left a pane empty)."""

    last: list[Any] = []

    def ready() -> State | None:
        sessions = lab.status() or []
        names = set(DECLARED) | set(lab.adopted)
        ok = {s.get("name") for s in sessions
              if s.get("state") == "healthy" and s.get("checkpointed")}  # fmt: skip
        state = lab.observe()
        last[:] = [sessions, state]
        if state is None or not names <= ok or set(state) != names:
            return None
        for windows in state.values() if running else ():
            for window in windows:
                if any(not programs for _, _, programs in window[3]):
                    return None
        time.sleep(HOLD)
        return state if lab.observe() == state else None

    try:
        return until(ready, 60, "every session settled", step=0.2)  # type: ignore[no-any-return]
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; status {last[:1]}; tmux {last[1:]}") from None


def diff(expected: State, observed: State | None) -> str:
    if observed is None:
        return "tmux server not answering"
    out = [f"missing session {s}" for s in expected if s not in observed]
    out += [f"extra session {s}" for s in observed if s not in expected]
    for s in expected:
        if s in observed and observed[s] != expected[s]:
            out.append(f"{s}: expected {expected[s]} got {observed[s]}")
    return "; ".join(out)[:2000]


def recover(lab: Lab, expected: State, res: Result, t0: float, cpu0: float) -> None:
    """Wait for the expected state (no retry of the fault), then require it to hold.

    With a full disk (``disk_full``) the recovery time is taken while the disk is full; the
    space is freed when its moment comes, and the hold starts once it is free."""
    if res.kind == "transaction_kill":
        recover_transactions(lab, expected, res, t0)
        return
    if res.kind == "breaker_trip":
        recover_breaker(lab, expected, res)
        return
    deadline = t0 + DEADLINE
    last: State | None = None
    while time.monotonic() < deadline:
        lab.sample()
        due = res.extra.get("free_at")
        if due is not None and "freed" not in res.extra and time.time() >= due:
            assert lab.disk is not None
            lab.disk.release()
            res.extra["freed"] = time.time()
        last = lab.observe()
        worker = lab.worker_pid() if res.kind == "health_kill" else None
        if res.kind == "health_kill" and worker in (None, lab.killed_worker):
            time.sleep(0.02)
            continue
        if last != expected:
            res.seconds = None
        elif res.seconds is None:
            res.seconds = time.monotonic() - t0
            wall = max(res.seconds, 1e-3)
            res.cpu = 100 * (lab.daemon_cpu() - cpu0) / wall if cpu0 >= 0 else None
        if last == expected and ("free_at" not in res.extra or "freed" in res.extra):
            hold(res)
            again = lab.observe()
            if again != expected:
                res.problem = "recovered, then changed: " + diff(expected, again)
            elif lab.daemon is None or lab.daemon.poll() is not None:
                res.problem = "the daemon died"
            elif res.kind == "disk_full":
                res.problem = check_disk(lab, res)
            res.recovered = not res.problem
            return
        time.sleep(0.02)
    if res.kind == "health_kill" and lab.worker_pid() in (None, lab.killed_worker):
        res.problem = "not recovered within 30 s: the health check's target was not healed"
        return
    res.problem = "not recovered within 30 s: " + diff(expected, last)


def hold(res: Result) -> None:
    """Wait out the hold, and in it the next fault's random phase: the recovered state is then
    compared after more than the hold, and the next fault follows at once."""
    time.sleep(res.extra.get("hold", HOLD) + res.extra.pop("then", 0.0))
    res.extra["paused"] = True


def recover_transactions(lab: Lab, expected: State, res: Result, t0: float) -> None:
    """Every transaction the killed workload left unfinished ends (the restarted workload
    finishes them), then, a hold later, the journal, the ledger and the audit trail agree."""
    wl = lab.workload
    assert wl is not None
    pending = set(res.extra["pending"])
    deadline = t0 + DEADLINE
    while time.monotonic() < deadline:
        lab.sample()
        left = pending & set(wl.unfinished())
        if not left:
            res.seconds = time.monotonic() - t0
            break
        time.sleep(0.05)
    else:
        res.problem = f"not finished within 30 s: {sorted(left)[:5]}; " + wl.check(sorted(pending))
        return
    hold(res)
    problem = wl.check(sorted(pending))
    _begun, events = wl.ledger()
    again = sum(events.get(k, []).count("again") for k in events if k.split(":")[0] in pending)
    res.detail += f", {again} compensation(s) run again after the kill"
    res.audited = "audit record" not in problem
    state = lab.observe()
    if not wl.alive():
        problem = "the workload died; " + problem
    if state != expected:
        problem += "; tmux changed: " + diff(expected, state)
    res.problem = problem.strip("; ")
    res.recovered = not res.problem


def recover_breaker(lab: Lab, expected: State, res: Result) -> None:
    """The breaker opens while the dependency fails, lets only its half-open probes through
    while open, and closes once the dependency is back; it then stays closed for a hold."""
    wl, dep = lab.workload, lab.dependency
    assert wl is not None
    assert dep is not None
    time.sleep(max(0.0, res.extra["back_at"] - time.time()))
    dep.failing = None
    back = time.time()
    cpu0 = wl.cpu()
    closed: float | None = None
    while time.time() < back + DEADLINE:
        lab.sample()
        events = wl.breaker_events(res.start)
        closed = next((t for t, outcome, _ in events if outcome == "closed" and t >= back), None)
        if closed is not None:
            break
        time.sleep(0.05)
    if closed is None:
        res.problem = f"not closed within 30 s of the dependency's return: {events}"
        return
    res.seconds = max(0.0, closed - back)
    res.cpu = 100 * (wl.cpu() - cpu0) / max(time.time() - back, 1e-3)
    hold(res)
    events = wl.breaker_events(res.start)
    problems = []
    opened = next((t for t, outcome, _ in events if outcome == "open"), None)
    res.audited = opened is not None
    if opened is None or events[0][1] != "open":
        problems.append(f"did not open first: {events}")
    else:
        probes = sum(
            1 for t, outcome, _ in events if outcome == "half_open" and opened < t < closed
        )
        calls = dep.between(opened, closed)
        if calls > probes:
            problems.append(f"{calls} calls reached the dependency while open, {probes} probes")
        res.detail += f", {probes} probes, {sum(t >= closed for t, _, _ in events)} closing"
    if events[-1][0] != closed:
        problems.append(f"changed after closing: {events[-3:]}")
    state = lab.observe()
    if state != expected:
        problems.append("tmux changed: " + diff(expected, state))
    if not wl.alive():
        problems.append("the workload died")
    res.problem = "; ".join(problems)
    res.recovered = not problems


def newest_checkpoints(lab: Lab) -> list[str]:
    """The id of the newest checkpoint of every session."""
    from yesman_recovery.storage import open_store

    with open_store(lab.work / "state") as store:
        return [info[0].id for s in (*DECLARED, *lab.adopted)
                if (info := store.checkpoints.list(s, limit=1))]  # fmt: skip


def check_disk(lab: Lab, res: Result) -> str:
    """After a full disk: the checkpoints committed before still read, and every session has a
    checkpoint of its restored state (written on the full disk if it fit in pages LMDB had
    freed, else once the space came back) within 10 s of the space's return."""
    from yesman_recovery.storage import open_store

    problems = []
    with open_store(lab.work / "state") as store:
        for checkpoint in res.extra["newest"]:
            try:
                store.checkpoints.get(checkpoint)
            except Exception as exc:
                problems.append(f"{checkpoint} unreadable: {exc}")

    def stale() -> list[str]:
        with open_store(lab.work / "state") as store:
            newest = {s: store.checkpoints.list(s, limit=1) for s in (*DECLARED, *lab.adopted)}
        return [s for s, info in newest.items() if not info or info[0].time < res.start]

    left = stale()
    deadline = res.extra["freed"] + 10
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = stale()
    if left:
        problems.append(f"no checkpoint since the fault for {left}")

    def unaudited() -> list[str]:
        # The recovery of every session, begun and completed, in the trail: a record the full
        # disk refused is held by the daemon and written once the space is back.
        with open_store(lab.work / "state") as store:
            found = {s: store.audit.query(since=res.start, kind="recovery", subject=s, limit=1)
                     for s in (*DECLARED, *lab.adopted)}  # fmt: skip
        return [s for s, events in found.items()
                if not events or events[0].outcome == "in_progress"]  # fmt: skip

    missing = unaudited()
    while missing and time.time() < deadline:
        time.sleep(0.1)
        missing = unaudited()
    if missing:
        problems.append(f"no completed recovery record since the fault for {missing}")
    with (lab.work / "daemon.log").open("rb") as log:
        log.seek(res.extra["log_at"])
        text = log.read().decode(errors="replace")
    lost, held = text.count("audit write failed"), text.count("held in memory until")
    checkpoints = text.count("checkpoint failed")
    res.extra["refused"] = (lost, held, checkpoints)
    res.detail += (
        f"; refused while full: {held} audit writes held, {lost} lost, {checkpoints} checkpoints"
    )
    return "; ".join(problems)


# --- faults ---------------------------------------------------------------------------------


def kill_server(lab: Lab) -> None:
    pid = lab.server_pid()
    if pid is not None:
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)
        wait_pid_gone(pid, 5.0)


def stored_bytes(checkpoint_id: str, state: Any, metadata: dict[str, Any]) -> bytes:
    """The exact bytes the store keeps for a checkpoint (the envelope is deterministic)."""
    from yesman_recovery.storage import envelope
    from yesman_recovery.storage.keys import parse_checkpoint_id

    payload = (b'{"metadata":' + envelope.dump_json(metadata) + b',"state":'
               + envelope.dump_json(state) + b"}")  # fmt: skip
    return envelope.seal(parse_checkpoint_id(checkpoint_id), payload)


def flip(state_dir: Path, stored: bytes, index: int) -> int:
    """XOR one byte of every copy of ``stored`` in ``data.mdb``; how many copies changed."""
    data_file = state_dir / "data.mdb"
    data = bytearray(data_file.read_bytes())
    changed, start = 0, data.find(stored)
    while start != -1:
        data[start + index] ^= 0x01
        changed += 1
        start = data.find(stored, start + 1)
    with data_file.open("r+b") as fp:
        fp.write(data)
    return changed


def newest_with(lab: Lab, session: str, marker: str) -> tuple[str, bytes] | None:
    """The newest checkpoint of ``session`` once it mentions ``marker``: (id, stored bytes)."""
    from yesman_recovery.storage import open_store

    with open_store(lab.work / "state") as store:
        info = store.checkpoints.list(session, limit=1)
        if not info:
            return None
        record = store.checkpoints.get(info[0].id)
        if marker not in json.dumps(record.state):
            return None
        return info[0].id, stored_bytes(info[0].id, record.state, record.metadata)


def without_program(state: State, session: str, where: tuple[int, int], name: str) -> State:
    """``state`` with one ``name`` fewer running in the pane at ``where`` of ``session``."""
    return with_program(state, session, where, name, None)


def with_program(
    state: State, session: str, where: tuple[int, int], name: str, instead: str | None
) -> State:
    """``state`` with one ``name`` in the pane at ``where`` of ``session`` replaced by
    ``instead`` (None: removed)."""
    windows = []
    for window in state[session]:
        panes = []
        for pane in window[3]:
            programs = list(pane[2])
            if (window[0], pane[0]) == where and name in programs:
                programs.remove(name)
                programs += [instead] if instead else []
            panes.append((pane[0], pane[1], tuple(sorted(programs))))
        windows.append((*window[:3], tuple(panes)))
    return {**state, session: tuple(windows)}


def inject(lab: Lab, rng: random.Random, kind: str, expected: State, res: Result) -> State:
    """Inject one fault (``res.start`` set at the injection); the state expected after it."""
    declared = rng.choice(DECLARED)
    adopted = rng.choice(lab.adopted)
    if kind == "checkpoint_corrupt":
        # Preparation, not timed: a change that only the newest checkpoint has.
        res.subject = adopted
        d = lab.work / "dirs" / f"{adopted}-extra-{res.index}"
        d.mkdir(parents=True)
        lab.tmux("new-window", "-d", "-t", f"={adopted}:", "-n", "extra", "-c", str(d))
        found = until(lambda: newest_with(lab, adopted, "extra"), 20, "the newest checkpoint")
        res.start = time.time()
        lab.kill_daemon()
        copies = flip(lab.work / "state", found[1], len(found[1]) // 2)
        lab.flipped += 1
        res.detail = f"{found[0]}, {copies} copies flipped"
        kill_server(lab)
        lab.start_daemon()
        return expected
    if kind in ("transaction_kill", "breaker_trip", "disk_full"):
        inject_more(lab, rng, kind, res)
        return expected
    res.start = time.time()
    if kind == "server_kill":
        kill_server(lab)
    elif kind == "declared_session_kill":
        res.subject = declared
        lab.tmux("kill-session", "-t", f"={declared}")
    elif kind == "adopted_session_kill":
        res.subject = adopted
        lab.tmux("kill-session", "-t", f"={adopted}")
        lab.adopted.remove(adopted)
        return {s: w for s, w in expected.items() if s != adopted}
    elif kind == "declared_window_kill":
        window = rng.choice(("main", "side"))
        res.subject, res.detail = declared, window
        lab.tmux("kill-window", "-t", f"={declared}:{window}")
    elif kind in ("program_kill", "program_stop"):
        session, name = rng.choice(((declared, "tail"), (adopted, "aider")))
        if not lab.pane_program_pid(session, name):
            session, name = declared, "tail"  # an earlier failure left that session without
        pid = rng.choice(lab.pane_program_pid(session, name))
        res.subject, res.detail = session, f"{name} pid {pid}"
        typed_by_user = not lab.launched_by_daemon(session, pid)
        where = lab.pane_index_of(session, pid)  # before the kill: then it runs no more
        os.kill(pid, signal.SIGKILL if kind == "program_kill" else signal.SIGSTOP)
        if typed_by_user and kind == "program_kill":
            # Nothing recorded how a program the user typed ended (to its shell a kill looks
            # like /exit), so a transient agent is left at its prompt (docs/sessions.md).
            res.detail += " (typed by the user: stays ended)"
            res.extra.update(user_fix=(session, where, "agent"), before=expected)
            return without_program(expected, session, where, name)
        if typed_by_user:
            # Its shell takes the terminal back and lists it as a stopped job, as after the
            # user's Ctrl-Z: the user's work, left alone (docs/sessions.md). Then the user
            # brings it back with `fg`, untimed.
            res.detail += " (typed by the user: stays stopped)"
            res.extra.update(user_fix=(session, where, "fg"), before=expected, hold=STOP_HOLD,
                             audit_needed=False)  # fmt: skip
            return with_program(expected, session, where, name, f"{name}:stopped")
    elif kind == "health_kill":
        worker = lab.worker_pid()
        assert worker is not None
        res.subject, res.detail = "worker", f"pid {worker}"
        os.kill(worker, signal.SIGKILL)
        lab.killed_worker = worker
    elif kind == "server_stop":
        server = lab.server_pid()
        assert server is not None
        os.kill(server, signal.SIGSTOP)
    elif kind == "daemon_kill":
        moment = rng.choice(("idle", "mid-restore", "mid-session-restore"))
        pause = rng.uniform(0.0, 0.3)
        res.detail = f"{moment}, {pause * 1e3:.0f} ms after"
        if moment == "mid-restore":
            kill_server(lab)
        elif moment == "mid-session-restore":
            res.subject = declared
            lab.tmux("kill-session", "-t", f"={declared}")
        time.sleep(pause if moment != "idle" else 0.0)
        lab.kill_daemon()
        lab.start_daemon()
    return expected


def inject_more(lab: Lab, rng: random.Random, kind: str, res: Result) -> None:
    """The faults beside tmux: the workload killed, its dependency failing, the disk full."""
    if kind == "transaction_kill":
        wl = lab.workload
        assert wl is not None
        moment = rng.choice(("random", "after-begin", "mid-compensation"))
        pause = rng.uniform(0.0, 0.3)
        if moment == "random":
            time.sleep(pause)
        elif not wl.wait_for_ledger(("begin",) if moment == "after-begin" else ("comp",), 20):
            moment += " (not seen in 20 s)"
        res.start = time.time()
        wl.kill()
        res.extra["pending"] = pending = wl.unfinished()
        res.subject, res.detail = "chaos-workload", f"{moment}, {len(pending)} unfinished"
        wl.start(rng.randrange(1 << 30))
    elif kind == "breaker_trip":
        assert lab.dependency is not None
        mode, length = rng.choice(("500", "drop")), rng.uniform(2.0, 4.0)
        res.subject, res.detail = "dependency", f"{mode} for {length:.1f} s"
        res.start = time.time()
        lab.dependency.failing = mode
        res.extra["back_at"] = res.start + length
    else:
        assert lab.disk is not None
        length = rng.uniform(2.0, 4.0)
        res.extra["newest"] = newest_checkpoints(lab)
        res.extra["log_at"] = (lab.work / "daemon.log").stat().st_size
        lab.disk.fill()
        res.detail = f"full for {length:.1f} s ({lab.disk.free()} bytes free), server killed"
        res.start = time.time()
        kill_server(lab)
        res.extra["free_at"] = res.start + length


def repair(lab: Lab) -> None:
    """After a failure only: continue whatever is stopped so the next fault starts sane."""
    if lab.workload is not None and not lab.workload.alive():
        lab.workload.start(0)
    pids = list(lab.seen)
    server = lab.server_pid()
    for pid in [*pids, *([server] if server else [])]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)
    if lab.daemon is None or lab.daemon.poll() is not None:
        lab.start_daemon()


def run(
    lab: Lab, schedule: list[str], seed: int, rng: random.Random, minutes: float | None
) -> list[Result]:
    """Inject the schedule in order; with ``minutes``, stop injecting once that time is up.

    An error of the script itself during a fault counts that fault as failed (with the error)
    and the run goes on; only a lab that cannot be brought back to a settled state ends it."""
    expected = settled(lab)
    results: list[Result] = []
    stop_at = time.monotonic() + minutes * 60 if minutes else None
    pause = rng.uniform(0.0, 1.0)
    for index, kind in enumerate(schedule):
        if stop_at is not None and time.monotonic() >= stop_at:
            break
        time.sleep(pause)  # a random phase of the poll interval (unless waited in the hold)
        res = Result(index=index, kind=kind, detail="", subject="", start=0.0)
        began = time.monotonic()
        try:
            cpu0 = lab.daemon_cpu()
            pid0 = lab.daemon.pid if lab.daemon else None
            expected = inject(lab, rng, kind, expected, res)
            res.extra["then"] = pause = rng.uniform(0.0, 1.0)  # the next fault's phase
            if lab.daemon is None or lab.daemon.pid != pid0:
                cpu0 = -1.0  # a new daemon: its CPU since the fault is not comparable
            # Timed from the injection itself (some kinds prepare first, untimed).
            t0 = time.monotonic() - (time.time() - res.start)
            recover(lab, expected, res, t0, cpu0)
        except Exception as exc:
            res.recovered = False
            res.problem = f"error in the chaos script: {type(exc).__name__}: {exc}"
        finally:
            if lab.dependency is not None:
                lab.dependency.failing = None
            if lab.disk is not None:
                lab.disk.release()
        waited = res.extra.pop("paused", False) and res.recovered
        if waited and "user_fix" not in res.extra and kind != "adopted_session_kill":
            pause = 0.0  # waited already, within the hold
        res.end = time.time()
        results.append(res)
        if lab.workload is not None:
            lab.workload.check_now_and_then()
        mark = "ok" if res.recovered else f"FAILED (seed {seed}, fault {index}): {res.problem}"
        seconds = f"{res.seconds:.2f} s" if res.seconds is not None else "-"
        print(f"[{index}] {kind} {res.subject} {res.detail}: {seconds} {mark} "
              f"[{time.monotonic() - began:.1f} s]", file=sys.stderr, flush=True)  # fmt: skip
        try:
            expected = after(lab, res, expected)
        except Exception as exc:
            print(f"[{index}] the lab did not settle ({exc}); trying once more", file=sys.stderr)
            try:
                repair(lab)
                expected = settled(lab, running=False)
            except Exception as again:
                print(f"run ended early after fault {index}: {again}", file=sys.stderr)
                break
    return results


def after(lab: Lab, res: Result, expected: State) -> State:
    """Untimed, between faults: the user's own fix after a fault left alone by rule, a new
    adopted session for a closed one, or repair after a failure; the next expectation."""
    if res.recovered and "user_fix" in res.extra:
        return user_fix(lab, res)
    if not res.recovered:
        repair(lab)
    if res.kind == "adopted_session_kill" or not res.recovered:
        if res.kind == "adopted_session_kill" and res.recovered:
            lab.add_adopted()
        return settled(lab, running=False)
    return expected


def user_fix(lab: Lab, res: Result) -> State:
    """What the user does after a program they typed was stopped (``fg``) or killed (types it
    again); returns once the pane is as before and the daemon has checkpointed it."""
    from yesman_recovery.storage import open_store

    session, (widx, pidx), how = res.extra["user_fix"]
    before: State = res.extra["before"]
    line = "fg" if how == "fg" else f"{lab.work / 'bin' / 'aider'} -f /dev/null"
    fixed = time.time()
    lab.tmux("send-keys", "-t", f"={session}:{widx}.{pidx}", line, "Enter")
    until(lambda: lab.observe() == before, 20, "the pane as before the user's fix")

    def checkpointed() -> bool:
        with open_store(lab.work / "state") as store:
            info = store.checkpoints.list(session, limit=1)
        return bool(info) and info[0].time >= fixed

    # A checkpoint of the fixed pane, so that the next fault's restore brings it back.
    until(checkpointed, 20, "a checkpoint after the user's fix", step=0.1)
    return before


# --- after the run: audit and integrity ------------------------------------------------------


def check_store(lab: Lab, results: list[Result]) -> dict[str, Any]:
    """Audit completeness per fault, and checkpoints that no longer read (beyond our flips)."""
    from yesman_recovery.storage import open_store

    with open_store(lab.work / "state") as store:
        events = store.audit.query()
        report = store.checkpoints.verify()
    for res in results:
        window = [e for e in events if res.start - 0.05 <= e.time <= res.end + 0.05]
        if res.kind in WORK_KINDS:
            continue  # audited in the workload's own trail, checked with the fault
        if res.extra.get("audit_needed") is False:
            res.audited = None  # left alone by rule: nothing done, nothing to record
        elif res.kind == "checkpoint_corrupt":
            res.audited = any(e.kind == "corruption" for e in window)
        elif res.subject:
            res.audited = any(res.subject in (e.subject + " " + e.detail) for e in window)
        else:
            res.audited = bool(window)
    corrupt = len(getattr(report, "corrupt", ()) or ())
    out: dict[str, Any] = {"checkpoints_corrupt": corrupt, "flipped_on_purpose": lab.flipped,
           "data_loss": max(0, corrupt - lab.flipped)}  # fmt: skip
    if lab.workload is not None:
        # Stopped with SIGTERM (it finishes the transaction under way): every transaction of
        # the run must have ended, with its side effects and audit records as they should be.
        lab.workload.stop()
        problem = "; ".join([*lab.workload.problems, lab.workload.check([], everything=True)])
        problem = problem.strip("; ")
        out["transactions"] = len(lab.workload.seen)  # each checked once
        out["transactions_problem"] = problem
        out["transactions_wrong"] = wrong = problem.count(";") + 1 if problem else 0
        out["data_loss"] += wrong
    return out


def summary(results: list[Result], store: dict[str, Any], lab: Lab) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in sorted({r.kind for r in results}):
        rows = [r for r in results if r.kind == kind]
        times = [r.seconds for r in rows if r.recovered and r.seconds is not None]
        cpus = [r.cpu for r in rows if r.cpu is not None]
        kinds[kind] = {
            "faults": len(rows),
            "recovered": sum(r.recovered for r in rows),
            "success": sum(r.recovered for r in rows) / len(rows),
            "median_s": statistics.median(times) if times else None,
            "p95_s": pct(times, 0.95) if times else None,
            "p99_s": pct(times, 0.99) if times else None,
            "max_s": max(times) if times else None,
            "cpu_peak_pct": max(cpus) if cpus else None,
            "audited": sum(bool(r.audited) for r in rows),
        }
    total = len(results)
    needed = [r for r in results if r.audited is not None or r.extra.get("audit_needed", True)]
    return {
        "faults": total,
        "recovered": sum(r.recovered for r in results),
        "kinds": kinds,
        "peak_rss_mib": round(lab.peak_rss, 1),
        "audit_completeness": sum(bool(r.audited) for r in needed) / len(needed) if needed else 1,
        "audit_not_needed": total - len(needed),
        # Written by the daemon while the disk was full and refused: checkpoints stay due and
        # audit records are held in memory, both written once space returns (docs/chaos.md).
        "refused_while_full": {
            "audit_lost": sum(r.extra.get("refused", (0, 0, 0))[0] for r in results),
            "audit_held": sum(r.extra.get("refused", (0, 0, 0))[1] for r in results),
            "checkpoint": sum(r.extra.get("refused", (0, 0, 0))[2] for r in results),
        },
        **store,
        "failures": [
            {
                "index": r.index,
                "kind": r.kind,
                "subject": r.subject,
                "detail": r.detail,
                "problem": r.problem,
            }
            for r in results
            if not r.recovered
        ],
        "results": [
            {
                "index": r.index,
                "kind": r.kind,
                "subject": r.subject,
                "detail": r.detail,
                "seconds": r.seconds,
                "recovered": r.recovered,
                "audited": r.audited,
            }
            for r in results
        ],
        "unaudited": [
            {"index": r.index, "kind": r.kind, "subject": r.subject}
            for r in needed
            if not r.audited
        ],
    }


def table(out: dict[str, Any], seed: int) -> None:
    def s(v: float | None) -> str:
        return f"{v:7.2f}" if v is not None else f"{'-':>7}"

    head = (f"{'fault kind':<22} {'count':>5} {'ok':>5} {'success':>8} {'median':>7} "
            f"{'p95':>7} {'p99':>7} {'max':>7} {'CPU%':>5} {'audit':>5}  promise")  # fmt: skip
    pace = f"{out['elapsed_s']:.0f} s with the setup, {out['faults_per_minute']} faults a minute"
    print(
        f"chaos: seed {seed}, {out['faults']} faults, one at a time, real daemon and tmux; {pace}"
    )
    print(head)
    print("-" * len(head))
    for kind, k in out["kinds"].items():
        cpu = f"{k['cpu_peak_pct']:5.0f}" if k["cpu_peak_pct"] is not None else f"{'-':>5}"
        ok = "ok" if k["success"] == 1 and (k["max_s"] or 0) < DEADLINE else "MISSED"
        print(f"{kind:<22} {k['faults']:5d} {k['recovered']:5d} {100 * k['success']:7.1f}% "
              f"{s(k['median_s'])} {s(k['p95_s'])} {s(k['p99_s'])} {s(k['max_s'])} {cpu} "
              f"{k['audited']:5d}  >=99.9% <30 s {ok}")  # fmt: skip
    rate = out["recovered"] / out["faults"] if out["faults"] else 0.0
    print("-" * len(head))
    print(f"{'all':<22} {out['faults']:5d} {out['recovered']:5d} {100 * rate:7.1f}%"
          f"{'':>40}  >=99.9% {'ok' if rate >= 0.999 else 'MISSED'}")  # fmt: skip
    print(
        f"data loss: {out['data_loss']} ({out['checkpoints_corrupt'] - out['flipped_on_purpose']} "
        f"unreadable checkpoints beyond the {out['flipped_on_purpose']} flipped on purpose, "
        f"{out.get('transactions_wrong', 0)} transaction problems at the end; promise 0: "
        f"{'ok' if out['data_loss'] == 0 else 'MISSED'}); audit completeness "
        f"{100 * out['audit_completeness']:.1f}% (promise 100%; "
        f"{out['audit_not_needed']} faults left alone by rule need none); manual interventions "
        f"{len(out['failures'])} (promise 0); daemon peak RSS {out['peak_rss_mib']} MiB"
    )
    if out["kinds"].get("disk_full"):
        refused = out["refused_while_full"]
        print(
            f"disk full: {refused['checkpoint']} checkpoint writes refused (written once space "
            f"returned), {refused['audit_held']} audit writes held in memory (written once "
            f"space returned), {refused['audit_lost']} audit writes lost"
        )
    if "transactions" in out:
        print(
            f"workload: {out['transactions']} transactions checked at the end: "
            f"{out['transactions_problem'] or 'every one ended, effects and audit as expected'}"
        )
    for f in out["failures"]:
        print(
            f"FAILED seed {seed} fault {f['index']} {f['kind']} {f['subject']} "
            f"{f['detail']}: {f['problem']}"
        )
    for f in out["unaudited"]:
        print(f"NO AUDIT RECORD seed {seed} fault {f['index']} {f['kind']} {f['subject']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one fault of each kind")
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--minutes", type=float, help="stop injecting after this long")
    saved_help = "print the table of a run saved with --json (give its --seed)"
    parser.add_argument("--table", metavar="FILE", type=Path, help=saved_help)
    args = parser.parse_args()
    if args.table:
        saved = json.loads(args.table.read_text())
        table(saved, args.seed)
        return 0 if clean(saved) else 1
    kinds = [k for k in args.kinds.split(",") if k]
    if not HEALTH and "health_kill" in kinds:
        kinds.remove("health_kill")
        print("health checks are not in this version: health_kill left out", file=sys.stderr)
    if not SmallDisk.available() and "disk_full" in kinds:
        kinds.remove("disk_full")
        print("not root (a size-limited filesystem needs mount): disk_full left out",
              file=sys.stderr)  # fmt: skip
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"--kinds: unknown {', '.join(unknown)}; allowed: {', '.join(KINDS)}")
    if not kinds:
        parser.error("--kinds: none of the kinds asked for can run here (see above)")
    if shutil.which("tmux") is None:
        sys.exit("tmux is not on PATH")
    rng = random.Random(args.seed)
    if args.quick:
        schedule = rng.sample(kinds, len(kinds))
    else:
        schedule = [rng.choice(kinds) for _ in range(args.faults)]
    with tempfile.TemporaryDirectory(prefix="yr-chaos-") as tmp:
        lab = Lab(Path(tmp))
        try:
            # SIGTERM ends the run through the cleanup below (processes by pid, the unmount).
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
            began = time.monotonic()
            setup(lab, kinds, args.seed)
            results = run(lab, schedule, args.seed, rng, args.minutes)
            elapsed = time.monotonic() - began
            lab.stop_daemon()
            store = check_store(lab, results)
        finally:
            lab.cleanup()
    out = summary(results, store, lab)
    out["left_out"] = sorted(set(KINDS) - set(kinds))
    out["elapsed_s"] = round(elapsed, 1)  # setup and every fault, not the final checks
    out["faults_per_minute"] = round(60 * len(results) / elapsed, 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        table(out, args.seed)
    return 0 if clean(out) else 1


def clean(out: dict[str, Any]) -> bool:
    """Every fault recovered, nothing lost, every fault that needs one audited."""
    return out["recovered"] == out["faults"] and out["data_loss"] == 0 and not out["unaudited"]


if __name__ == "__main__":
    sys.exit(main())
