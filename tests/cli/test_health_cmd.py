"""``yesman-recovery health`` and ``health run`` against a real daemon's control channel."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.health.conftest import wait_for
from yesman_recovery.app import RecoveryApp
from yesman_recovery.cli import main
from yesman_recovery.config import load_config


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RecoveryApp]:
    marker = tmp_path / "healthy"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[metrics]
listen = "127.0.0.1:0"

[storage]
path = "{tmp_path / "state"}"

[tmux]
socket_name = "yr-test-{secrets.token_hex(6)}"
adopt = "none"

[[health_checks]]
name = "marker"
kind = "command"
command = "test -e {marker}"
interval = "300ms"
failure_threshold = 1
critical = true

[[health_checks]]
name = "state-disk"
kind = "disk"
interval = "1s"
"""
    )
    app = RecoveryApp(load_config(config))
    app.start()
    yield app
    app.stop()


def _healthz(app: RecoveryApp) -> tuple[int, str]:
    assert app.metrics_address is not None
    host, port = app.metrics_address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_lists_checks_and_a_failing_critical_check_makes_healthz_503(
    daemon: RecoveryApp, tmp_path: Path
) -> None:
    state = str(tmp_path / "state")
    wait_for(lambda: _healthz(daemon)[0] == 503, what="503")
    _, body = _healthz(daemon)
    assert json.loads(body)["reasons"] == [
        {
            "kind": "critical_check",
            "subject": "marker",
            "detail": "a critical health check is failing",
        }
    ]
    result = CliRunner().invoke(main, ["--state-dir", state, "health"])
    assert result.exit_code == 0, result.output
    assert "marker" in result.output
    assert "failing critical" in result.output
    assert "state-disk" in result.output
    result = CliRunner().invoke(main, ["--state-dir", state, "health", "--json"])
    views = {v["name"]: v for v in json.loads(result.output)}
    assert views["marker"]["status"] == "failing"
    assert views["marker"]["escalated"] is True  # no heal configured: nothing else will fix it
    # Fix the target and run the check now instead of waiting for its interval.
    (tmp_path / "healthy").touch()
    result = CliRunner().invoke(main, ["--state-dir", state, "health", "run", "marker", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "healthy"
    # /healthz answers a verdict at most a second old, as /status does.
    wait_for(lambda: _healthz(daemon) == (200, '{"healthy": true, "reasons": []}\n'), what="200")


def test_health_run_of_an_unknown_check_names_the_known_ones(
    daemon: RecoveryApp, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["--state-dir", str(tmp_path / "state"), "health", "run", "x"]
    )
    assert result.exit_code == 1
    assert "no health check 'x'; known: marker, state-disk" in result.output


def test_health_without_a_daemon_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--state-dir", str(tmp_path), "health"])
    assert result.exit_code == 1
    assert f"no daemon is running with state directory {tmp_path}" in result.output


def test_a_typo_in_a_check_kind_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[health_checks]]\nname = "d"\nkind = "dsik"\n')
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert 'health_checks[0].kind = "dsik": must be one of "memory", "cpu", "disk"' in (
        result.output
    )
    assert "Traceback" not in result.output
