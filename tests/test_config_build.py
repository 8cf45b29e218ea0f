"""One builder of the tmux client, program policies and frozen grace from a configuration."""

from __future__ import annotations

from pathlib import Path

from yesman_recovery.config import parse_config
from yesman_recovery.config.build import frozen_grace, program_policy, tmux_client
from yesman_recovery.defaults import DEFAULT_FROZEN_GRACE, DEFAULT_PROGRAMS
from yesman_recovery.tmux.policy import ProgramPolicy

DOC = {
    "tmux": {"socket_path": "/run/agents.sock", "command_timeout": "3s", "programs": ["tail"]},
    "sessions": [
        {"name": "work", "programs": ["htop"], "frozen_grace": "5s"},
        {"name": "docs"},
    ],
}


def test_the_client_talks_to_the_configured_server() -> None:
    client = tmux_client(parse_config(DOC))
    assert client.server_label == "-S /run/agents.sock"
    assert client.timeout == 3.0
    assert tmux_client(parse_config({})).server_label == "default"


def test_a_declared_session_adds_its_programs_and_may_set_its_grace() -> None:
    config = parse_config(DOC)
    assert program_policy(config, "work").allowlist == {"tail", "htop"}
    assert program_policy(config, "adopted-one").allowlist == {"tail"}
    assert program_policy(config).allowlist == {"tail"}
    assert frozen_grace(config, "work") == 5.0
    assert frozen_grace(config, "docs") == DEFAULT_FROZEN_GRACE
    assert frozen_grace(config) == DEFAULT_FROZEN_GRACE


def test_the_built_in_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    config = parse_config({})
    assert program_policy(config).allowlist == DEFAULT_PROGRAMS
    assert ProgramPolicy().allowlist == DEFAULT_PROGRAMS  # no second, different list
    assert config.tmux.frozen_grace == DEFAULT_FROZEN_GRACE
