"""``yesman-recovery service install``: the unit it prints and writes, checked by systemd itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.cli import main
from yesman_recovery.cli.service_cmd import quote


def unit_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_print_writes_nothing_and_shows_a_notify_unit_with_watchdog_and_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    config = tmp_path / "my config.toml"
    config.write_text("")
    result = CliRunner().invoke(
        main, ["service", "install", "--user", "--print", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    unit = unit_lines(result.output)
    assert unit["Type"] == "notify"
    assert unit["WatchdogSec"] == "30"
    assert unit["Restart"] == "on-failure"
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["WantedBy"] == "default.target"
    assert "User" not in unit, "a user unit runs as its user"
    assert unit["ExecStart"].endswith(f'--config "{config}" run')
    assert not (tmp_path / "cfg").exists()


def test_a_system_unit_runs_as_the_invoking_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    result = CliRunner().invoke(main, ["service", "install", "--print", "--watchdog", "60"])
    unit = unit_lines(result.output)
    assert unit["User"] == "alice"
    assert unit["WantedBy"] == "multi-user.target"
    assert unit["WatchdogSec"] == "60"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verify_accepts_the_printed_unit(tmp_path: Path) -> None:
    # The installed entry point, as a user runs it (ExecStart must name an executable).
    script = Path(sys.executable).parent / "yesman-recovery"
    printed = subprocess.run(
        [str(script), "--state-dir", str(tmp_path / "st"), "service", "install", "--print"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    unit = tmp_path / "yesman-recovery.service"
    unit.write_text(printed.stdout)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    ours = [line for line in verify.stderr.splitlines() if str(unit) in line]
    assert ours == [], "systemd found nothing to complain about in our unit"
    assert f"ExecStart={script} --state-dir {tmp_path / 'st'} run" in printed.stdout


def test_install_writes_the_user_unit_once_and_says_how_to_enable_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = tmp_path / "cfg" / "systemd" / "user" / "yesman-recovery.service"
    first = CliRunner().invoke(main, ["service", "install", "--user"])
    assert first.exit_code == 0, first.output
    assert f"wrote {path}" in first.output
    assert "systemctl --user daemon-reload && systemctl --user enable --now yesman-recovery" in (
        first.output
    )
    assert "loginctl enable-linger" in first.output
    assert "Type=notify" in path.read_text()
    again = CliRunner().invoke(main, ["service", "install", "--user"])
    assert "already up to date" in again.output
    path.write_text(path.read_text() + "# edited\n")
    refused = CliRunner().invoke(main, ["service", "install", "--user"])
    assert refused.exit_code == 1
    assert "exists and differs" in refused.output
    assert "# edited" in path.read_text()
    forced = CliRunner().invoke(main, ["service", "install", "--user", "--force"])
    assert forced.exit_code == 0
    assert "# edited" not in path.read_text()


def test_exec_start_words_are_escaped_as_systemd_reads_them() -> None:
    assert quote("/usr/bin/yesman-recovery") == "/usr/bin/yesman-recovery"
    assert quote("/home/a b/c.toml") == '"/home/a b/c.toml"'
    assert quote("/srv/100%/$HOME") == '"/srv/100%%/$$HOME"'
    assert quote('say "hi"') == '"say \\"hi\\""'


def test_the_unit_carries_the_socket_path_and_tmux_tmpdir_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path / "tmux 100%"))
    config = tmp_path / "config.toml"
    config.write_text('[tmux]\nsocket_name = "agents"\n')
    args = ["service", "install", "--user", "--config", str(config)]
    printed = CliRunner().invoke(main, [*args, "--print"])
    assert printed.exit_code == 0, printed.output
    socket = tmp_path / "tmux 100%" / f"tmux-{os.geteuid()}" / "agents"
    assert f"# watches the tmux server -L agents ({socket})" in printed.output
    assert unit_lines(printed.output)["KillMode"] == "mixed"
    assert f'Environment="TMUX_TMPDIR={tmp_path}/tmux 100%%"' in printed.output
    assert f"Environment=PATH={os.environ['PATH']}\n" in printed.output
    wrote = CliRunner().invoke(main, args)
    assert wrote.exit_code == 0, wrote.output
    assert f"  tmux server  -L agents ({socket})\n" in wrote.output
    assert f"  TMUX_TMPDIR  {tmp_path}/tmux 100%\n" in wrote.output
    assert f"  tmux         {shutil.which('tmux')}\n" in wrote.output
    assert "  tmux servers it starts: in " in wrote.output


@pytest.mark.parametrize("obstacle", ["directory at the unit", "file at its folder"])
def test_a_unit_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, obstacle: str
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    folder = tmp_path / "cfg" / "systemd" / "user"
    if obstacle == "directory at the unit":
        (folder / "yesman-recovery.service").mkdir(parents=True)
    else:
        folder.parent.mkdir(parents=True)
        folder.write_text("")
    result = CliRunner().invoke(main, ["service", "install", "--user", "--force"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("yesman-recovery: cannot ")
    assert str(folder) in lines[0]
