"""Every duration, size and count has an upper bound, and ``listen`` is checked as an address,
so what passes ``config check`` never overflows or fails later in ``run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.config import load_config
from yesman_recovery.errors import ConfigError

PAST_THE_BOUND = [
    ("[tmux]\ncommand_timeout = 1e308", "tmux.command_timeout", 'at most "5m"'),
    ('[tmux]\ncommand_timeout = "6m"', "tmux.command_timeout", 'at most "5m"'),
    ("[storage]\nmaintenance_interval = 1e308", "storage.maintenance_interval", 'at most "1d"'),
    ('[tmux]\npoll_interval = "2h"', "tmux.poll_interval", 'at most "1h"'),
    ('[tmux]\npoll_interval = "1ms"', "tmux.poll_interval", 'at least "10ms"'),
    ('[tmux]\nfrozen_grace = "2d"', "tmux.frozen_grace", 'at most "1d"'),
    ("[tmux]\nprogram_max_restarts = 10001", "tmux.program_max_restarts", "0 to 10000"),
    ('[tmux]\nprogram_max_seconds = "8d"', "tmux.program_max_seconds", 'at most "1d"'),
    ("[supervisor]\nmax_restarts = 99999999999", "supervisor.max_restarts", "0 to 10000"),
    ("[supervisor]\nmax_seconds = 1e300", "supervisor.max_seconds", 'at most "1d"'),
    ('[supervisor.backoff]\nmax = "30d"', "supervisor.backoff.max", 'at most "1d"'),
    ("[supervisor.backoff]\nmultiplier = 1e308", "supervisor.backoff.multiplier", "1 to 100"),
    ("[supervisor.backoff]\nmultiplier = inf", "supervisor.backoff.multiplier", "1 to 100"),
    ('[storage.retention]\nmax_age = "40000d"', "storage.retention.max_age", 'at most "3650d"'),
    (
        "[storage.retention]\nkeep_last = 10000000000",
        "storage.retention.keep_last",
        "1 to 10000000",
    ),
    ('[storage.retention]\nmax_bytes_per_scope = "2TiB"', "max_bytes_per_scope", '"1TiB"'),
    ('[storage]\nmax_state_size = "2GiB"', "storage.max_state_size", '"64KiB" to "1GiB"'),
    ('[storage]\nmax_state_size = "1KiB"', "storage.max_state_size", '"64KiB" to "1GiB"'),
    ('[[sessions]]\nname = "a"\nscrollback = 10000000', "sessions[0].scrollback", "100000"),
    ('[[sessions]]\nname = "a"\nfrozen_grace = "2d"', "sessions[0].frozen_grace", '"1d"'),
    ('[metrics]\nlisten = "not a host:9464"', "metrics.listen", "IP address"),
    ('[metrics]\nlisten = "example.com:9464"', "metrics.listen", "IP address"),
    ('[metrics]\nlisten = "999.1.1.1:9464"', "metrics.listen", "IP address"),
    ('[metrics]\nlisten = "::1:9464"', "metrics.listen", "IPv6 in brackets"),
    ('[metrics]\nlisten = "[127.0.0.1]:9464"', "metrics.listen", "IPv6 in brackets"),
]


@pytest.mark.parametrize(("text", "key", "allowed"), PAST_THE_BOUND)
def test_values_past_their_bound_are_config_errors(
    tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert key in message
    assert allowed in message


@pytest.mark.parametrize(
    "text",
    [
        '[tmux]\ncommand_timeout = "5m"\npoll_interval = "10ms"',
        '[storage]\nmaintenance_interval = "1d"\nmax_state_size = "1GiB"',
        '[storage.retention]\nmax_age = "3650d"\nkeep_last = 10000000',
        '[metrics]\nlisten = "[::1]:0"',
        '[metrics]\nlisten = "localhost:9464"',
        '[metrics]\nlisten = "0.0.0.0:9464"',
        "[supervisor.backoff]\nmultiplier = 100.0",
    ],
)
def test_values_at_their_bound_are_accepted(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    load_config(path)


def test_max_state_size_reaches_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[storage]\nmax_state_size = "8MiB"\n')
    assert load_config(path).storage.max_state_size == 8 * 1024 * 1024
