"""Session supervision: crash and frozen-program recovery, poll cost, idle CPU and memory.

Prints one table, against isolated tmux servers (``tmux -L yr-bench-<random>``) only:

- **crash**: an in-process :class:`RecoveryApp` (default ``[tmux]`` settings but
  ``programs = ["tail"]`` and ``program_max_restarts = 1000``, so every round restores)
  watches 10 sessions x 4 panes running ``tail -f /dev/null``; each round SIGKILLs the tmux
  server. Rows: detection (pidfd onset → detected, the app's
  ``yesman_recovery_failure_detection_seconds``, mean of the 10 sessions per round); restore of
  one session (the audit trail's recovery durations); measured from outside, kill → all 10
  sessions listed again with every ``tail`` running (typed at each pane's login shell); and kill
  → the last of the 10 restores validated by the daemon (its audit record: every program still
  running 0.3 s after it was first seen). Baseline, the plan's design (poll every
  5 s with one ``has-session`` per session, then recreate): on a second server, each round the
  10 ``has-session`` calls and 10 sequential restores run for real after a kill; the wait for the
  next poll is *computed* (a uniformly random phase of the 5 s interval), not slept.
- **frozen**: a pane's ``tail`` (the terminal's foreground process group, as under a wrapper;
  tmux itself resumes a stopped *pane process*) is SIGSTOPped; time until it runs again (state
  no longer ``T``) with the default ``frozen_grace`` (1.5 s). Reference: the plan's 10 s.
- **poll cost**: tmux processes the real ``yesman-recovery run`` starts per poll with 10 and
  with 50 sessions (a ``tmux`` wrapper first on PATH logs each one), against one
  ``has-session`` per session.
- **idle**: CPU of the real daemon watching 50 idle sessions at the default 1 s interval over a
  window (own CPU, then with its tmux clients), the tmux server's CPU, and the daemon's RSS.
  Baseline CPU: 50 ``has-session`` calls (measured) every 5 s.
- **scrollback**: one snapshot of 50 panes x 2,000 lines of history (100 characters each, with
  ``%``, ``#{}`` and non-ASCII) with their scrollback captured, against the same snapshot
  without: wall time, and CPU (this process, its tmux client and the tmux server) as a share of
  a core when captured every ``scrollback_interval`` (default 30 s); baseline: captured at every
  1 s poll, as before that interval existed.

Every tmux server here runs ``/bin/sh`` as its login shell (``SHELL``), so programs restored
after a crash are typed at a real login shell (``sh -l`` reads ``/etc/profile``) whatever this
machine's own login rc does.

Usage: ``python benchmarks/bench_sessions.py [--quick]`` (default ~2 minutes; ``--quick``: a
smoke run of a few rounds).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry
from timing import p99, until

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.errors import TmuxError, TmuxServerGone
from yesman_recovery.tmux import ProgramPolicy, SessionSnapshot, TmuxClient, restore_session
from yesman_recovery.tmux.client import wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

TAIL = ("tail", "-f", "/dev/null")
BASELINE_INTERVAL = 5.0
DETECTION = "yesman_recovery_failure_detection_seconds"
RECOVERY = "yesman_recovery_recovery_duration_seconds"
# `tail` as the terminal's foreground process group, resumed by nobody but the daemon.
FOREGROUND_WRAPPER = str(
    Path(__file__).resolve().parent.parent / "tests" / "integration" / "foreground_tail.py"
)


def build(client: TmuxClient, names: list[str], panes: int = 4) -> None:
    """Sessions of one window with ``panes`` panes running ``tail``, in one tmux process."""
    cmds: list[tuple[str, ...]] = []
    for name in names:
        cmds.append(("new-session", "-d", "-s", name, "-x", "160", "-y", "48", "--", *TAIL))
        for _ in range(panes - 1):
            cmds += [("split-window", "-t", f"={name}:", "--", *TAIL), ("select-layout", "tiled")]
    client.run_chain(cmds)


def all_running(client: TmuxClient, names: list[str], panes: int = 4) -> bool:
    try:
        snap = take_snapshot(client)
    except TmuxServerGone:
        return False
    except TmuxError as exc:
        if "no current target" not in str(exc):
            raise
        return False  # a server that is up before the restore's first session is created
    for name in names:
        session = snap.session(name)
        if session is None or len(session.panes()) != panes:
            return False
        if any(p.dead or p.argv != TAIL or p.stopped for p in session.panes()):
            return False
    return True


def kill_server(client: TmuxClient) -> None:
    """SIGKILL the server on ``client``'s socket (ours) and wait until it is gone."""
    pid = client.server_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGKILL)
    # A pidfd: psutil's wait polls with growing sleeps, and sees a zombie as alive.
    wait_pid_gone(pid, 5.0)


@contextlib.contextmanager
def isolated(tag: str) -> Iterator[TmuxClient]:
    client = TmuxClient(socket_name=f"yr-bench-{tag}-{secrets.token_hex(4)}", timeout=5.0)
    try:
        yield client
    finally:
        kill_server(client)
        with contextlib.suppress(OSError):
            os.unlink(Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
                      / str(client.socket_name))  # fmt: skip


def write_config(directory: Path, socket_name: str) -> Path:
    """Default settings, except: only ``tail`` restarted, and a restart intensity that lets
    every round restore (the default gives up after 3 restores of a session within 60 s)."""
    path = directory / "yesman-recovery.toml"
    path.write_text(
        f'[tmux]\nsocket_name = "{socket_name}"\nprograms = ["tail"]\n'
        "program_max_restarts = 1000\n"
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{directory / "state"}"\n'
    )
    return path


# --- crash and frozen (in-process app) ------------------------------------------------------


def _watcher_polls(app: RecoveryApp) -> int:
    tmux = app.root.proxy().whereis("tmux").get(timeout=5)
    watcher = tmux.proxy().whereis("watcher").get(timeout=5)
    polls: int = watcher.proxy().polls.get(timeout=5)
    return polls


def _hist(app: RecoveryApp, name: str, kind: str) -> tuple[float, float]:
    reg = app.metrics.registry
    total = reg.get_sample_value(f"{name}_sum", {"kind": kind}) or 0.0
    count = reg.get_sample_value(f"{name}_count", {"kind": kind}) or 0.0
    return total, count


def ready(app: RecoveryApp) -> int:
    """How many watched sessions are healthy and checkpointed."""
    return sum(s["state"] == "healthy" and bool(s["checkpointed"]) for s in app.sessions())


def bench_crash_and_frozen(rounds: int, frozen_rounds: int, work: Path) -> dict[str, list[float]]:
    names = [f"agent-{i}" for i in range(10)]
    out: dict[str, list[float]] = {
        "detect": [], "e2e": [], "validated": [], "restore": [], "frozen": []
    }  # fmt: skip
    with isolated("crash") as client:
        build(client, names)
        (work / "crash").mkdir(mode=0o700)
        config = load_config(write_config(work / "crash", str(client.socket_name)))
        app = RecoveryApp(config, registry=CollectorRegistry())
        app.start()
        try:
            until(lambda: ready(app) >= 10, 30, "10 sessions checkpointed")
            for _ in range(rounds):
                polls = _watcher_polls(app)
                until(partial(polled_since, app, polls), 10, "a poll of the live server")
                before = _hist(app, DETECTION, "crashed")
                since = time.time()
                t0 = time.monotonic()
                kill_server(client)
                until(lambda: all_running(client, names), 30, "10 sessions restored")
                out["e2e"].append(time.monotonic() - t0)
                after = until(partial(detections, app, before[1] + 10), 10, "10 detections")
                out["detect"].append((after[0] - before[0]) / (after[1] - before[1]))
                durations = until(partial(restores, app, since), 10, "10 restore records")
                out["restore"] += durations
                out["validated"].append(validated_at(app, since) - since)
            # frozen: one more session whose tail is a foreground process group
            client.run("new-session", "-d", "-s", "frozen", "--", sys.executable,
                       FOREGROUND_WRAPPER)  # fmt: skip

            def frozen_tail() -> int | None:
                session = take_snapshot(client).session("frozen")
                pane = session.panes()[0] if session is not None else None
                ok = pane is not None and pane.argv == TAIL and not pane.stopped
                return pane.program_pid if ok and pane is not None else None

            until(lambda: any(s["name"] == "frozen" and s["checkpointed"]
                              for s in app.sessions()), 30, "frozen session watched")  # fmt: skip
            phase = random.Random(11)
            for _ in range(frozen_rounds):
                pid = until(frozen_tail, 10, "tail running in the frozen session")
                # Rounds start right after a poll: stop at a random phase of the interval.
                time.sleep(phase.uniform(0.0, config.tmux.poll_interval))
                resumed = _hist(app, RECOVERY, "frozen")[1]
                t0 = time.monotonic()
                os.kill(pid, signal.SIGSTOP)
                # The signal is delivered asynchronously: see the stop before waiting for the end.
                until(partial(stopped, pid), 5, "the tail stopped")
                until(partial(running, pid), 30, "the stopped tail resumed")
                out["frozen"].append(time.monotonic() - t0)
                until(partial(resumes_since, app, resumed), 10, "the resume recorded")
        finally:
            app.stop()
    return out


def polled_since(app: RecoveryApp, polls: int) -> bool:
    return _watcher_polls(app) > polls


def detections(app: RecoveryApp, count: float) -> tuple[float, float] | None:
    """(sum, count) of crash detections once ``count`` are recorded."""
    found = _hist(app, DETECTION, "crashed")
    return found if found[1] >= count else None


def resumes_since(app: RecoveryApp, count: float) -> bool:
    return _hist(app, RECOVERY, "frozen")[1] > count


def stopped(pid: int) -> bool:
    return psutil.Process(pid).status() == psutil.STATUS_STOPPED


def running(pid: int) -> bool:
    return psutil.Process(pid).status() != psutil.STATUS_STOPPED


def restores(app: RecoveryApp, since: float, count: int = 10) -> list[float] | None:
    """Durations of the restores audited since ``since``, once there are ``count`` of them."""
    assert app.store is not None
    found = [
        e.duration
        for e in app.store.audit.query(since=since, kind="recovery")
        if e.action == "restore" and e.duration is not None
    ]
    return found if len(found) >= count else None


def validated_at(app: RecoveryApp, since: float) -> float:
    """Wall time the last successful restore audited since ``since`` ended (its record holds
    its start and its duration, up to validation: structure compared, every program seen
    running and still running 0.3 s later)."""
    assert app.store is not None
    return max(
        e.time + (e.duration or 0.0)
        for e in app.store.audit.query(since=since, kind="recovery")
        if e.action == "restore" and e.outcome == "success"
    )


def bench_baseline(rounds: int) -> dict[str, list[float]]:
    """The plan's design: has-session per session every 5 s, then recreate each session."""
    names = [f"agent-{i}" for i in range(10)]
    rng = random.Random(7)
    policy = ProgramPolicy.from_names(frozenset({"tail"}))
    out: dict[str, list[float]] = {"detect": [], "e2e": [], "restore": [], "poll": []}
    with isolated("base") as client:
        build(client, names)
        for _ in range(rounds):
            until(lambda: all_running(client, names), 10, "baseline sessions running")
            saved: list[SessionSnapshot] = [
                s for s in take_snapshot(client).sessions if s.name in names
            ]
            kill_server(client)
            phase = rng.uniform(0.0, BASELINE_INTERVAL)  # computed: the wait for the next poll
            start = time.monotonic()
            gone = [n for n in names if not _has_session(client, n)]
            poll = time.monotonic() - start
            for session in saved:
                if session.name in gone:
                    r0 = time.monotonic()
                    result = restore_session(client, session, policy)
                    out["restore"].append(time.monotonic() - r0)
                    assert result.ok, result.differences
            total = time.monotonic() - start
            out["poll"].append(poll)
            out["detect"].append(phase + poll)
            out["e2e"].append(phase + total)
    return out


def _has_session(client: TmuxClient, name: str) -> bool:
    try:
        client.run("has-session", "-t", f"={name}")
    except TmuxServerGone:
        return False
    except Exception:
        return False
    return True


# --- the real daemon: processes per poll, CPU and RSS ---------------------------------------


def start_daemon(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    stdout = proc.stdout
    assert stdout is not None
    # readline blocks until the daemon prints; the daemon's own startup bounds that wait.
    while proc.poll() is None and "running" not in stdout.readline():
        pass
    if proc.poll() is not None:
        raise RuntimeError(f"the daemon exited with {proc.returncode}")
    return proc


def stop_daemon(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def adopted(state_dir: Path, count: int) -> bool:
    from yesman_recovery.actors.watcher import ADOPTED_SCOPE
    from yesman_recovery.storage import open_store

    with open_store(state_dir) as store:
        latest = store.checkpoints.latest_good(ADOPTED_SCOPE)
        return latest is not None and len(latest.state.get("sessions", [])) >= count


def bench_processes(window: float, work: Path) -> dict[int, float]:
    """tmux processes per poll of the real daemon, with 10 then 50 sessions."""
    real = shutil.which("tmux")
    assert real is not None
    bindir, log = work / "bin", work / "tmux.log"
    bindir.mkdir()
    wrapper = bindir / "tmux"
    wrapper.write_text(
        '#!/bin/sh\ncase " $* " in *" list-windows "*) k=P;; *) k=X;; esac\n'
        f'echo $k >> "{log}"\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    per_poll: dict[int, float] = {}
    with isolated("procs") as client:
        (work / "procs").mkdir(mode=0o700)
        config = write_config(work / "procs", str(client.socket_name))
        build(client, [f"a-{i}" for i in range(10)])
        proc = start_daemon(config, env)
        try:
            for count in (10, 50):
                if count == 50:
                    build(client, [f"a-{i}" for i in range(10, 50)])
                until(partial(adopted, work / "procs" / "state", count), 30, "adoption")
                time.sleep(2.5)  # let the first checkpoints of new sessions settle
                start = log.read_text().splitlines() if log.exists() else []
                time.sleep(window)
                lines = log.read_text().splitlines()[len(start) :]
                polls = lines.count("P")
                per_poll[count] = len(lines) / polls if polls else float("nan")
        finally:
            stop_daemon(proc)
    return per_poll


def bench_idle(window: float, work: Path) -> dict[str, float]:
    """CPU and RSS of the real daemon watching 50 idle sessions at the default interval."""
    out: dict[str, float] = {}
    with isolated("idle") as client:
        (work / "idle").mkdir(mode=0o700)
        config = write_config(work / "idle", str(client.socket_name))
        names = [f"s-{i}" for i in range(50)]
        build(client, names, panes=1)
        server = psutil.Process(client.server_pid())
        proc = start_daemon(config)
        try:
            until(lambda: adopted(work / "idle" / "state", 50), 30, "adoption")
            time.sleep(3.0)  # first checkpoints written; the daemon is idle from here
            daemon = psutil.Process(proc.pid)
            c0, s0, t0 = daemon.cpu_times(), server.cpu_times(), time.monotonic()
            rss: list[int] = []
            while time.monotonic() - t0 < window:
                rss.append(daemon.memory_info().rss)
                time.sleep(0.5)
            c1, s1, elapsed = daemon.cpu_times(), server.cpu_times(), time.monotonic() - t0
            own = (c1.user + c1.system) - (c0.user + c0.system)
            kids = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
            out["own"] = 100 * own / elapsed
            out["with_clients"] = 100 * (own + kids) / elapsed
            out["server"] = 100 * ((s1.user + s1.system) - (s0.user + s0.system)) / elapsed
            out["rss"] = max(rss) / 2**20
        finally:
            stop_daemon(proc)
        # baseline: 50 has-session calls every 5 s, their CPU measured
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for name in names:
            _has_session(client, name)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cost = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        out["baseline"] = 100 * cost / BASELINE_INTERVAL
    return out


SCROLLBACK_INTERVAL = 30.0  # the default [tmux] scrollback_interval
HISTORY_LINE = "%5d 100%% done #{pane_id} #[fg=red] café ✓ 日本 " + "x" * 60


def _cpu(server: psutil.Process) -> float:
    """CPU seconds so far of this process, its reaped children (tmux clients) and ``server``."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = server.cpu_times()
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + t.user + t.system


def bench_scrollback(rounds: int, lines: int = 2000, panes: int = 50) -> dict[str, list[float]]:
    """Snapshots of ``panes`` panes, each with ``lines`` lines of history, with and without it."""
    names = [f"h-{i}" for i in range(panes)]
    fill = f"printf '{HISTORY_LINE}\\n' $(seq {lines}); exec sleep 100000"
    out: dict[str, list[float]] = {"with": [], "without": [], "cpu_with": [], "cpu_without": []}
    with isolated("hist") as client:
        client.run_chain([("new-session", "-d", "-s", "setup"),
                          ("set-option", "-g", "history-limit", str(lines + 100))])  # fmt: skip
        client.run_chain(
            [("new-session", "-d", "-s", n, "-x", "160", "-y", "48", "--", "sh", "-c", fill)
             for n in names]
        )  # fmt: skip
        want = dict.fromkeys(names, lines)

        def full() -> bool:
            snap = take_snapshot(client, scrollback=want)
            return all(
                (s.panes()[0].scrollback or "").count("\n") >= lines
                for s in snap.sessions
                if s.name in want
            )

        until(full, 60, "every pane's history written")
        server = psutil.Process(client.server_pid())
        for _ in range(rounds):
            for key, scrollback in (("with", want), ("without", None)):
                c0, t0 = _cpu(server), time.monotonic()
                take_snapshot(client, scrollback=scrollback)
                out[key].append(time.monotonic() - t0)
                out["cpu_" + key].append(_cpu(server) - c0)
    return out


# --- the table ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few rounds")
    args = parser.parse_args()
    rounds, base_rounds, frozen_rounds = (3, 2, 1) if args.quick else (20, 10, 5)
    window = 2.0 if args.quick else 20.0
    if shutil.which("tmux") is None:
        sys.exit("tmux is not on PATH")
    os.environ["SHELL"] = "/bin/sh"  # every server's login shell (see the module docstring)
    with tempfile.TemporaryDirectory(prefix="yr-bench-") as tmp:
        work = Path(tmp)
        hist = bench_scrollback(3 if args.quick else 20)
        ours = bench_crash_and_frozen(rounds, frozen_rounds, work)
        base = bench_baseline(base_rounds)
        procs = bench_processes(2.0 if args.quick else 6.0, work)
        idle = bench_idle(window, work)

    def capture_share(hist: dict[str, list[float]], interval: float) -> float:
        """% of a core spent on capturing history (beyond the plain snapshot) every interval."""
        extra = statistics.median(hist["cpu_with"]) - statistics.median(hist["cpu_without"])
        return 100 * max(0.0, extra) / interval

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:8.1f} / {p99(values) * 1e3:8.1f}"

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{statistics.median(b) / statistics.median(a):7.1f}x"

    print(f"rounds: crash {rounds} (SIGKILL, 10 sessions x 4 panes), baseline {base_rounds} "
          f"rounds (5 s has-session poll, phase computed); frozen: {frozen_rounds} rounds; "
          f"idle window {window:.0f} s")  # fmt: skip
    head = (
        f"{'measure':<44} {'ours med / p99':>19}   {'baseline med / p99':>19} {'ratio':>8}  target"
    )
    print(head)
    print("-" * len(head))
    rows = [
        ("crash: detection, pidfd onset (ms)", ms(ours["detect"]), ms(base["detect"]),
         ratio(ours["detect"], base["detect"]), "-"),
        ("crash: kill -> 10 sessions running (ms)", ms(ours["e2e"]), ms(base["e2e"]),
         ratio(ours["e2e"], base["e2e"]), "<=1000 / <=2000"),
        ("crash: kill -> 10 restores validated (ms)", ms(ours["validated"]), ms(base["e2e"]),
         ratio(ours["validated"], base["e2e"]), "<=1000 / <=2000"),
        ("crash: restore of one session (ms)", ms(ours["restore"]), ms(base["restore"]),
         ratio(ours["restore"], base["restore"]), "-"),
        ("frozen: SIGSTOP -> running again (ms)", ms(ours["frozen"]),
         f"{'plan: 10000':>19}", "", "<=3000"),
        ("tmux processes per poll, 10 sessions", f"{procs[10]:19.2f}", f"{10:19d}",
         f"{10 / procs[10]:7.1f}x", "2"),
        ("tmux processes per poll, 50 sessions", f"{procs[50]:19.2f}", f"{50:19d}",
         f"{50 / procs[50]:7.1f}x", "2"),
        ("idle CPU, 50 sessions, daemon (% core)", f"{idle['own']:19.2f}", "", "", "<=2"),
        ("idle CPU, + its tmux clients (% core)", f"{idle['with_clients']:19.2f}",
         f"{idle['baseline']:19.2f}", "", "<=2"),
        ("idle CPU, tmux server (% core)", f"{idle['server']:19.2f}", "", "", "-"),
        ("daemon RSS, 50 sessions (MB)", f"{idle['rss']:19.1f}", "", "", "<=50"),
        ("scrollback: snapshot, 50 x 2000 lines (ms)", ms(hist["with"]), ms(hist["without"]),
         ratio(hist["with"], hist["without"]), "-"),
        ("scrollback: CPU per capture (ms)", ms(hist["cpu_with"]), ms(hist["cpu_without"]),
         ratio(hist["cpu_with"], hist["cpu_without"]), "-"),
        ("scrollback: CPU every 30 s (% core)", f"{capture_share(hist, SCROLLBACK_INTERVAL):19.2f}",
         f"{capture_share(hist, 1.0):19.2f}", "", "<=2"),
    ]  # fmt: skip
    for name, mine, theirs, r, target in rows:
        print(f"{name:<44} {mine:>19}   {theirs:>19} {r:>8}  {target}")


if __name__ == "__main__":
    main()
