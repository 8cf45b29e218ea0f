"""Checks against real targets: processes, HTTP servers, the disk, a supervised child."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

from tests.health.conftest import Tree, audit_actions, kill_pid_file, sample, view, wait_for
from yesman_recovery.health import CheckPolicy, CheckSpec, HealthChecks
from yesman_recovery.health.heals import command_heal, prune_heal
from yesman_recovery.health.kinds import disk_probe, http_probe, process_probe
from yesman_recovery.storage import RetentionPolicy, Store
from yesman_recovery.supervisors import SupervisedActor
from yesman_recovery.supervisors.spec import ChildSpec

FAST: dict[str, Any] = {
    "interval": 0.2,
    "timeout": 0.15,
    "flap_threshold": None,
    "heal_backoff": 0.1,
}


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()


def _live(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[-1])  # the newest start
    except (OSError, ValueError, IndexError):  # not written yet: the file may still be empty
        return None
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return None
    return pid if alive else None


def test_a_killed_process_fails_after_its_threshold_and_its_heal_brings_it_back(
    checks: HealthChecks, tree: Tree, tmp_path: Path
) -> None:
    pid_file = tmp_path / "worker.pid"
    started = tmp_path / "started.pids"  # every worker ever started, for the cleanup
    start = (
        f"{sys.executable} -c 'import time; time.sleep(120)' & "
        f"echo $! > {pid_file}; echo $! >> {started}"
    )
    os.system(start)  # the process the check watches, started the way the heal starts it
    first = wait_for(lambda: _live(pid_file), what="worker started")
    spec = CheckSpec(
        "worker",
        process_probe(pid_file=pid_file),
        kind="process",
        policy=CheckPolicy(failure_threshold=2, **FAST),
        heal=command_heal(start, 5.0),
    )
    try:
        tree.start([spec])
        wait_for(lambda: view(checks, "worker")["status"] == "healthy", what="healthy")
        os.kill(first, 9)
        wait_for(lambda: view(checks, "worker")["status"] == "failing", what="failing")
        assert view(checks, "worker")["consecutive_failures"] >= 2
        second = wait_for(lambda: (p := _live(pid_file)) and p != first and p, what="healed")
        wait_for(lambda: view(checks, "worker")["status"] == "healthy", what="healthy again")
        assert second != first
        assert sample(checks, "yesman_recovery_heal_actions_total", check="worker",
                      outcome="success") == 1.0  # fmt: skip
        assert ("heal", "success") in audit_actions(checks.store, "worker")  # type: ignore[arg-type]
        last_heal = view(checks, "worker")["last_heal"]
        assert last_heal["exit_status"] == 0
    finally:
        kill_pid_file(started)


def test_a_stopped_http_server_is_healed_by_its_command(
    checks: HealthChecks, tree: Tree, tmp_path: Path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    port = server.server_address[1]
    _serve(server)
    pid_file = tmp_path / "http.pid"
    heal = (
        f"{sys.executable} -m http.server {port} --bind 127.0.0.1 --directory {tmp_path} "
        f">/dev/null 2>&1 & echo $! >> {pid_file}"
    )
    url = f"http://127.0.0.1:{port}/"
    spec = CheckSpec(
        "api", http_probe(url, 0.15), kind="http", policy=CheckPolicy(**FAST),
        heal=command_heal(heal, 5.0),
    )  # fmt: skip
    try:
        tree.start([spec])
        wait_for(lambda: view(checks, "api")["status"] == "healthy", what="healthy")
        server.shutdown()
        server.server_close()
        wait_for(lambda: view(checks, "api")["status"] == "failing", what="failing")
        assert "Connection refused" in view(checks, "api")["detail"]
        wait_for(lambda: _live(pid_file), what="heal command ran")
        wait_for(lambda: view(checks, "api")["status"] == "healthy", 15, what="healed")
        assert view(checks, "api")["detail"] == f"GET {url}: 200"
    finally:
        kill_pid_file(pid_file)


def test_the_disk_heal_prunes_the_store_then_escalates_when_not_enough(
    checks: HealthChecks, tree: Tree, store: Store
) -> None:
    for i in range(20):
        store.checkpoints.create("agent", {"n": i})
    free = shutil.disk_usage(store.path).free
    probe = disk_probe(store.path, min_free=free + 2**40)  # a terabyte more than there is
    spec = CheckSpec(
        "disk", probe, kind="disk",
        policy=CheckPolicy(failure_threshold=1, heal_max=1, **FAST),
        heal=prune_heal(store, RetentionPolicy(keep_last=2)),
    )  # fmt: skip
    tree.start([spec])
    wait_for(lambda: view(checks, "disk")["escalated"], what="escalated")
    assert len(store.checkpoints.list("agent")) == 2
    events = store.audit.query(kind="health", subject="disk")
    heal = next(e for e in events if e.action == "heal")
    assert heal.outcome == "success"
    assert "18 checkpoint(s)" in heal.detail
    assert ("escalate", "escalated") in audit_actions(store, "disk")
    assert ("suppress", "budget") in audit_actions(store, "disk")
    assert sample(checks, "yesman_recovery_health_check_escalated", check="disk") == 1.0
    assert sample(checks, "yesman_recovery_heal_suppressed_total", check="disk",
                  reason="budget") >= 1.0  # fmt: skip
    assert view(checks, "disk")["heals_in_window"] == 1


class _Alternating(BaseHTTPRequestHandler):
    """Answers 200 and 500 in turn."""

    count = 0

    def do_GET(self) -> None:
        type(self).count += 1
        self.send_response(200 if self.count % 2 else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_alternating_endpoint_flaps_and_its_heals_are_suppressed(
    checks: HealthChecks, tree: Tree, store: Store, tmp_path: Path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Alternating)
    _serve(server)
    marker = tmp_path / "heals"
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    policy = CheckPolicy(
        interval=0.1, timeout=0.08, failure_threshold=1, flap_window=5, flap_threshold=4,
        flap_leave_threshold=1, heal_backoff=0.05, heal_max=100,
    )  # fmt: skip

    def suppressed() -> float:
        return sample(checks, "yesman_recovery_heal_suppressed_total", check="flappy",
                      reason="flapping")  # fmt: skip

    spec = CheckSpec("flappy", http_probe(url, 0.08), policy=policy,
                     heal=command_heal(f"echo x >> {marker}", 2.0))  # fmt: skip
    try:
        tree.start([spec])
        wait_for(lambda: view(checks, "flappy")["flapping"], what="flapping")
        wait_for(lambda: suppressed() >= 3, what="suppressed")
        heals = marker.read_text().count("x") if marker.exists() else 0
        wait_for(lambda: suppressed() >= 6, what="more")
        assert (marker.read_text().count("x") if marker.exists() else 0) == heals
        assert sample(checks, "yesman_recovery_health_check_flapping", check="flappy") == 1.0
        actions = audit_actions(store, "flappy")
        assert ("flapping", "started") in actions
        assert actions.count(("suppress", "flapping")) == 1  # once per spell, not per failure
    finally:
        server.shutdown()
        server.server_close()


class Worker(SupervisedActor):
    """A child for the escalation to restart."""


def test_an_exhausted_budget_escalates_and_restarts_the_named_child(
    checks: HealthChecks, tree: Tree, store: Store
) -> None:
    spec = CheckSpec(
        "broken", lambda: False, policy=CheckPolicy(failure_threshold=1, heal_max=2, **FAST),
        heal=command_heal("exit 3", 2.0), restart_on_escalation="work/worker",
    )  # fmt: skip
    from yesman_recovery.supervisors import Supervisor

    work = ChildSpec("work", Supervisor, kwargs={"children": [ChildSpec("worker", Worker)],
                                                  "scheduler": checks.scheduler})  # fmt: skip
    root = tree.start([spec], extra=[work])
    worker_sup = root.proxy().whereis("work").get(timeout=5)

    def incarnation() -> int:
        infos = worker_sup.proxy().which_children().get(timeout=5)
        return int(infos[0].incarnation)

    assert incarnation() == 1
    wait_for(lambda: ("restart_child", "success") in audit_actions(store, "broken"),
             what="restart audited")  # fmt: skip
    assert incarnation() == 2
    actions = audit_actions(store, "broken")
    assert [a for a in actions if a[0] in ("heal", "suppress", "escalate")][:4] == [
        ("heal", "failed"), ("heal", "failed"), ("suppress", "budget"), ("escalate", "escalated"),
    ]  # fmt: skip
    heal = next(e for e in store.audit.query(kind="health", subject="broken") if e.action == "heal")
    assert "exit status 3" in heal.detail
    assert sample(checks, "yesman_recovery_heal_actions_total", check="broken",
                  outcome="failed") == 2.0  # fmt: skip
