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
space freed 2-4 s later; root only). The parts beside tmux are in ``chaos_work.py``, the
laboratory (what the run starts and observes) in ``chaos_lab.py``, the report in
``chaos_report.py``.

A program the user typed at an adopted pane's shell stays ended after a kill and stopped after
a SIGSTOP (its shell lists it as a stopped job, as after Ctrl-Z): the daemon never undoes the
user's own doing. The expectation says so; then the script plays the user (types it again, or
``fg``), untimed.

After the run the store is opened: every checkpoint is verified (data loss = corrupt records
beyond the ones flipped on purpose) and each fault must have an audit record in its time
window (for ``checkpoint_corrupt`` one of kind ``corruption``).

Faults that come together or under pressure (``power_loss``, ``fault_during_restore``,
``cpu_pressure``, ``memory_pressure``, ``fd_pressure``; ``chaos_pressure.py``) are added with
``--pressure`` or named in ``--kinds``; every fault, of any kind, also checks that no process
that ran in a pane is left outside one.

Usage: ``python benchmarks/chaos.py [--quick] [--faults N] [--seed S] [--kinds a,b] [--pressure]
[--json]``;
``--table FILE --seed S`` prints the table of a run saved with ``--json``.
``--quick``: one fault of each kind (about a minute and a half).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_lab import (
    DEADLINE,
    DECLARED,
    HEALTH,
    HOLD,
    KINDS,
    STOP_HOLD,
    Lab,
    Result,
    State,
    diff,
    settled,
    setup,
    until,
)
from chaos_pressure import (
    PRESSURE_KINDS,
    Pressure,
    available,
    daemon_oom_killed,
    end_strays,
    inject_pressure,
    strays,
)
from chaos_report import check_store, clean, summary, table
from chaos_work import SmallDisk

from yesman_recovery.processes import wait_pid_gone


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
        daemon_oom_killed(lab, res)
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
            elif orphans := strays(lab):
                res.problem = "left outside a pane: " + orphans
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
    if kind in PRESSURE_KINDS:
        return inject_pressure(lab, lab.pressure, rng, kind, expected, res, kill_server)
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
            # Nothing is done, so nothing is audited: the user's own doing is left alone.
            res.extra.update(user_fix=(session, where, "agent"), before=expected,
                             audit_needed=False)  # fmt: skip
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
    lab: Lab,
    schedule: list[str],
    seed: int,
    rng: random.Random,
    minutes: float | None,
    *,
    gap: float = 0.0,
) -> list[Result]:
    """Inject the schedule in order; with ``minutes``, stop injecting once that time is up;
    ``gap`` seconds more between two faults (a soak's trickle).

    An error of the script itself during a fault counts that fault as failed (with the error)
    and the run goes on; only a lab that cannot be brought back to a settled state ends it."""
    expected = settled(lab)
    results: list[Result] = []
    stop_at = time.monotonic() + minutes * 60 if minutes else None
    pause = rng.uniform(0.0, 1.0)
    for index, kind in enumerate(schedule):
        if stop_at is not None and time.monotonic() >= stop_at:
            break
        time.sleep(pause + (gap if index else 0.0))  # a random phase of the poll interval
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
            lab.pressure.relax()  # after the recovery (or the failure) of a pressure fault
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
        end_strays(lab)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one fault of each kind")
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    all_kinds = (*KINDS, *PRESSURE_KINDS)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--pressure", action="store_true",
                        help=f"also the faults together and under pressure: "
                        f"{', '.join(PRESSURE_KINDS)}")  # fmt: skip
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
    if args.pressure:
        kinds += [k for k in PRESSURE_KINDS if k not in kinds]
    if not HEALTH and "health_kill" in kinds:
        kinds.remove("health_kill")
        print("health checks are not in this version: health_kill left out", file=sys.stderr)
    if not SmallDisk.available() and "disk_full" in kinds:
        kinds.remove("disk_full")
        print("not root (a size-limited filesystem needs mount): disk_full left out",
              file=sys.stderr)  # fmt: skip
    for kind in PRESSURE_KINDS:
        why = available(kind) if kind in kinds else None
        if why is not None:
            kinds.remove(kind)
            print(why, file=sys.stderr)
    unknown = sorted(set(kinds) - set(all_kinds))
    if unknown:
        parser.error(f"--kinds: unknown {', '.join(unknown)}; allowed: {', '.join(all_kinds)}")
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
        lab.pressure = Pressure(lab)
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
            lab.pressure.close()  # busy processes, the cgroup, the descriptor limit
            lab.cleanup()
    out = summary(results, store, lab)
    out["left_out"] = sorted(set(all_kinds) - set(kinds))
    out["elapsed_s"] = round(elapsed, 1)  # setup and every fault, not the final checks
    out["faults_per_minute"] = round(60 * len(results) / elapsed, 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        table(out, args.seed)
    return 0 if clean(out) else 1


if __name__ == "__main__":
    sys.exit(main())
