"""Program allowlist and restart strategies (Claude Code resumes its newest conversation)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yesman_recovery.tmux.policy import (
    ClaudeResume,
    ProgramPolicy,
    claude_project_dir,
    newest_conversation,
)
from yesman_recovery.tmux.programs import program_name
from yesman_recovery.tmux.records import PaneSnapshot

OLD = "0b9d7a8e-1111-2222-3333-444455556666"
NEW = "5f1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff"


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["-bash"], "bash"),
        (["/usr/bin/vim", "x"], "vim"),
        (["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "-c"], "claude"),
        (["python3.12", "-u", "/opt/aider/aider.py"], "aider"),
        (["node"], "node"),
        ([], ""),
    ],
)
def test_program_name(argv: list[str], name: str) -> None:
    assert program_name(argv) == name


def _conversations(home: Path, cwd: str, *ids: str) -> None:
    folder = claude_project_dir(cwd, home)
    folder.mkdir(parents=True)
    for age, conv in enumerate(reversed(ids)):
        path = folder / f"{conv}.jsonl"
        path.write_text("{}\n")
        os.utime(path, ns=(1_000_000_000 * (10 - age), 1_000_000_000 * (10 - age)))


def test_claude_project_dir_replaces_every_non_alphanumeric(tmp_path: Path) -> None:
    assert claude_project_dir("/home/u/my_proj.v2", tmp_path).name == "-home-u-my-proj-v2"


def test_claude_resumes_the_newest_conversation_without_old_resume_flags(tmp_path: Path) -> None:
    _conversations(tmp_path, "/work/app", OLD, NEW)
    strategy = ClaudeResume(home=tmp_path)
    argv = ["claude", "--model", "opus", "--resume", OLD, "-c", "--dangerously-skip-permissions"]
    assert strategy(argv, "/work/app") == [
        "claude", "--model", "opus", "--dangerously-skip-permissions", "--resume", NEW,
    ]  # fmt: skip
    node = ["node", "/x/claude-code/cli.js", "--resume=abc", "-r", "--verbose"]
    assert strategy(node, "/work/app") == [
        "node", "/x/claude-code/cli.js", "--verbose", "--resume", NEW,
    ]  # fmt: skip


def test_claude_without_a_conversation_keeps_its_argv(tmp_path: Path) -> None:
    strategy = ClaudeResume(home=tmp_path)
    assert strategy(["claude", "-c"], "/nowhere") == ["claude", "-c"]
    assert strategy(["claude"], None) == ["claude"]
    claude_project_dir("/empty", tmp_path).mkdir(parents=True)
    assert newest_conversation("/empty", tmp_path) is None


def test_policy_restarts_only_allowlisted_non_shell_programs(tmp_path: Path) -> None:
    _conversations(tmp_path, "/w", NEW)
    policy = ProgramPolicy(strategies={"claude": ClaudeResume(home=tmp_path)})
    pane = PaneSnapshot(0, cwd="/w")
    assert policy.command_for(PaneSnapshot(0, argv=("-zsh",))) is None
    assert policy.command_for(PaneSnapshot(0, argv=("gcc", "-c", "a.c"))) is None
    assert policy.command_for(PaneSnapshot(0, argv=("nvim", "a.py"))) == ["nvim", "a.py"]
    assert policy.command_for(PaneSnapshot(0)) is None
    # back at its shell: the command it was started with is restarted, rewritten by its strategy
    at_shell = PaneSnapshot(0, cwd="/w", argv=("bash",), command=("claude",))
    assert policy.is_shell(at_shell.argv)
    assert policy.command_for(at_shell) == ["claude", "--resume", NEW]
    dead = PaneSnapshot(0, cwd="/w", dead=True, command=("claude", "-c"))
    assert policy.command_for(dead) == ["claude", "--resume", NEW]
    assert policy.program_of(pane) is None
    narrow = ProgramPolicy.from_names(frozenset({"sleep", "bash"}))
    assert narrow.command_for(PaneSnapshot(0, argv=("sleep", "9"))) == ["sleep", "9"]
    assert narrow.command_for(PaneSnapshot(0, argv=("bash",))) is None
