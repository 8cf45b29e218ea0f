"""Readers say when a name is not there (exit 1), accept every audit kind the project writes,
and ``config check`` prints the state directory a daemon would use."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from yesman_recovery.cli import main
from yesman_recovery.labels import AuditKind
from yesman_recovery.storage import open_store


def _state(tmp_path: Path) -> str:
    state = tmp_path / "state"
    with open_store(state) as store:
        store.checkpoints.create("agent", {"session": {}})
    return str(state)


def test_a_reader_given_an_unknown_scope_exits_1_naming_the_known_ones(tmp_path: Path) -> None:
    state = _state(tmp_path)
    for args in (["checkpoints", "list", "nosuch"], ["checkpoints", "export", "nosuch"]):
        result = CliRunner().invoke(main, ["--state-dir", state, *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.endswith(
            f"no checkpoints of 'nosuch' in {state}; scopes with checkpoints: agent\n"
        )
    listed = CliRunner().invoke(main, ["--state-dir", state, "checkpoints", "list", "agent"])
    assert listed.exit_code == 0
    assert "agent" in listed.output


def test_audit_accepts_every_kind_the_project_writes_before_any_event(tmp_path: Path) -> None:
    state = _state(tmp_path)
    for kind in AuditKind:
        result = CliRunner().invoke(main, ["--state-dir", state, "audit", "--kind", kind.value])
        assert result.exit_code == 0, (kind, result.output)
        assert result.output == f"no audit events in {state}\n"
    typo = CliRunner().invoke(main, ["--state-dir", state, "audit", "--kind", "recovry"])
    assert typo.exit_code == 2
    assert "breaker, config, control, corruption, health, recovery" in typo.output


def test_config_check_prints_the_state_dir_given(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "state"\n')
    elsewhere = tmp_path / "elsewhere"
    args = ["config", "check", str(config)]
    checked = CliRunner().invoke(main, [*args, "--state-dir", str(elsewhere)])
    assert checked.exit_code == 0, checked.output
    assert (
        f"  storage:    {elsewhere} (durable; --state-dir overrides {tmp_path / 'state'})\n"
        in checked.output
    )
    plain = CliRunner().invoke(main, args)
    assert f"  storage:    {tmp_path / 'state'} (durable)\n" in plain.output


def test_session_verbs_without_a_daemon_refuse_unknown_sessions(tmp_path: Path) -> None:
    state = _state(tmp_path)
    for verb in ("pause", "resume", "forget"):
        result = CliRunner().invoke(main, ["--state-dir", state, "sessions", verb, "nosuch"])
        assert result.exit_code == 1, (verb, result.output)
        assert "nosuch" in result.output
        assert "agent" in result.output, result.output  # the known one is named
    paused = CliRunner().invoke(main, ["--state-dir", state, "sessions", "pause", "agent"])
    assert paused.exit_code == 0, paused.output
    resumed = CliRunner().invoke(main, ["--state-dir", state, "sessions", "resume", "agent"])
    assert resumed.output == "session 'agent' resumed\n"
    again = CliRunner().invoke(main, ["--state-dir", state, "sessions", "resume", "agent"])
    assert again.exit_code == 1
    assert again.output == "yesman-recovery: session 'agent' is not paused; paused: none\n"
