"""A real Prometheus scrapes a real daemon on real tmux: the first recovery is seen by
``increase()``, every dashboard query parses and returns data, and the alert rules fire.

Prometheus runs on 127.0.0.1 with its own config and data directory in the test's temporary
directory, a 1 s scrape and rule interval, and is ended by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import wait_until
from tests.integration.test_endpoint_flood import Daemon
from yesman_recovery.metrics import dashboard
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import RULES, promtool

pytestmark = [pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """A Prometheus server scraping ``target`` (``host:port``) as job ``yesman-recovery``
    (nothing when None), evaluating ``rules``, alerting ``alertmanager`` (``host:port``) if
    given."""

    def __init__(
        self,
        workdir: Path,
        target: str | None,
        *,
        rules: Path = RULES,
        alertmanager: str | None = None,
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:  # scripts/install.sh --test installs it
            pytest.fail("prometheus is not installed; run scripts/install.sh --test")
        workdir.mkdir()
        config = workdir / "prometheus.yml"
        text = (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: ['{rules}']\n"
        )
        if target is not None:
            text += (
                "scrape_configs:\n  - job_name: yesman-recovery\n"
                f"    static_configs:\n      - targets: ['{target}']\n"
            )
        if alertmanager is not None:
            text += (
                "alerting:\n  alertmanagers:\n    - static_configs:\n"
                f"        - targets: ['{alertmanager}']\n"
            )
        config.write_text(text)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn",
             "--rules.alert.resend-delay=1s"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=5) as response:
            return json.loads(response.read())

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def ready(self) -> bool:
        assert self.process.poll() is None, "prometheus exited; see its log"
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response,
        ):
            return bool(response.status == 200)
        return False

    def alert_states(self) -> dict[str, str]:
        alerts = self.get("/api/v1/alerts")["data"]["alerts"]
        return {a["labels"]["alertname"]: a["state"] for a in alerts}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


@pytest.fixture
def daemon(tmux_client: TmuxClient, tmp_path: Path) -> Iterator[Daemon]:
    """``yesman-recovery run`` watching a session ``work`` and a session with a broken spec,
    with a retry policy, a circuit breaker and a health check configured."""
    tmux_client.run("new-session", "-d", "-s", "work", "-x", "100", "-y", "30")
    broken = tmp_path / "broken.yaml"
    broken.write_text("session_name: broken\nwindows: [\n")
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{tmp_path / "state"}"\n'
        f'durability = "fast"\n[tmux]\nsocket_name = "{tmux_client.socket_name}"\n'
        'poll_interval = "200ms"\n'
        f'[[sessions]]\nname = "broken"\nspec = "{broken}"\n'
        "[retry.model-api]\nattempts = 3\n[breakers.model-api]\nconsecutive_failures = 5\n"
        '[[health_checks]]\nname = "state-disk"\nkind = "disk"\nmin_free = "1KiB"\n'
        'interval = "1s"\n'
    )
    daemon = Daemon(config, None)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def prometheus(daemon: Daemon, tmp_path: Path) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path / "prometheus", daemon.url.removeprefix("http://"))
    try:
        wait_until(server.ready, timeout=30, interval=0.1)
        yield server
    finally:
        server.stop()


def test_prometheus_sees_the_first_recovery_the_dashboard_has_data_and_alerts_fire(
    tmux_client: TmuxClient, daemon: Daemon, prometheus: Prometheus
) -> None:
    instance = daemon.url.removeprefix("http://")
    success = (
        "yesman_recovery_recoveries_total"
        f'{{kind="crashed", outcome="success", instance="{instance}"}}'
    )

    # The first scrape lands ~5 s after start (service discovery's update interval); the series
    # of the first crash recovery is there already, at 0, before any crash.
    wait_until(lambda: prometheus.query(f'up{{instance="{instance}"}} == 1'), timeout=30)
    wait_until(lambda: prometheus.query(f"{success} == 0"), timeout=15)

    def checkpointed() -> bool:
        with urllib.request.urlopen(daemon.url + "/status", timeout=5) as response:
            text = response.read().decode()
        return '"name": "work"' in text and '"checkpointed": true' in text

    wait_until(checkpointed, timeout=20)
    old_pid = tmux_client.server_pid()
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    wait_pid_gone(old_pid, 5)

    def restored() -> bool:
        with contextlib.suppress(Exception):
            pid = tmux_client.server_pid()
            work = take_snapshot(tmux_client).session("work")
            return pid not in (None, old_pid) and work is not None
        return False

    wait_until(restored, timeout=20)
    seen = wait_until(lambda: prometheus.query(f"increase({success}[1m]) > 0"), timeout=20)
    assert float(seen[0]["value"][1]) > 0

    # Every dashboard query parses and returns data.
    empty = []
    for title, ref, expr in dashboard.expressions():
        concrete = expr.replace("$instance", instance).replace("$__rate_interval", "1m")
        if not prometheus.query(concrete):
            empty.append(f"{title} ({ref}): {concrete}")
    assert empty == [], "panels without data:\n" + "\n".join(empty)

    # A session with a spec that does not parse is `failed`: its alert is pending (for: 1m).
    wait_until(lambda: "YesmanRecoverySessionFailed" in prometheus.alert_states(), timeout=20)

    with urllib.request.urlopen(daemon.url + "/metrics", timeout=5) as response:
        exposition = response.read()
    done = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition,
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    assert not (done.stdout + done.stderr).strip()

    # The daemon stops: the next scrape fails and the daemon-down alert is pending.
    assert "Traceback" not in daemon.stop()
    wait_until(lambda: prometheus.alert_states().get("YesmanRecoveryDown") == "pending", timeout=20)
