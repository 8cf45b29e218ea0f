"""``[[health_checks]]``: defaults, kind options, and errors that name the key."""

from __future__ import annotations

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
