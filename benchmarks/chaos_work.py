"""The chaos run's parts beside tmux: the workload program, its dependency, the small disk.

- :class:`Dependency`: an HTTP server on 127.0.0.1 that the workload calls through its breaker;
  it logs the time of every request and fails (500, or a dropped connection) when told.
- :class:`Workload`: ``chaos_workload.py`` as a subprocess (its own session, ended by pid), and
  what is checked after it is SIGKILLed: every transaction it left unfinished ends, compensated
  or committed, never parked, every step's side effect done and undone at most once (from its
  ledger, by idempotency key), each ending audited.
- :class:`SmallDisk`: a size-limited tmpfs mounted on the daemon's state directory (root only),
  filled to the last byte for a moment and unmounted at exit.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

WORKLOAD = Path(__file__).resolve().with_name("chaos_workload.py")
OWNER = "chaos-workload"
TERMINAL = ("committed", "compensated")


class Dependency:
    """A 127.0.0.1 HTTP server answering 200, or 500 / a dropped connection while failing."""

    def __init__(self) -> None:
        self.requests: list[float] = []
        self.failing: str | None = None  # "500" or "drop"
        dep = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dep.requests.append(time.time())
                if dep.failing == "drop":
                    self.close_connection = True
                    return  # no response at all: the client sees the connection closed
                code = 500 if dep.failing == "500" else 200
                body = b"failing\n" if code == 500 else b"ok\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def between(self, start: float, end: float) -> int:
        return sum(start < t < end for t in list(self.requests))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Workload:
    """The workload program: started, SIGKILLed, restarted, stopped; always by pid."""

    work: Path
    dependency: Dependency
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    seen: set[str] = field(default_factory=set)  # transactions already checked
    problems: list[str] = field(default_factory=list)  # found by the periodic checks
    checked: float = field(default_factory=time.monotonic)

    @property
    def state_dir(self) -> Path:
        return self.work / "state"

    def start(self, seed: int) -> None:
        status = self.work / "status.json"
        status.unlink(missing_ok=True)
        with (self.work / "workload.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKLOAD), "--state-dir", str(self.state_dir),
                 "--work", str(self.work), "--status", str(status),
                 "--dependency", self.dependency.url, "--seed", str(seed)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not status.exists():
            if self.proc.poll() is not None:
                tail = (self.work / "workload.log").read_text()[-2000:]
                raise RuntimeError(f"the workload exited with {self.proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise TimeoutError("the workload did not start within 30 s")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def cpu(self) -> float:
        if not self.alive():
            return 0.0
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.proc.pid).cpu_times()
            return float(t.user + t.system)
        return 0.0

    def wait_for_ledger(self, events: tuple[str, ...], timeout: float) -> bool:
        """Until the ledger gets a new line of one of ``events`` (polled every 2 ms)."""
        path = self.work / "ledger"
        start = path.stat().st_size if path.exists() else 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with path.open("rb") as f:
                f.seek(start)
                new = f.read()
            if any(line.split(b" ", 1)[0].decode() in events for line in new.splitlines()):
                return True
            time.sleep(0.002)
        return False

    # --- what is checked ------------------------------------------------------------------

    def unfinished(self) -> list[str]:
        """The owner's transactions in the journal without a terminal record (parked included:
        a parked one has no terminal record either)."""
        from yesman_recovery.storage import open_store

        with open_store(self.state_dir) as store:
            return store.journal.unfinished()

    def ledger(self) -> tuple[list[str], dict[str, list[str]]]:
        """The transactions begun since the last check, and every key's events."""
        data = (self.work / "ledger").read_bytes()
        events: dict[str, list[str]] = {}
        begun = []
        for line in data.decode().splitlines():
            event, _, key = line.partition(" ")
            events.setdefault(key, []).append(event)
            if event == "begin":
                begun.append(key)
        return begun, events

    def check(self, pending: list[str], *, everything: bool = False) -> str:
        """What is wrong with the transactions ``pending`` plus those begun since the last check
        (``everything``: none of those may still be running); empty when nothing is."""
        from yesman_recovery.storage import open_store
        from yesman_recovery.transactions.records import info

        begun, _events = self.ledger()
        subjects = set(pending) | {t for t in begun if t not in self.seen}
        problems: list[str] = []
        with open_store(self.state_dir) as store:
            infos = {}
            for tx in sorted(subjects):
                with contextlib.suppress(LookupError):
                    infos[tx] = info(store, tx)
            since = min((i.started for i in infos.values()), default=time.time()) - 1
            audited = {
                e.subject: e.outcome for e in store.audit.query(since=since, kind="transaction")
            }
        # The ledger again, after the journal: a line is written before the journal records
        # what it announces, so every line of a transaction the journal shows ended is in it.
        # (Read before the journal, a compensation running in between looked never done.)
        _begun, events = self.ledger()
        missing = subjects - set(infos)
        if missing:
            problems.append(f"begun but not in the journal: {sorted(missing)[:5]}")
        for tx, found in list(infos.items()):
            state = found.state.value
            if state == "running" and not everything and tx not in pending:
                del infos[tx]  # under way in the running workload: checked next time
                continue
            if state not in TERMINAL:
                problems.append(f"{tx} {state}" + (f" ({found.reason})" if found.reason else ""))
                continue
            keys = [f"{tx}:{i}" for i in range(found.steps)]
            done = {f"{tx}:{r.data.get('step')}" for r in found.records if r.kind == "done"}
            for key in keys:
                mine = events.get(key, [])
                comp, on_disk = mine.count("comp"), self.file_exists(key)
                if comp > 1:
                    problems.append(f"{key} compensated {comp} times")
                if state == "committed" and (comp or not on_disk):
                    problems.append(f"{key} of committed {tx}: compensated {comp}, file {on_disk}")
                ran = "exec" in mine or key in done
                if state == "compensated" and ((ran and comp != 1) or on_disk):
                    problems.append(f"{key} of compensated {tx}: compensated {comp}, file "
                                    f"{on_disk}")  # fmt: skip
            if audited.get(tx) != state:
                problems.append(f"{tx} {state} without its audit record")
        self.seen |= set(infos)
        self.checked = time.monotonic()
        return "; ".join(problems)[:2000]

    def check_now_and_then(self, every: float = 120.0) -> None:
        """Check the transactions ended since the last check if that was ``every`` s ago, so
        each is checked long before compaction drops it (30 min)."""
        if time.monotonic() - self.checked >= every and self.alive():
            try:
                problem = self.check([])
            except Exception as exc:  # the run goes on; the failure is reported at the end
                problem = f"a check failed: {type(exc).__name__}: {exc}"
                self.checked = time.monotonic()
            if problem:
                self.problems.append(problem)

    def file_exists(self, key: str) -> bool:
        return (self.work / "files" / key.replace(":", "-")).exists()

    def breaker_events(self, since: float) -> list[tuple[float, str, str]]:
        """(time, outcome, detail) of the breaker's transitions since ``since``, oldest first."""
        from yesman_recovery.storage import open_store

        with open_store(self.state_dir) as store:
            events = store.audit.query(since=since, kind="breaker")
        return sorted((e.time, e.outcome, e.detail) for e in events)


class SmallDisk:
    """A tmpfs of ``size`` on ``path`` (root only); ``fill`` takes every free byte."""

    def __init__(self, path: Path, size: str = "64m") -> None:
        self.path = path
        path.mkdir(mode=0o700, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(path)], check=True, capture_output=True, timeout=10)  # fmt: skip
        self.mounted = True

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> None:
        """Write a file until the filesystem refuses another byte."""
        with (self.path / "filler").open("ab", buffering=0) as f:
            for chunk in (1 << 20, 4096, 1):
                block = b"\0" * chunk
                with contextlib.suppress(OSError):
                    while True:
                        f.write(block)

    def release(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            with contextlib.suppress(OSError):
                self.release()
            done = subprocess.run(
                ["umount", str(self.path)], capture_output=True, timeout=10, check=False
            )
            if done.returncode != 0:
                subprocess.run(
                    ["umount", "-l", str(self.path)], capture_output=True, timeout=10, check=False
                )
            self.mounted = False
