"""The built-in probes: memory, cpu, disk, process, http, tcp, tmux_server, store, command.

Each factory returns a plain probe (see :mod:`yesman_recovery.health.check`). Probes run on the
check's worker thread, each bounded by the check's ``timeout`` (passed in where the probe itself
can stop early, e.g. a socket timeout). A target that is not there (no pid file, connection
refused, no tmux server) is a failing result, never an exception that crashes anything.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from yesman_recovery.health.check import ProbeResult
from yesman_recovery.health.command import Command, run_command

if TYPE_CHECKING:
    from yesman_recovery.storage import Store
    from yesman_recovery.tmux.client import TmuxClient

Probe = Callable[[], ProbeResult]


def _mib(n: float) -> str:
    return f"{n / 1024**2:.0f} MiB"


# --- processes -------------------------------------------------------------------------------


def find_processes(
    *, pid_file: Path | None = None, name: str | None = None, pattern: str | None = None
) -> tuple[list[psutil.Process], str]:
    """Live (not zombie) processes matching exactly one selector, and how they were looked for."""
    if pid_file is not None:
        try:
            text = pid_file.read_text().strip()
        except OSError as exc:
            return [], f"pid file {pid_file}: {exc.strerror or exc}"
        if not text.isdigit():
            return [], f"pid file {pid_file} holds {text[:40]!r}, not a pid"
        procs = [psutil.Process(int(text))] if psutil.pid_exists(int(text)) else []
        what = f"pid {text} from {pid_file}"
    elif name is not None:
        procs = [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]
        what = f"processes named {name!r}"
    elif pattern is not None:
        regex = re.compile(pattern)
        procs = []
        for p in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(p.info["cmdline"] or ())
            if p.pid != os.getpid() and cmdline and regex.search(cmdline):
                procs.append(p)
        what = f"processes whose command line matches {pattern!r}"
    else:
        raise ValueError("give one of `pid_file`, `name` or `pattern`")
    live = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                live.append(p)
        except psutil.Error:
            continue
    return live, what


def process_probe(
    *, pid_file: Path | None = None, name: str | None = None, pattern: str | None = None
) -> Probe:
    """Healthy while at least one matching process runs (zombies do not count)."""

    def probe() -> ProbeResult:
        procs, what = find_processes(pid_file=pid_file, name=name, pattern=pattern)
        if not procs:
            return ProbeResult(False, f"no live process: {what}")
        return ProbeResult(True, f"{len(procs)} running: {what} (pid {procs[0].pid})")

    return probe


# --- memory and cpu --------------------------------------------------------------------------


def memory_probe(
    *,
    max_percent: float | None = None,
    max_rss: int | None = None,
    pid_file: Path | None = None,
    name: str | None = None,
    pattern: str | None = None,
) -> Probe:
    """Host memory in use below ``max_percent``, or a process tree's RSS below ``max_rss``."""
    tree = pid_file is not None or name is not None or pattern is not None

    def probe() -> ProbeResult:
        if tree:
            procs, what = find_processes(pid_file=pid_file, name=name, pattern=pattern)
            if not procs:
                return ProbeResult(False, f"no live process: {what}")
            rss = 0
            seen: set[int] = set()
            for root in procs:
                try:
                    members = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in members:
                    if p.pid not in seen:
                        seen.add(p.pid)
                        try:
                            rss += p.memory_info().rss
                        except psutil.Error:
                            continue
            assert max_rss is not None
            ok = rss < max_rss
            return ProbeResult(
                ok, f"RSS of {what} and children {_mib(rss)} (limit {_mib(max_rss)})"
            )
        vm = psutil.virtual_memory()
        limit = 90.0 if max_percent is None else max_percent
        return ProbeResult(
            vm.percent < limit,
            f"host memory {vm.percent:.1f}% used (limit {limit:g}%), {_mib(vm.available)} free",
        )

    return probe


class CpuProbe:
    """CPU busy over the last ``window`` seconds below ``max_percent`` (sustained load only).

    Samples ``/proc/stat`` times once per run; fails only once a full window of samples is
    above the limit, so a short spike never fails it. Thread-safe.
    """

    def __init__(self, max_percent: float = 90.0, window: float = 60.0) -> None:
        self.max_percent = max_percent
        self.window = window
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float, float]] = deque()  # (time, busy, total)

    def __call__(self) -> ProbeResult:
        times = psutil.cpu_times()
        total = sum(times)
        busy = total - times.idle - getattr(times, "iowait", 0.0)
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, busy, total))
            while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
                self._samples.popleft()
            t0, busy0, total0 = self._samples[0]
        span = now - t0
        if total - total0 <= 0:
            return ProbeResult(True, f"collecting samples (window {self.window:g} s)")
        percent = 100.0 * (busy - busy0) / (total - total0)
        detail = f"CPU {percent:.1f}% busy over {span:.0f} s (limit {self.max_percent:g}%)"
        if span < self.window:
            return ProbeResult(True, detail + f"; window {self.window:g} s not full yet")
        return ProbeResult(percent < self.max_percent, detail)


# --- disk ------------------------------------------------------------------------------------


def disk_probe(
    path: Path,
    *,
    min_free: int | None = None,
    min_free_percent: float | None = 10.0,
    min_free_inodes_percent: float | None = 5.0,
) -> Probe:
    """Free space (bytes and percent) and free inodes of ``path``'s filesystem above limits."""

    def probe() -> ProbeResult:
        try:
            st = os.statvfs(path)
        except OSError as exc:
            return ProbeResult(False, f"cannot stat {path}: {exc.strerror or exc}")
        free = st.f_bavail * st.f_frsize
        size = st.f_blocks * st.f_frsize
        free_pct = 100.0 * st.f_bavail / st.f_blocks if st.f_blocks else 100.0
        inodes_pct = 100.0 * st.f_favail / st.f_files if st.f_files else 100.0
        problems = []
        if min_free is not None and free < min_free:
            problems.append(f"free {_mib(free)} < {_mib(min_free)}")
        if min_free_percent is not None and free_pct < min_free_percent:
            problems.append(f"free {free_pct:.1f}% < {min_free_percent:g}%")
        if min_free_inodes_percent is not None and inodes_pct < min_free_inodes_percent:
            problems.append(f"free inodes {inodes_pct:.1f}% < {min_free_inodes_percent:g}%")
        summary = f"{path}: {_mib(free)} of {_mib(size)} free ({free_pct:.1f}%)"
        if problems:
            return ProbeResult(False, f"{summary}: {'; '.join(problems)}")
        return ProbeResult(True, summary)

    return probe


# --- network ---------------------------------------------------------------------------------


def http_probe(
    url: str, timeout: float, *, expect_status: frozenset[int] = frozenset({200})
) -> Probe:
    """``GET url`` answers one of ``expect_status`` within ``timeout`` seconds."""
    expected = ", ".join(str(s) for s in sorted(expect_status))

    def probe() -> ProbeResult:
        request = urllib.request.Request(url, headers={"User-Agent": "yesman-recovery-health"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return ProbeResult(False, f"GET {url}: {reason}")
        ok = code in expect_status
        return ProbeResult(ok, f"GET {url}: {code}" + ("" if ok else f" (expected {expected})"))

    return probe


def tcp_probe(host: str, port: int, timeout: float) -> Probe:
    """A TCP connection to ``host:port`` is accepted within ``timeout`` seconds."""

    def probe() -> ProbeResult:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return ProbeResult(True, f"{host}:{port} accepts connections")
        except OSError as exc:
            return ProbeResult(False, f"{host}:{port}: {exc.strerror or exc}")

    return probe


# --- yesman-recovery's own parts -------------------------------------------------------------


def tmux_server_probe(client: TmuxClient) -> Probe:
    """The tmux server answers a command within the client's timeout."""
    from yesman_recovery.errors import TmuxError

    def probe() -> ProbeResult:
        try:
            pid = client.server_pid()
        except TmuxError as exc:
            return ProbeResult(False, str(exc))
        if pid is None:
            return ProbeResult(False, f"no tmux server on {client.server_label}")
        return ProbeResult(True, f"tmux server {client.server_label} (pid {pid}) answers")

    return probe


def store_probe(store: Store) -> Probe:
    """The store is readable; stale reader slots of dead processes are cleared on the way."""
    from yesman_recovery.errors import StoreError

    def probe() -> ProbeResult:
        try:
            cleared = store.reader_check()
            usage = store.usage()
        except StoreError as exc:
            return ProbeResult(False, f"store {store.path}: {exc}")
        extra = f", {cleared} stale reader slot(s) cleared" if cleared else ""
        return ProbeResult(True, f"store readable, {_mib(usage.map_used)} used{extra}")

    return probe


def command_probe(command: Command, timeout: float) -> Probe:
    """``command`` exits 0 within ``timeout`` seconds; its output tail is kept."""

    def probe() -> ProbeResult:
        outcome = run_command(command, timeout)
        return ProbeResult(outcome.ok, outcome.describe(timeout), outcome.output)

    return probe
