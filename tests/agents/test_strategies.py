"""Each agent CLI's strategy: recognised through interpreters, ids read, resume argv built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yesman_recovery.agents.base import Agent
from yesman_recovery.agents.binding import Binding, Source
from yesman_recovery.agents.claude import project_dir
from yesman_recovery.agents.codex import rollout_id
from yesman_recovery.agents.registry import (
    DEFAULT_AGENTS,
    AgentPane,
    bind_panes,
)

ID = "0b9d7a8e-1111-2222-3333-444455556666"
ID2 = "5f1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff"
CLAUDE_JS = "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"


def agent(argv: list[str]) -> Agent:
    found = DEFAULT_AGENTS.agent_for(argv)
    assert found is not None, argv
    return found


@pytest.mark.parametrize(
    ("argv", "name", "on_line", "resumed", "fresh_head"),
    [
        (["claude", "-c", "--model", "opus"], "claude", None,
         ["claude", "--model", "opus", "--resume", ID], ["claude", "--model", "opus"]),
        (["node", CLAUDE_JS, "--resume", ID2, "--fork-session"], "claude", ID2,
         ["node", CLAUDE_JS, "--resume", ID], ["node", CLAUDE_JS]),
        (["claude", f"--session-id={ID2}"], "claude", ID2, ["claude", "--resume", ID], ["claude"]),
        (["codex", "resume", "--last", "-m", "o3"], "codex", None,
         ["codex", "resume", ID, "-m", "o3"], ["codex", "-m", "o3"]),
        (["codex", "resume", ID2], "codex", ID2, ["codex", "resume", ID], ["codex"]),
        (["node", "/x/node_modules/@openai/codex/bin/codex.js", "--full-auto"], "codex", None,
         ["node", "/x/node_modules/@openai/codex/bin/codex.js", "resume", ID, "--full-auto"],
         ["node", "/x/node_modules/@openai/codex/bin/codex.js", "--full-auto"]),
        (["gemini", "-r", "latest", "-y"], "gemini", None, ["gemini", "-y", "--resume", ID],
         ["gemini", "-y"]),
        (["node", "/x/@google/gemini-cli/dist/index.js", "--resume", ID2], "gemini", ID2,
         ["node", "/x/@google/gemini-cli/dist/index.js", "--resume", ID],
         ["node", "/x/@google/gemini-cli/dist/index.js"]),
        (["qwen", "-c"], "qwen", None, ["qwen", "--resume", ID], ["qwen"]),
        (["opencode", "-s", "ses_1a2B", "--model", "x/y"], "opencode", "ses_1a2B",
         ["opencode", "--model", "x/y", "--session", ID], ["opencode", "--model", "x/y"]),
        (["cursor-agent", "resume"], "cursor-agent", None, ["cursor-agent", "--resume", ID],
         ["cursor-agent"]),
        (["goose", "session", "-r", "--session-id", "20251108_1"], "goose", "20251108_1",
         ["goose", "session", "--resume", "--session-id", ID], ["goose", "session"]),
        (["aider", "--model", "sonnet"], "aider", None,
         ["aider", "--model", "sonnet", "--restore-chat-history"], ["aider", "--model", "sonnet"]),
    ],
)  # fmt: skip
def test_each_cli_resumes_with_its_own_flags_keeping_the_users(
    argv: list[str], name: str, on_line: str | None, resumed: list[str], fresh_head: list[str]
) -> None:
    strategy = agent(argv)
    assert strategy.name == name
    assert strategy.conversation_in(argv, "/w") == on_line
    assert strategy.resume(argv, ID) == resumed
    fresh = strategy.fresh(argv)
    assert fresh[: len(fresh_head)] == fresh_head
    if name == "claude":  # a fresh Claude gets an id chosen here, never with --continue
        assert fresh[len(fresh_head)] == "--session-id"
        assert "-c" not in fresh
        assert strategy.conversation_in(fresh, "/w") == fresh[-1] != ID2
    else:
        assert fresh == fresh_head


def test_programs_that_are_no_agent_or_not_interactive_are_not_recognised() -> None:
    for argv in (["vim"], ["goose", "run", "-t", "x"], ["node", "server.js"], ["agent"], []):
        assert DEFAULT_AGENTS.agent_for(argv) is None


def test_an_id_that_looks_like_a_shell_payload_is_no_id() -> None:
    hostile = "$(touch x)"
    for argv in (
        ["claude", "--resume", hostile],
        ["opencode", "-s", hostile],
        ["codex", "resume", hostile],
        ["goose", "session", "--session-id", hostile],
    ):
        assert agent(argv).conversation_in(argv, "/w") is None
    assert Binding.from_dict({"agent": "claude", "id": hostile, "source": "hook"}) is None


def test_claude_conversation_exists_only_in_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = project_dir("/w/my_app")
    assert folder.name == "-w-my-app"
    folder.mkdir(parents=True)
    (folder / f"{ID}.jsonl").write_text("{}\n")
    claude = agent(["claude"])
    assert claude.exists(ID, "/w/my_app")
    assert not claude.exists(ID, "/w/other")
    assert not claude.exists(ID2, "/w/my_app")


def test_a_codex_rollout_is_read_from_its_first_line_or_its_name(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "12" / "06"
    day.mkdir(parents=True)
    whole = day / f"rollout-2026-12-06T10-00-00-{ID}.jsonl"
    whole.write_text(json.dumps({"type": "session_meta", "payload": {"id": ID2}}) + "\n")
    assert rollout_id(str(whole)) == ID2
    truncated = day / f"rollout-2026-12-06T10-00-01-{ID}.jsonl"
    truncated.write_text('{"type":"session_me')
    assert rollout_id(str(truncated)) == ID
    assert rollout_id(str(tmp_path / "notes.jsonl")) is None


def test_codex_is_bound_by_the_rollout_its_process_holds_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    day = tmp_path / "sessions" / "2026" / "12" / "06"
    day.mkdir(parents=True)
    rollout = day / f"rollout-2026-12-06T10-00-00-{ID}.jsonl"
    rollout.write_text(json.dumps({"type": "session_meta", "payload": {"id": ID}}) + "\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys,time; f=open(sys.argv[1]); time.sleep(30)", str(rollout)]
    )
    try:
        pane = AgentPane("%1", ("codex",), "/w", (os.getpid(), holder.pid))
        for _ in range(100):
            if any(os.readlink(f"/proc/{holder.pid}/fd/{fd}") == str(rollout)
                   for fd in os.listdir(f"/proc/{holder.pid}/fd")):  # fmt: skip
                break
            subprocess.run(["sleep", "0.02"], check=True)
        assert bind_panes([pane]) == {"%1": Binding("codex", ID, Source.OPEN_FILE)}
        assert agent(["codex"]).exists(ID, None)
    finally:
        holder.kill()
        holder.wait()


def test_a_hook_binding_counts_only_for_the_process_that_ran_the_hook() -> None:
    mine = AgentPane("%1", ("claude",), "/w", (101,), ID, frozenset({55, 101}))
    stale = AgentPane("%2", ("claude", "--resume", ID2), "/w", (202,), ID, frozenset({101}))
    assert bind_panes([mine, stale]) == {
        "%1": Binding("claude", ID, Source.HOOK),
        "%2": Binding("claude", ID2, Source.COMMAND_LINE),
    }


def test_two_panes_never_share_a_conversation() -> None:
    first = AgentPane("%1", ("claude",), "/w", (os.getpid(),), ID, frozenset({os.getpid()}))
    typed = AgentPane("%2", ("claude", "--resume", ID), "/w", (os.getppid(),))
    assert bind_panes([first, typed]) == {"%1": Binding("claude", ID, Source.HOOK)}


def test_a_pane_option_that_is_no_uuid_is_never_a_binding() -> None:
    hostile = AgentPane("%1", ("claude",), "/w", (101,), "$(touch x)", frozenset({101}))
    assert bind_panes([hostile]) == {}


def test_two_claudes_a_spec_declares_start_on_two_new_conversations() -> None:
    from yesman_recovery.tmux.plan import plan_restore
    from yesman_recovery.tmux.policy import ProgramPolicy
    from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

    spec = SessionSnapshot(
        "s", (WindowSnapshot(0, "w", (PaneSnapshot(0, command=("claude",)),
                                       PaneSnapshot(1, command=("claude",)))),),
    )  # fmt: skip
    plan = plan_restore(spec, ProgramPolicy())
    ids = {agent(list(p.argv)).conversation_in(p.argv, None) for p in plan.programs}
    assert len(ids) == 2
    assert None not in ids
