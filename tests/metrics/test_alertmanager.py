"""A shipped alert reaches a person: real Prometheus → real Alertmanager → a webhook receiver.

Prometheus evaluates the shipped rules (their ``for:`` cut to 0 s so the test takes seconds,
not minutes) with nothing to scrape, so ``YesmanRecoveryAbsent`` fires at its first evaluation.
It sends the alert to an Alertmanager (Debian's ``prometheus-alertmanager``) with its own config
and data directory, clustering off, on 127.0.0.1, which routes it with no group wait to a
webhook receiver of the test's own: an ``http.server`` on 127.0.0.1 keeping every body posted.
Both servers are started and ended (by pid) by the test.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import wait_until

from .conftest import RULES
from .test_real_prometheus import Prometheus, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ALERT = "YesmanRecoveryAbsent"


class Webhook:
    """A webhook receiver on 127.0.0.1: every JSON body POSTed to it, in ``posts``."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posts.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next_post(self, timeout: float) -> dict[str, Any]:
        return self.posts.get(timeout=timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Alertmanager:
    """An Alertmanager on 127.0.0.1 routing every alert at once to ``webhook``."""

    def __init__(self, workdir: Path, webhook: str) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:  # scripts/install.sh --test installs it
            pytest.fail("prometheus-alertmanager is not installed; run scripts/install.sh --test")
        workdir.mkdir()
        config = workdir / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: test\n  group_by: [alertname]\n"
            "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            "receivers:\n  - name: test\n    webhook_configs:\n"
            f"      - url: '{webhook}'\n        send_resolved: false\n"
        )
        self.address = f"127.0.0.1:{free_port()}"
        self.log = (workdir / "alertmanager.log").open("wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address={self.address}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready(self) -> bool:
        assert self.process.poll() is None, "alertmanager exited; see its log"
        try:
            with urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

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
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path / "alertmanager", webhook.url)
    try:
        wait_until(server.ready, timeout=30, interval=0.1)
        yield server
    finally:
        server.stop()


def immediate_rules(path: Path) -> Path:
    """The shipped rules with every ``for:`` cut to 0 s: each fires at its first evaluation."""
    text, cut = re.subn(r"(?m)^(\s+for:) \S+$", r"\1 0s", RULES.read_text())
    assert cut > 0
    path.write_text(text)
    return path


def test_a_shipped_alert_is_delivered_by_alertmanager_to_a_webhook(
    tmp_path: Path, alertmanager: Alertmanager, webhook: Webhook
) -> None:
    started = time.monotonic()
    prometheus = Prometheus(
        tmp_path / "prometheus",
        None,  # nothing to scrape: the daemon is absent
        rules=immediate_rules(tmp_path / "alerts.yml"),
        alertmanager=alertmanager.address,
    )
    try:
        post = webhook.next_post(timeout=60)
    finally:
        prometheus.stop()
    assert post["receiver"] == "test"
    assert post["status"] == "firing"
    [alert] = post["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["alertname"] == ALERT
    assert alert["labels"]["severity"]
    assert alert["annotations"]["runbook_url"] == f"docs/RUNBOOK.md#{ALERT.lower()}"
    assert alert["annotations"]["summary"]
    # A link back to the rule's query on this Prometheus (its host name, this test's port).
    port = prometheus.url.rsplit(":", 1)[1]
    assert f":{port}/graph?g0.expr=absent%28up" in alert["generatorURL"]
    assert time.monotonic() - started < 60
