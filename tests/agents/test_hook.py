"""The Claude Code hook command and its install in ~/.claude/settings.json."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yesman_recovery.agents.hook import session_start
from yesman_recovery.agents.settings import (
    BACKUP_SUFFIX,
    SettingsError,
    apply,
    installed,
    plan,
    read_settings,
    settings_path,
)
from yesman_recovery.tmux.client import TmuxClient

ID = "0b9d7a8e-1111-2222-3333-444455556666"
MINE = {"matcher": "startup", "hooks": [{"type": "command", "command": "echo mine"}]}
HOOK = "/opt/yr/bin/yesman-recovery agents hook claude-session-start"


def _options(client: TmuxClient) -> str:
    return client.run_chain(
        [("list-panes", "-a", "-F", "#{@yr_agent_conversation}|#{@yr_agent_pids}")]
    ).strip()


def _run_hook(client: TmuxClient, payload: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    socket = client.run_chain([("display-message", "-p", "#{socket_path}")]).strip()
    pane = client.run_chain([("display-message", "-p", "-t", "=s:", "#{pane_id}")]).strip()
    env = {**os.environ, "TMUX": f"{socket},1,0", "TMUX_PANE": pane}
    return subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "agents", "hook", "claude-session-start"],
        input=payload, capture_output=True, text=True, env=env, cwd=cwd, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.tmux
def test_the_hook_writes_a_valid_id_and_never_runs_a_hostile_one(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    tmux_client.run_chain([("new-session", "-d", "-s", "s")])
    hostile = json.dumps({"session_id": f"$(touch {tmp_path}/pwned)", "source": "startup"})
    result = _run_hook(tmux_client, hostile, tmp_path)
    assert result.returncode == 0  # a hook never stops the agent
    assert result.stdout == ""  # Claude Code would add stdout to the conversation
    assert not (tmp_path / "pwned").exists()
    assert _options(tmux_client) == "|"
    result = _run_hook(tmux_client, "{not json", tmp_path)
    assert result.returncode == 0
    assert _options(tmux_client) == "|"
    result = _run_hook(
        tmux_client, json.dumps({"session_id": ID.upper(), "source": "clear"}), tmp_path
    )
    conversation, pids = _options(tmux_client).split("|")
    assert conversation == ID
    assert str(os.getpid()) in pids.split()  # the hook's ancestors: the agent among them


def test_the_gemini_hook_answers_json_and_installs_in_geminis_settings(tmp_path: Path) -> None:
    out = io.StringIO()
    assert (
        session_start(io.StringIO(json.dumps({"session_id": ID})), {}, stdout=out, reply="{}") == 0
    )
    assert json.loads(out.getvalue()) == {}
    path = settings_path(tmp_path, "gemini")
    assert path == tmp_path / ".gemini" / "settings.json"
    apply(plan(path, install=True, agent="gemini"))
    [entry] = read_settings(path)["hooks"]["SessionStart"]
    assert entry["hooks"][0]["command"].endswith("agents hook gemini-session-start")


def test_the_hook_outside_tmux_does_nothing() -> None:
    err = io.StringIO()
    assert session_start(io.StringIO(json.dumps({"session_id": ID})), {}, err) == 0
    assert err.getvalue() == ""


def test_install_merges_with_the_users_hooks_and_remove_restores_them(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    original = {"model": "opus", "hooks": {"SessionStart": [MINE], "Stop": [MINE]}}
    path.write_text(json.dumps(original))
    dry = plan(path, install=True, command=HOOK)
    assert "+" in dry.diff()
    assert "claude-session-start" in dry.diff()
    assert json.loads(path.read_text()) == original  # a plan writes nothing
    backup = apply(dry)
    assert backup == path.with_name("settings.json" + BACKUP_SUFFIX)
    assert json.loads(backup.read_text()) == original
    data = read_settings(path)
    assert installed(data)
    assert data["hooks"]["SessionStart"][0] == MINE  # the user's own entry is first, untouched
    assert data["hooks"]["Stop"] == [MINE]
    assert not plan(path, install=True, command=HOOK).changes  # twice changes nothing
    apply(plan(path, install=False))
    assert json.loads(path.read_text()) == original


def test_a_settings_file_that_is_a_symlink_stays_one(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps({"model": "opus"}))
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.symlink_to(dotfiles)
    apply(plan(path, install=True, command=HOOK))
    assert path.is_symlink()
    assert installed(read_settings(dotfiles))


def test_install_into_no_file_and_remove_leave_nothing_of_ours(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    assert apply(plan(path, install=True, command=HOOK)) is None  # no file: no backup
    assert installed(read_settings(path))
    apply(plan(path, install=False))
    assert json.loads(path.read_text()) == {}


@pytest.mark.parametrize(
    "text", ["{bad", "[1, 2]", '{"hooks": []}', '{"hooks": {"SessionStart": {}}}']
)
def test_a_settings_file_that_is_not_what_claude_documents_is_refused(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    with pytest.raises(SettingsError, match=str(path)):
        plan(path, install=True, command=HOOK)
    assert path.read_text() == text


def test_agents_hook_install_exits_2_on_invalid_json(tmp_path: Path) -> None:
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text("{bad")
    result = subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "agents", "hook", "install"],
        capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)}, timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / ".claude" / "settings.json").read_text() == "{bad"
