"""Program allowlist, and agents restarted on their own conversation (never the newest file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.agents.binding import Binding, Source
from yesman_recovery.agents.claude import project_dir
from yesman_recovery.agents.resumes import Why
from yesman_recovery.tmux.policy import ProgramPolicy
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


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _transcripts(cwd: str, *ids: str) -> None:
    folder = project_dir(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    for conv in ids:
        (folder / f"{conv}.jsonl").write_text("{}\n")


def test_a_bound_claude_resumes_its_own_conversation_not_the_newest(home: Path) -> None:
    _transcripts("/w", OLD, NEW)  # NEW is newer: it is another pane's
    policy = ProgramPolicy()
    bound = Binding("claude", OLD, Source.HOOK)
    pane = PaneSnapshot(0, cwd="/w", argv=("claude", "--model", "opus", "-c"), agent=bound)
    assert policy.command_for(pane) == ["claude", "--model", "opus", "--resume", OLD]
    start = policy.agent_start(pane)
    assert start is not None
    assert start.why is Why.OWN
    assert start.resumes == bound


def test_an_unbound_or_gone_claude_starts_fresh_on_an_id_chosen_here(home: Path) -> None:
    _transcripts("/w", NEW)
    policy = ProgramPolicy()
    unknown = PaneSnapshot(0, cwd="/w", argv=("claude", "-c", "--verbose"))
    argv = policy.command_for(unknown)
    assert argv is not None
    assert argv[:3] == ["claude", "--verbose", "--session-id"]
    assert argv[3] != NEW
    assert "-c" not in argv
    gone = PaneSnapshot(0, cwd="/w", argv=("claude",), agent=Binding("claude", OLD, Source.HOOK))
    start = policy.agent_start(gone)
    assert start is not None
    assert start.why is Why.GONE
    assert start.resumes is None
    assert "--resume" not in start.argv


def test_policy_restarts_only_allowlisted_non_shell_programs(home: Path) -> None:
    _transcripts("/w", NEW)
    policy = ProgramPolicy()
    assert policy.command_for(PaneSnapshot(0, argv=("-zsh",))) is None
    assert policy.command_for(PaneSnapshot(0, argv=("gcc", "-c", "a.c"))) is None
    assert policy.command_for(PaneSnapshot(0, argv=("nvim", "a.py"))) == ["nvim", "a.py"]
    assert policy.command_for(PaneSnapshot(0)) is None
    assert policy.agent_start(PaneSnapshot(0, argv=("nvim", "a.py"))) is None
    # back at its shell: the command it was started with comes back, on its conversation
    bound = Binding("claude", NEW, Source.COMMAND_LINE)
    at_shell = PaneSnapshot(0, cwd="/w", argv=("bash",), command=("claude",), agent=bound)
    assert policy.is_shell(at_shell.argv)
    assert policy.command_for(at_shell) == ["claude", "--resume", NEW]
    dead = PaneSnapshot(0, cwd="/w", dead=True, command=("claude", "-c"), agent=bound)
    assert policy.command_for(dead) == ["claude", "--resume", NEW]
    assert policy.program_of(PaneSnapshot(0, cwd="/w")) is None
    narrow = ProgramPolicy.from_names(frozenset({"sleep", "bash"}))
    assert narrow.command_for(PaneSnapshot(0, argv=("sleep", "9"))) == ["sleep", "9"]
    assert narrow.command_for(PaneSnapshot(0, argv=("bash",))) is None


def test_an_agent_run_as_a_script_of_another_name_comes_back_by_the_agents_name() -> None:
    gemini = ("node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js", "-y")
    assert program_name(gemini) == "index"
    assert ProgramPolicy().command_for(PaneSnapshot(0, cwd="/w", argv=gemini)) == list(gemini)
    assert (
        ProgramPolicy().command_for(PaneSnapshot(0, cwd="/w", argv=("node", "/srv/index.js")))
        is None
    )
