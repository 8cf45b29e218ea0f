"""The command line imports only what a command needs; --help and completion still see all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from yesman_recovery.cli import COMMANDS, main
from yesman_recovery.cli.lazy import LazyGroup

HEAVY = ("pykka", "lmdb", "libtmux", "tmuxp", "pydantic", "prometheus_client", "rich", "psutil")

PROBE = """
import sys
from yesman_recovery.cli import main
try:
    main(sys.argv[1:], prog_name="yesman-recovery")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[0].split(",")))
print("LOADED=" + ",".join(heavy))
"""


def loaded(*args: str, tmp_path: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace("sys.argv[0]", repr(",".join(HEAVY))), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    line = [x for x in result.stdout.splitlines() if x.startswith("LOADED=")][-1]
    return set(filter(None, line.removeprefix("LOADED=").split(",")))


def test_version_imports_no_heavy_library(tmp_path: Path) -> None:
    assert loaded("--version", tmp_path=tmp_path) == set()


def test_readers_do_not_load_the_supervision_tree_or_tmux(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    used = loaded("--state-dir", str(state), "checkpoints", "list", "--json", tmp_path=tmp_path)
    assert not used & {"libtmux", "tmuxp", "rich", "pydantic"}, used
    assert not loaded("completion", "bash", tmp_path=tmp_path) & {"lmdb", "libtmux", "pydantic"}


def test_help_lists_every_command_with_its_short_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output, name
    assert "Run the daemon in the foreground" in result.output
    assert "Stored checkpoints" in result.output


def test_adding_a_command_is_one_mapping_entry() -> None:
    group = LazyGroup(name="g", lazy={"run": "yesman_recovery.cli.run_cmd:run"})
    group.add_lazy("status", "yesman_recovery.cli.status_cmd:status")
    ctx = click.Context(group)
    assert group.list_commands(ctx) == ["run", "status"]
    command = group.get_command(ctx, "status")
    assert isinstance(command, click.Command)
    assert command.name == "status"
    assert group.get_command(ctx, "nope") is None
    with pytest.raises(ValueError, match="not 'module:attribute'"):
        group.add_lazy("bad", "yesman_recovery.cli.run_cmd.run")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash missing")
def test_bash_completion_script_registers_and_completes_commands(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "yesman-recovery"
    env = {**os.environ, "PATH": f"{script.parent}:{os.environ['PATH']}"}
    shell = (
        "source <(yesman-recovery completion bash) && complete -p yesman-recovery && "
        "COMP_WORDS=(yesman-recovery chec); COMP_CWORD=1; "
        "_yesman_recovery_completion yesman-recovery && "
        'echo "got: ${COMPREPLY[*]}"'
    )
    result = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "complete -o nosort -F _yesman_recovery_completion yesman-recovery" in result.stdout
    assert "got: checkpoints" in result.stdout


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_the_program(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0
    assert "_YESMAN_RECOVERY_COMPLETE" in result.output
    assert f"{shell}_complete" in result.output
