"""``yesman-recovery breakers`` and ``status`` against a real running daemon (RecoveryApp)."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.app import RecoveryApp
from yesman_recovery.cli import main
from yesman_recovery.config import load_config
from yesman_recovery.resilience import BreakerState, CallNotPermitted
from yesman_recovery.tmux.client import TmuxClient


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def app(tmp_path: Path, tmux_client: TmuxClient) -> Iterator[RecoveryApp]:
    """A daemon on port 0, a tmp state directory and an isolated tmux socket, with breakers."""
    path = tmp_path / "daemon.toml"
    path.write_text(
        '[breakers.model-api]\nconsecutive_failures = 2\nopen_duration = "1m"\n'
        "[breakers.git]\nfailure_rate = 50\n"
    )
    base = load_config(path)
    config = dataclasses.replace(
        base,
        metrics=dataclasses.replace(base.metrics, port=0),
        tmux=dataclasses.replace(base.tmux, socket_name=tmux_client.socket_name, adopt=()),
        storage=dataclasses.replace(base.storage, path=tmp_path / "state"),
    )
    with RecoveryApp(config) as running:
        yield running


def state_dir(app: RecoveryApp) -> str:
    return str(app.state_dir)


def test_list_shows_every_configured_breaker(app: RecoveryApp) -> None:
    code, out, _ = invoke("--state-dir", state_dir(app), "breakers", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["name"], r["state"]) for r in rows] == [("git", "closed"), ("model-api", "closed")]
    code, out, _ = invoke("breakers", "list", "--state-dir", state_dir(app))
    assert code == 0
    assert "model-api" in out
    assert "closed" in out


def test_open_forces_the_daemon_s_breaker_open_and_close_and_reset_undo_it(
    app: RecoveryApp,
) -> None:
    breaker = app.resilience.breaker("model-api")
    code, out, _ = invoke("--state-dir", state_dir(app), "breakers", "open", "model-api")
    assert (code, out.strip()) == (0, "breaker model-api: forced-open")
    assert breaker.state is BreakerState.FORCED_OPEN
    with pytest.raises(CallNotPermitted):
        breaker.call(lambda: "the daemon's own call is refused")
    assert app.store is not None
    [event] = app.store.audit.query(kind="breaker", subject="model-api")
    assert event.outcome == "forced_open"
    assert "breakers open" in event.detail

    code, out, _ = invoke("--state-dir", state_dir(app), "breakers", "close", "model-api")
    assert (code, out.strip()) == (0, "breaker model-api: closed")
    assert breaker.call(lambda: "ok") == "ok"
    code, out, _ = invoke("--state-dir", state_dir(app), "breakers", "disable", "git")
    assert (code, out.strip()) == (0, "breaker git: disabled")
    code, out, _ = invoke("--state-dir", state_dir(app), "breakers", "reset", "git")
    assert (code, out.strip()) == (0, "breaker git: closed")


def test_an_unknown_breaker_is_refused_with_the_known_names(app: RecoveryApp) -> None:
    code, out, err = invoke("--state-dir", state_dir(app), "breakers", "open", "tmux")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        "yesman-recovery: no circuit breaker named 'tmux'; known: git, model-api "
        "(add a [breakers.tmux] table to the configuration to define it)"
    )


def test_status_shows_the_breakers(app: RecoveryApp) -> None:
    app.resilience.breaker("git").force_open()
    address = app.metrics_address
    assert address is not None
    url = f"http://{address[0]}:{address[1]}"
    with urllib.request.urlopen(url + "/status", timeout=5) as response:
        document = json.loads(response.read())
    assert {b["name"]: b["state"] for b in document["breakers"]} == {
        "git": "forced_open",
        "model-api": "closed",
    }
    code, out, _ = invoke("status", "--url", url)
    assert code == 0
    line = next(line for line in out.splitlines() if "git" in line)
    assert "forced-open" in line


def test_without_a_daemon_the_message_names_the_state_directory(tmp_path: Path) -> None:
    code, out, err = invoke("--state-dir", str(tmp_path), "breakers", "list")
    assert code == 1
    assert out == ""
    assert f"no daemon is running on state directory {tmp_path}" in err
    assert "Traceback" not in err


def test_the_cli_starts_without_importing_the_retry_engine() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, yesman_recovery.cli; "
        "print(sorted(m for m in ('tenacity', 'yesman_recovery.resilience.retry', "
        "'yesman_recovery.resilience.breakers', 'yesman_recovery.control') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"
