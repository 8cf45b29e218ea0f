"""Chaos faults that come together or under pressure, and the checks every fault ends with.

Kinds (each ended by the run: its processes by pid, its cgroup removed, limits put back, also
when the run is interrupted, through :meth:`Pressure.close`):

- ``power_loss``: the daemon and the tmux server SIGKILLed in the same instant; before the
  daemon starts again, a fresh tmux server already holds a session of the user's (as after a
  boot): every session must come back beside it, and the user's session must be left as it is;
- ``fault_during_restore``: the server SIGKILLed, then 0-300 ms later (while the restores run)
  a second fault: the server killed again, a restored program killed, or the daemon killed and
  started again;
- ``cpu_pressure``: both cores kept busy by two processes of the run's own while a server kill
  is recovered;
- ``memory_pressure``: the daemon moved into a memory cgroup of the run's own making, limited
  to its current use plus :data:`MEMORY_HEADROOM`, while a server kill is recovered; an OOM kill
  of the daemon counts as a daemon kill (it is started again, outside the cgroup). Needs a
  writable memory cgroup (v2, or v1's ``memory`` hierarchy) under this process's own;
- ``fd_pressure``: the daemon's open-file limit lowered to what it has open plus
  :data:`FD_HEADROOM` (``prlimit``) while a server kill is recovered, then put back.

After every fault (:func:`strays`): no process that ran in one of the run's panes is left
outside a pane (its parent is pid 1 or gone), and no program runs twice in a pane (the state
compared also lists every program under each pane).
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from chaos_lab import Lab, Result, State

PRESSURE_KINDS = (
    "power_loss",
    "fault_during_restore",
    "cpu_pressure",
    "memory_pressure",
    "fd_pressure",
)
MEMORY_HEADROOM = 32 * 2**20
FD_HEADROOM = 24
BOOT_SESSION = "user-after-boot"


def memory_cgroup_root() -> Path | None:
    """The memory cgroup directory this process is in, if it lets us make a child there."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                base = Path("/sys/fs/cgroup") / path.lstrip("/")
            elif "memory" in controllers.split(","):
                base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            else:
                continue
            if os.access(base, os.W_OK):
                return base
    return None


class Pressure:
    """What the pressure faults started; :meth:`close` ends all of it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.burners: list[subprocess.Popen[bytes]] = []
        self.cgroup: Path | None = None
        self.limits: dict[int, tuple[int, int]] = {}  # pid -> the RLIMIT_NOFILE it had

    # --- cpu ----------------------------------------------------------------------------

    def burn(self) -> None:
        for _ in range(os.cpu_count() or 2):
            self.burners.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))

    def unburn(self) -> None:
        for proc in self.burners:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.burners.clear()

    # --- memory -------------------------------------------------------------------------

    def confine(self, pid: int) -> str:
        """Move ``pid`` into a new memory cgroup limited to its use plus the headroom."""
        root = memory_cgroup_root()
        assert root is not None, "no writable memory cgroup"
        group = root / f"yr-chaos-{secrets.token_hex(4)}"
        group.mkdir()
        self.cgroup = group
        rss = psutil.Process(pid).memory_info().rss
        limit = rss + MEMORY_HEADROOM
        v2 = (group / "memory.max").exists()
        (group / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
        with contextlib.suppress(OSError):
            (group / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")).write_text(
                "0" if v2 else str(limit)
            )
        (group / "cgroup.procs").write_text(str(pid))
        return f"limit {limit / 2**20:.0f} MiB (RSS {rss / 2**20:.0f} MiB)"

    def release_cgroup(self) -> None:
        """Move what is in our cgroup back to its parent, then remove the cgroup."""
        group, self.cgroup = self.cgroup, None
        if group is None:
            return
        for _ in range(50):
            with contextlib.suppress(OSError):
                pids = (group / "cgroup.procs").read_text().split()
                for pid in pids:
                    with contextlib.suppress(OSError):
                        (group.parent / "cgroup.procs").write_text(pid)
                group.rmdir()
                return
            time.sleep(0.1)

    # --- descriptors ----------------------------------------------------------------------

    def starve(self, pid: int) -> str:
        proc = psutil.Process(pid)
        old = proc.rlimit(psutil.RLIMIT_NOFILE)
        self.limits[pid] = old
        tight = proc.num_fds() + FD_HEADROOM
        proc.rlimit(psutil.RLIMIT_NOFILE, (tight, old[1]))
        return f"open-file limit {tight} ({proc.num_fds()} open)"

    def unstarve(self) -> None:
        for pid, old in self.limits.items():
            with contextlib.suppress(psutil.Error, OSError):
                psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, old)
        self.limits.clear()

    def relax(self) -> None:
        """End this fault's pressure (after its recovery, or after a failure)."""
        self.unburn()
        self.release_cgroup()
        self.unstarve()

    def close(self) -> None:
        self.relax()


def available(kind: str) -> str | None:
    """Why ``kind`` cannot run here, or None."""
    if kind == "memory_pressure" and memory_cgroup_root() is None:
        return "no writable memory cgroup: memory_pressure left out"
    if kind == "fd_pressure" and not hasattr(resource, "prlimit"):
        return "no prlimit: fd_pressure left out"
    return None


def inject_pressure(
    lab: Lab,
    pressure: Pressure,
    rng: random.Random,
    kind: str,
    expected: State,
    res: Result,
    kill_server: Callable[[Lab], None],
) -> State:
    """Inject one fault of :data:`PRESSURE_KINDS`; the state expected after it."""
    if kind == "power_loss":
        assert lab.daemon is not None
        server = lab.server_pid()
        res.start = time.time()
        for pid in (lab.daemon.pid, server):
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        lab.daemon.wait(10)
        if server is not None:
            from yesman_recovery.processes import wait_pid_gone

            wait_pid_gone(server, 5.0)
        # The boot: a fresh server, and the user's first session on it, before the daemon.
        name = f"{BOOT_SESSION}-{res.index}"
        lab.tmux("new-session", "-d", "-s", name, "-c", str(lab.work))
        res.detail = f"{name}: the user's session, made first on the new server"
        res.extra["boot_session"] = name
        lab.start_daemon()
        seen = lab.observe() or {}
        return {**expected, name: seen.get(name, ())}
    if kind == "fault_during_restore":
        second = rng.choice(("server_kill", "program_kill", "daemon_kill"))
        pause = rng.uniform(0.0, 0.3)
        res.detail = f"then {second} {pause * 1e3:.0f} ms later"
        res.start = time.time()
        kill_server(lab)
        time.sleep(pause)
        if second == "server_kill":
            kill_server(lab)
        elif second == "daemon_kill":
            lab.kill_daemon()
            lab.start_daemon()
        else:
            pids = [p for s in expected for p in lab.pane_program_pid(s, "tail")]
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)
            else:
                res.detail += " (no program restored yet)"
        return expected
    # the pressure kinds: set up the pressure (untimed), then a server kill under it
    assert lab.daemon is not None
    if kind == "cpu_pressure":
        pressure.burn()
        res.detail = f"{len(pressure.burners)} busy processes"
    elif kind == "memory_pressure":
        res.detail = pressure.confine(lab.daemon.pid)
    elif kind == "fd_pressure":
        res.detail = pressure.starve(lab.daemon.pid)
    time.sleep(0.5)  # let the pressure bite before the fault
    res.start = time.time()
    kill_server(lab)
    res.extra["relax"] = True
    return expected


def strays(lab: Lab) -> str:
    """Processes that ran in one of the run's panes and are left outside a pane (orphans)."""
    tmux_dir = str(lab.work / "tmux")
    server = lab.server_pid()
    found = []
    for proc in psutil.process_iter(["pid", "ppid", "name"]):
        try:
            if proc.info["pid"] == server:
                continue
            parent = proc.info["ppid"]
            if parent != 1 and psutil.pid_exists(parent):
                continue
            env = proc.environ()
        except psutil.Error:
            continue
        if tmux_dir in env.get("TMUX", ""):
            found.append(f"{proc.info['name']} (pid {proc.info['pid']})")
    return ", ".join(found)


def end_strays(lab: Lab) -> None:
    """After a failure only: end the orphans :func:`strays` found, so the next fault is clean."""
    tmux_dir = str(lab.work / "tmux")
    for proc in psutil.process_iter(["ppid"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["ppid"] == 1 and tmux_dir in proc.environ().get("TMUX", ""):
                proc.kill()


def daemon_oom_killed(lab: Lab, res: Result) -> bool:
    """Under memory pressure, a daemon the kernel killed is a daemon kill: start it again."""
    if res.kind != "memory_pressure" or lab.daemon is None or lab.daemon.poll() is None:
        return False
    res.detail += f"; daemon ended by signal {-(lab.daemon.returncode or 0)}, started again"
    lab.start_daemon()
    return True
