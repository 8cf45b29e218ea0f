"""--config and --state-dir before and after the command, from the environment, and precedence."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from yesman_recovery.actors.http import StatusServer
from yesman_recovery.cli import main
from yesman_recovery.cli.common import (
    common_options,
    config_path,
    group_options,
    load_config,
    resolve_state_dir,
)


@click.group()
@group_options
def cli() -> None:
    """A group wired like ``main``, with one command that shows what it resolved."""


@cli.command()
@common_options
@click.pass_context
def show(ctx: click.Context) -> None:
    click.echo(f"config={config_path(ctx)}")
    click.echo(f"state={resolve_state_dir(ctx)}")
    click.echo(f"restarts={load_config(ctx).supervisor.max_restarts}")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, restarts in (("a", 1), ("b", 2), ("env", 3)):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'[supervisor]\nmax_restarts = {restarts}\n[storage]\npath = "{name}-st"\n')
        out[name] = path
    return out


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    result = CliRunner().invoke(cli, args, env=env or {})
    pairs = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    return result.exit_code, pairs


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("YESMAN_RECOVERY_CONFIG", raising=False)
    monkeypatch.delenv("YESMAN_RECOVERY_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def test_config_before_the_command(files: dict[str, Path]) -> None:
    code, out = run(["--config", str(files["a"]), "show"])
    assert code == 0
    assert out["restarts"] == "1"


def test_config_after_the_command(files: dict[str, Path]) -> None:
    code, out = run(["show", "-c", str(files["b"])])
    assert code == 0
    assert out["restarts"] == "2"


def test_after_the_command_wins_over_before(files: dict[str, Path]) -> None:
    _, out = run(["--config", str(files["a"]), "show", "--config", str(files["b"])])
    assert out["restarts"] == "2"


def test_environment_variables_apply_when_no_option_is_given(
    files: dict[str, Path], tmp_path: Path
) -> None:
    env = {"YESMAN_RECOVERY_CONFIG": str(files["env"]), "YESMAN_RECOVERY_STATE_DIR": "/srv/st"}
    _, out = run(["show"], env=env)
    assert (out["restarts"], out["state"]) == ("3", "/srv/st")
    _, out = run(["--config", str(files["a"]), "show"], env=env)
    assert out["restarts"] == "1", "an option beats the environment"
    _, out = run(["show", "--state-dir", str(tmp_path / "x")], env=env)
    assert out["state"] == str(tmp_path / "x")


def test_state_dir_precedence(files: dict[str, Path], tmp_path: Path) -> None:
    _, out = run(["show"])
    assert out["state"] == str(tmp_path / "xdg" / "yesman-recovery"), "built-in default"
    _, out = run(["show", "--config", str(files["a"])])
    assert out["state"] == str(tmp_path / "a-st"), "the config's [storage] path"
    _, out = run(["--state-dir", str(tmp_path / "g"), "show", "--config", str(files["a"])])
    assert out["state"] == str(tmp_path / "g"), "--state-dir beats the config"
    _, out = run(["--state-dir", str(tmp_path / "g"), "show", "--state-dir", str(tmp_path / "c")])
    assert out["state"] == str(tmp_path / "c")


def test_a_bad_config_exits_2_with_the_key_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[supervisor]\nmax_restarts = -1\n")
    result = CliRunner().invoke(cli, ["show", "--config", str(bad)])
    assert result.exit_code == 2
    assert "supervisor.max_restarts = -1" in result.output
    assert "Traceback" not in result.output


def test_the_real_cli_takes_config_before_and_after_a_command(
    status_endpoint: StatusServer, tmp_path: Path
) -> None:
    host, port = status_endpoint.address
    good = tmp_path / "good.toml"
    good.write_text(f'[metrics]\nlisten = "{host}:{port}"\n')
    for args in (["--config", str(good), "status"], ["status", "--config", str(good)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "sessions" in result.output
    result = CliRunner().invoke(main, ["status"], env={"YESMAN_RECOVERY_CONFIG": str(good)})
    assert result.exit_code == 0, result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "yesman-recovery, version 0.1.0"
