"""``[[health_checks]]``: defaults, kind options, and errors that name the key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.config import parse_config
from yesman_recovery.errors import ConfigError

WHERE = Path("/etc/yr.toml")


def _checks(*entries: dict[str, Any]) -> Any:
    return parse_config({"health_checks": list(entries)}, source=WHERE).health_checks


def test_a_minimal_check_gets_the_documented_defaults() -> None:
    (check,) = _checks({"name": "disk", "kind": "disk"})
    assert check.heal == "prune"
    assert check.policy.interval == 10.0
    assert check.policy.timeout == 5.0
    assert check.policy.failure_threshold == 3
    assert check.policy.success_threshold == 1
    assert check.policy.flap_window == 200.0
    assert (check.policy.heal_max, check.policy.heal_window) == (3, 600.0)
    assert check.critical is False


def test_options_durations_and_sizes_are_parsed() -> None:
    (check,) = _checks(
        {"name": "api", "kind": "http", "url": "http://127.0.0.1:8080/health",
         "interval": "2s", "heal_command": "systemctl restart api", "expect_status": [200, 204],
         "critical": True, "restart_on_escalation": "tmux/watcher"},
    )  # fmt: skip
    assert check.policy.interval == 2.0
    assert check.policy.timeout == 1.0  # half the interval when not given
    assert check.heal == "command"
    assert check.option("expect_status") == frozenset({200, 204})
    assert check.restart_on_escalation == "tmux/watcher"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "dsk"}, 'health_checks[0].kind = "dsk": must be one of "memory", "cpu"'),
        ({"kind": "disk", "heal": "reboot"}, 'health_checks[0].heal = "reboot": must be one of'),
        ({"kind": "disk", "interval": "-1s"}, 'health_checks[0].interval = "-1s": must not be'),
        (
            {"kind": "disk", "interval": "1s", "timeout": "1s"},
            "health_checks[0].timeout = 1.0: must be shorter than interval (1 s)",
        ),
        (
            {"kind": "disk", "failure_threshold": 0},
            "failure_threshold = 0: must be an integer >= 1",
        ),
        (
            {"kind": "http", "url": "localhost:80"},
            'health_checks[0].url = "localhost:80": must be an http:// or https:// URL with a host',
        ),
        ({"kind": "http"}, 'kind "http" needs url'),
        (
            {"kind": "disk", "url": "http://x"},
            'health_checks[0].url = "http://x": not an option of kind "disk"; its own options: '
            "min_free, min_free_inodes_percent",
        ),
        ({"kind": "tmux_server", "heal": "command", "heal_command": "x"}, "cannot heal that way"),
        (
            {"kind": "disk", "heal": "prune", "heal_command": "x"},
            'heal_command = "x": only used with heal = "command" (heal is "prune")',
        ),
        ({"kind": "process"}, "give exactly one of pid_file, process_name or pattern"),
        ({"kind": "process", "pattern": "("}, 'pattern = "(": not a regular expression'),
        ({"kind": "disk", "colour": "red"}, "health_checks[0].colour: unknown key; allowed keys"),
        ({"kind": "tcp", "port": 70000}, "port = 70000: must be a port from 1 to 65535"),
    ],
)
def test_bad_checks_name_file_key_value_and_what_is_allowed(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _checks({"name": "c", **entry})
    assert str(info.value).startswith("/etc/yr.toml: health_checks[0]")
    assert message in str(info.value)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"health_checks\[1\].name = \"d\": duplicate"):
        _checks({"name": "d", "kind": "disk"}, {"name": "d", "kind": "store"})


def test_every_kind_builds_a_probe_that_answers(store: Any, tmp_path: Path) -> None:
    from yesman_recovery.health.build import Targets, build_check
    from yesman_recovery.health.check import ProbeResult
    from yesman_recovery.tmux.client import TmuxClient

    (tmp_path / "me.pid").write_text(str(os.getpid()))
    # A process of its own for the pattern: this one is left out (a check never matches the
    # process running it), and nothing else here need have "pytest" in its command line.
    marker = f"yr-probe-{secrets.token_hex(4)}"
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    entries: list[dict[str, object]] = [
        {"kind": "memory"},
        {"kind": "memory", "max_rss": "1TiB", "pid_file": "me.pid"},
        {"kind": "cpu", "window": "1m"},
        {"kind": "disk", "prune_paths": ["."]},
        {"kind": "process", "pattern": marker},
        {"kind": "http", "url": "http://127.0.0.1:9/"},
        {"kind": "tcp", "port": 9},
        {"kind": "tmux_server"},
        {"kind": "store"},
        {"kind": "command", "command": ["true"], "heal_command": "true"},
    ]
    config = parse_config(
        {"health_checks": [{"name": f"c{i}", **e} for i, e in enumerate(entries)]},
        source=tmp_path / "c.toml",
    )
    targets = Targets(
        tmp_path, store=store, tmux=TmuxClient(socket_name=f"yr-test-none-{os.getpid()}")
    )
    specs = [build_check(c, i, targets) for i, c in enumerate(config.health_checks)]
    try:
        results = {s.kind + str(i): s.probe() for i, s in enumerate(specs)}
    finally:
        target.kill()
        target.wait()
    assert all(isinstance(r, ProbeResult) for r in results.values())
    ok = {k for k, r in results.items() if r.ok}  # type: ignore[union-attr]
    assert {"memory1", "disk3", "process4", "store8", "command9"} <= ok
    assert {"http5", "tcp6", "tmux_server7"}.isdisjoint(ok)
    assert specs[3].heal is not None
    assert "prune" in specs[3].heal.key
    assert specs[7].heal is not None
    assert specs[7].heal.key == "sessions"
    assert specs[9].heal is not None
    assert specs[9].heal.key == "command:true"


def test_a_heal_hook_must_be_registered(tmp_path: Path) -> None:
    from yesman_recovery.health import register_heal
    from yesman_recovery.health.build import Targets, build_check

    config = parse_config(
        {"health_checks": [{"name": "c", "kind": "store", "heal_hook": "flush"}]},
        source=WHERE,
    )
    with pytest.raises(ConfigError, match=r'health_checks\[0\].heal_hook = "flush": no heal'):
        build_check(config.health_checks[0], 0, Targets(tmp_path, store=object()))  # type: ignore[arg-type]
    register_heal("flush", lambda: None)
    spec = build_check(config.health_checks[0], 0, Targets(tmp_path, store=object()))  # type: ignore[arg-type]
    assert spec.heal is not None
    assert spec.heal.key == "hook:flush"
