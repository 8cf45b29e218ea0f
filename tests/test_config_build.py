"""One builder of the tmux client, program policies and frozen grace from a configuration."""

from __future__ import annotations

from pathlib import Path

from yesman_recovery.config import parse_config
from yesman_recovery.config.build import frozen_grace, program_policy, tmux_client
from yesman_recovery.defaults import DEFAULT_FROZEN_GRACE, DEFAULT_PROGRAMS
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.programs import ProgramRestart

T, TMP = ProgramRestart.TRANSIENT, ProgramRestart.TEMPORARY
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
    work, adopted = program_policy(config, "work"), program_policy(config, "adopted-one")
    assert [work.restart_of([p]) for p in ("tail", "htop", "vim")] == [T, T, TMP]
    assert [adopted.restart_of([p]) for p in ("tail", "htop")] == [T, TMP]
    assert program_policy(config).restart_of(["htop"]) is TMP
    assert frozen_grace(config, "work") == 5.0
    assert frozen_grace(config, "docs") == DEFAULT_FROZEN_GRACE
    assert frozen_grace(config) == DEFAULT_FROZEN_GRACE


def test_the_built_in_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    config = parse_config({})
    built, bare = program_policy(config), ProgramPolicy()  # no second, different list
    for name in DEFAULT_PROGRAMS:
        assert built.restart_of([name]) is bare.restart_of([name]) is T
    assert built.restart_of(["make", "deploy"]) is bare.restart_of(["make"]) is TMP


def test_restart_rules_come_first_and_declared_sessions_give_their_type() -> None:
    doc = {
        "tmux": {"restart": {"python3 -m http.server*": "permanent", "tail*": "temporary"}},
        "sessions": [{"name": "web", "restart": "transient"}],
    }
    config = parse_config(doc)
    policy = program_policy(config, "web")
    assert policy.restart_of(["python3", "-m", "http.server", "80"]) is ProgramRestart.PERMANENT
    assert policy.restart_of(["tail", "-f", "x"]) is TMP  # before `programs`
    assert policy.declared_restart is T
    assert config.tmux.frozen_grace == DEFAULT_FROZEN_GRACE
