"""The chaos run's laboratory: its constants, the daemon and tmux it starts, and what it sees.

:class:`Lab` holds everything one run started (a work directory, a tmux socket and its
``TMUX_TMPDIR``, the daemon, the workload) and observes the server as a :data:`State`;
:func:`setup` builds the sessions, :func:`settled` waits until they are healthy, checkpointed and
stable, :func:`diff` says how two states differ. The faults are in ``chaos.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing
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
# A program left stopped by rule must still be stopped after the frozen grace (1.5 s) and a poll.
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
    pressure: Any = None  # chaos_pressure.Pressure: what the pressure faults started

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
    """:func:`timing.until`, looking every 50 ms (a chaos run watches a whole daemon)."""
    return timing.until(check, timeout, what, step)


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
